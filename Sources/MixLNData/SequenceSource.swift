/// Training sequences by index, all `seqLen` tokens long: held in memory (an array of built
/// sequences) or read from memory-mapped token shards only when asked for (`ShardSequences`),
/// so a loader can visit a corpus larger than memory in any order.
public protocol SequenceSource: Sendable {
    /// Number of sequences (N).
    var count: Int { get }
    /// Tokens per sequence (T); 0 for an empty in-memory source.
    var seqLen: Int { get }
    /// Sequence `index`, `0..<count`; built on each call for sources that do not hold it.
    func sequence(at index: Int) -> TokenSequence
}

extension SequenceSource {
    public var isEmpty: Bool { count == 0 }
}

/// Built sequences held in memory are a source as they are.
extension Array: SequenceSource where Element == TokenSequence {
    public var seqLen: Int { first?.tokens.count ?? 0 }
    public func sequence(at index: Int) -> TokenSequence { self[index] }
}
