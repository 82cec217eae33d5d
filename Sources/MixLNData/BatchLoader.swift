/// Serves batches of training sequences in a seeded, reproducible order.
///
/// Each epoch visits every sequence once, in a permutation derived from `seed` and the epoch
/// number alone, so any `position` can be restored exactly after a restart. Batches run on
/// across epoch boundaries: a batch may end one epoch and begin the next.
public final class BatchLoader {
    /// Where the next sequence comes from: the `index`-th entry of epoch `epoch`'s permutation.
    /// Saved in `training_state.json` to resume a run exactly.
    public struct Position: Codable, Equatable, Sendable {
        public var epoch: Int
        public var index: Int

        public init(epoch: Int, index: Int) {
            self.epoch = epoch
            self.index = index
        }
    }

    public let sequences: [TokenSequence]
    public let batchSize: Int // B
    public let seqLen: Int // T
    public let seed: UInt64
    public let shuffle: Bool
    public let ignoreIndex: Int32
    private var order: [Int] // (N) the current epoch's permutation
    private var current: Position

    /// - Parameters:
    ///   - sequences: all of equal length; may be empty only if `next()` is never called.
    ///   - shuffle: `false` visits sequences in order every epoch.
    ///   - ignoreIndex: the target value `predictedTokenCount` leaves out.
    public init(sequences: [TokenSequence], batchSize: Int, seed: UInt64, shuffle: Bool = true,
                ignoreIndex: Int32 = -100) {
        precondition(batchSize > 0, "batchSize must be positive")
        let seqLen = sequences.first?.tokens.count ?? 0
        precondition(sequences.allSatisfy { $0.tokens.count == seqLen }, "all sequences must have the same length")
        self.sequences = sequences
        self.batchSize = batchSize
        self.seqLen = seqLen
        self.seed = seed
        self.shuffle = shuffle
        self.ignoreIndex = ignoreIndex
        self.current = Position(epoch: 0, index: 0)
        self.order = []
        self.order = permutation(epoch: 0)
    }

    public var sequenceCount: Int { sequences.count }

    /// The next sequence to be served; setting it rebuilds that epoch's permutation.
    public var position: Position {
        get { current }
        set {
            precondition(newValue.epoch >= 0 && newValue.index >= 0 && newValue.index < max(sequences.count, 1),
                         "position \(newValue) is outside 0..<\(sequences.count)")
            if newValue.epoch != current.epoch { order = permutation(epoch: newValue.epoch) }
            current = newValue
        }
    }

    /// The next `batchSize` sequences in epoch order, wrapping into the next epoch as needed.
    public func next() -> TokenBatch {
        precondition(!sequences.isEmpty, "BatchLoader has no sequences")
        var picked: [TokenSequence] = []
        picked.reserveCapacity(batchSize)
        for _ in 0..<batchSize {
            picked.append(sequences[order[current.index]])
            current.index += 1
            if current.index == sequences.count {
                current = Position(epoch: current.epoch + 1, index: 0)
                order = permutation(epoch: current.epoch)
            }
        }
        return TokenBatch(picked, seqLen: seqLen, ignoreIndex: ignoreIndex)
    }

    /// Evaluation batches: sequences in their given order, no shuffling, at most `limit` batches;
    /// the last batch holds the remainder (its `batchSize` is smaller). Leaves `position` alone.
    public func batches(limit: Int? = nil) -> [TokenBatch] {
        let starts = stride(from: 0, to: sequences.count, by: batchSize).prefix(max(limit ?? .max, 0))
        return starts.map { start in
            TokenBatch(sequences[start..<min(start + batchSize, sequences.count)], seqLen: seqLen,
                       ignoreIndex: ignoreIndex)
        }
    }

    /// Epoch `epoch`'s order: a function of `seed` and `epoch` only.
    private func permutation(epoch: Int) -> [Int] {
        guard shuffle else { return Array(sequences.indices) }
        var rng = SplitMix64(seed: seed ^ SplitMix64.mix(UInt64(epoch) &+ SplitMix64.golden))
        return rng.permutation(sequences.count)
    }
}
