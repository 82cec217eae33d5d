/// Serves batches of training sequences in a seeded, reproducible order.
///
/// Each epoch visits every sequence once, in a permutation derived from `seed` and the epoch
/// number alone, so any `position` can be restored exactly after a restart. Batches run on
/// across epoch boundaries: a batch may end one epoch and begin the next.
///
/// With `groupSize` g > 1 the source's sequences form groups of g consecutive ones (a DPO pair:
/// chosen, rejected) that are permuted as units and always served together, in order: a batch
/// holds `batchSize` groups, `batchSize`·g sequences.
public final class BatchLoader {
    /// Where the next group comes from: the `index`-th entry of epoch `epoch`'s permutation.
    /// Saved in `training_state.json` to resume a run exactly.
    public struct Position: Codable, Equatable, Sendable {
        public var epoch: Int
        public var index: Int

        public init(epoch: Int, index: Int) {
            self.epoch = epoch
            self.index = index
        }
    }

    /// The sequences served: built in memory or read from shards as they are needed.
    public let source: any SequenceSource
    /// Groups per batch.
    public let batchSize: Int // B
    /// Consecutive sequences served together (1: each sequence on its own).
    public let groupSize: Int // g
    public let seqLen: Int // T
    public let seed: UInt64
    public let shuffle: Bool
    public let ignoreIndex: Int32
    /// The current epoch's permutation of the groups, 4 bytes each (nil when not shuffling: the identity).
    private var order: [UInt32]? // (N / g)
    private var current: Position

    /// - Parameters:
    ///   - source: sequences of one length (an array of built sequences is a source); may be empty
    ///     only if `next()` is never called.
    ///   - shuffle: `false` visits sequences in order every epoch.
    ///   - ignoreIndex: the target value `predictedTokenCount` leaves out.
    ///   - groupSize: sequences per group; the source's count must be a multiple of it.
    public init(source: any SequenceSource, batchSize: Int, seed: UInt64, shuffle: Bool = true,
                ignoreIndex: Int32 = -100, groupSize: Int = 1) {
        precondition(batchSize > 0, "batchSize must be positive")
        precondition(groupSize > 0 && source.count % groupSize == 0, "the sequence count must be a multiple of groupSize")
        precondition(source.count <= Int(UInt32.max), "at most \(UInt32.max) sequences")
        self.source = source
        self.batchSize = batchSize
        self.groupSize = groupSize
        self.seqLen = source.seqLen
        self.seed = seed
        self.shuffle = shuffle
        self.ignoreIndex = ignoreIndex
        self.current = Position(epoch: 0, index: 0)
        self.order = nil
        self.order = permutation(epoch: 0)
    }

    /// Built sequences, all of equal length.
    public convenience init(sequences: [TokenSequence], batchSize: Int, seed: UInt64, shuffle: Bool = true,
                            ignoreIndex: Int32 = -100) {
        precondition(sequences.allSatisfy { $0.tokens.count == sequences.seqLen }, "all sequences must have the same length")
        self.init(source: sequences, batchSize: batchSize, seed: seed, shuffle: shuffle, ignoreIndex: ignoreIndex)
    }

    public var sequenceCount: Int { source.count }

    /// Number of groups (sequences when `groupSize` is 1).
    var groupCount: Int { source.count / groupSize }

    /// The next sequence to be served; setting it rebuilds that epoch's permutation.
    public var position: Position {
        get { current }
        set {
            precondition(newValue.epoch >= 0 && newValue.index >= 0 && newValue.index < max(groupCount, 1),
                         "position \(newValue) is outside 0..<\(groupCount)")
            if newValue.epoch != current.epoch { order = permutation(epoch: newValue.epoch) }
            current = newValue
        }
    }

    /// The next `batchSize` groups in epoch order, wrapping into the next epoch as needed.
    public func next() -> TokenBatch {
        precondition(!source.isEmpty, "BatchLoader has no sequences")
        var picked: [TokenSequence] = []
        picked.reserveCapacity(batchSize * groupSize)
        for _ in 0..<batchSize {
            let group = order.map { Int($0[current.index]) } ?? current.index
            for member in 0..<groupSize { picked.append(source.sequence(at: group * groupSize + member)) }
            advance()
        }
        return TokenBatch(picked, seqLen: seqLen, ignoreIndex: ignoreIndex)
    }

    /// Moves past the next `count` groups without reading them: where `count` groups' worth of
    /// `next()` would have gone (another rank's share of a global batch).
    public func skip(_ count: Int) {
        precondition(!source.isEmpty, "BatchLoader has no sequences")
        for _ in 0..<count { advance() }
    }

    private func advance() {
        current.index += 1
        if current.index == groupCount {
            current = Position(epoch: current.epoch + 1, index: 0)
            order = permutation(epoch: current.epoch)
        }
    }

    /// Evaluation batches: sequences in their given order, no shuffling, at most `limit` batches of
    /// `batchSize` groups; the last batch holds the remainder (its `batchSize` is smaller). Built as
    /// they are read. Leaves `position` alone.
    public func batches(limit: Int? = nil) -> TokenBatches {
        let all = TokenBatches(source: source, batchSize: batchSize * groupSize, ignoreIndex: ignoreIndex)
        return all.prefix(max(limit ?? .max, 0))
    }

    /// Epoch `epoch`'s order: a function of `seed` and `epoch` only.
    private func permutation(epoch: Int) -> [UInt32]? {
        guard shuffle else { return nil }
        var rng = SplitMix64(seed: seed ^ SplitMix64.mix(UInt64(epoch) &+ SplitMix64.golden))
        return rng.compactPermutation(groupCount)
    }
}
