/// The sequences of a source in their given order, as batches of `batchSize` (the last one holds
/// the remainder), each built when it is read: evaluating a corpus never holds more than one batch.
/// A slice of it is again a `TokenBatches`.
public struct TokenBatches: RandomAccessCollection, Sendable {
    public let source: any SequenceSource
    public let batchSize: Int // B
    public let ignoreIndex: Int32
    /// Each batch cut to its longest sequence (`TokenBatch.trimmedToLongest`).
    public let trimmed: Bool
    public let startIndex: Int
    public let endIndex: Int

    public init(source: any SequenceSource, batchSize: Int, ignoreIndex: Int32 = -100, trimmed: Bool = false) {
        precondition(batchSize > 0, "batchSize must be positive")
        self.init(source: source, batchSize: batchSize, ignoreIndex: ignoreIndex, trimmed: trimmed,
                  bounds: 0..<((source.count + batchSize - 1) / batchSize))
    }

    private init(source: any SequenceSource, batchSize: Int, ignoreIndex: Int32, trimmed: Bool, bounds: Range<Int>) {
        self.source = source
        self.batchSize = batchSize
        self.ignoreIndex = ignoreIndex
        self.trimmed = trimmed
        startIndex = bounds.lowerBound
        endIndex = bounds.upperBound
    }

    /// Batch `index`: sequences `index·B ..< min((index+1)·B, N)`.
    public subscript(index: Int) -> TokenBatch {
        precondition(index >= startIndex && index < endIndex, "batch index out of range")
        let sequences = (index * batchSize..<Swift.min((index + 1) * batchSize, source.count)).map(source.sequence(at:))
        let batch = TokenBatch(sequences, seqLen: source.seqLen, ignoreIndex: ignoreIndex)
        return trimmed ? batch.trimmedToLongest(ignoreIndex: ignoreIndex) : batch
    }

    public subscript(bounds: Range<Int>) -> TokenBatches {
        precondition(bounds.lowerBound >= startIndex && bounds.upperBound <= endIndex, "batch range out of range")
        return TokenBatches(source: source, batchSize: batchSize, ignoreIndex: ignoreIndex, trimmed: trimmed, bounds: bounds)
    }

    /// The same batches, each cut to its longest sequence.
    public func trimmedToLongest() -> TokenBatches {
        TokenBatches(source: source, batchSize: batchSize, ignoreIndex: ignoreIndex, trimmed: true, bounds: startIndex..<endIndex)
    }
}
