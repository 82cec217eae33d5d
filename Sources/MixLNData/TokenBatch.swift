/// A batch of B sequences of T tokens, flattened row-major.
public struct TokenBatch: Equatable, Sendable {
    public let batchSize: Int // B
    public let seqLen: Int // T
    /// Input ids.
    public var tokens: [Int32] // (B, T)
    /// Next-token ids; the ignore index where nothing is predicted.
    public var targets: [Int32] // (B, T)
    /// Number of targets that are not the ignore index: the loss is their mean.
    public var predictedTokenCount: Int

    public init(batchSize: Int, seqLen: Int, tokens: [Int32], targets: [Int32], predictedTokenCount: Int) {
        precondition(tokens.count == batchSize * seqLen && targets.count == batchSize * seqLen,
                     "tokens and targets must hold batchSize × seqLen ids")
        self.batchSize = batchSize
        self.seqLen = seqLen
        self.tokens = tokens
        self.targets = targets
        self.predictedTokenCount = predictedTokenCount
    }

    /// `TokenSequence.realLength` of each of the B sequences.
    public func realLengths(ignoreIndex: Int32 = -100) -> [Int] {
        (0..<batchSize).map { TokenSequence.realLength(targets[($0 * seqLen)..<(($0 + 1) * seqLen)], ignoreIndex: ignoreIndex) }
    }

    /// The batch cut to its longest sequence: `seqLen` becomes the largest `realLength`, dropping
    /// padding columns that no sequence needs. A causal model's loss, and every real position's
    /// activations, are unchanged (padding is ignored by the loss and never attended to from an
    /// earlier position), while the work shrinks with the padding.
    public func trimmedToLongest(ignoreIndex: Int32 = -100) -> TokenBatch {
        let longest = realLengths(ignoreIndex: ignoreIndex).max() ?? seqLen
        guard longest < seqLen else { return self }
        var tokens: [Int32] = [], targets: [Int32] = []
        tokens.reserveCapacity(batchSize * longest)
        targets.reserveCapacity(batchSize * longest)
        for b in 0..<batchSize {
            tokens += self.tokens[(b * seqLen)..<(b * seqLen + longest)]
            targets += self.targets[(b * seqLen)..<(b * seqLen + longest)]
        }
        return TokenBatch(batchSize: batchSize, seqLen: longest, tokens: tokens, targets: targets,
                          predictedTokenCount: predictedTokenCount)
    }

    /// The batch of `sequences`, which must all have length `seqLen`.
    public init<S: Collection>(_ sequences: S, seqLen: Int, ignoreIndex: Int32 = -100) where S.Element == TokenSequence {
        var tokens: [Int32] = [], targets: [Int32] = []
        tokens.reserveCapacity(sequences.count * seqLen)
        targets.reserveCapacity(sequences.count * seqLen)
        for sequence in sequences {
            precondition(sequence.tokens.count == seqLen, "every sequence in a batch must have \(seqLen) tokens")
            tokens += sequence.tokens
            targets += sequence.targets
        }
        let predicted = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        self.init(batchSize: sequences.count, seqLen: seqLen, tokens: tokens, targets: targets,
                  predictedTokenCount: predicted)
    }
}
