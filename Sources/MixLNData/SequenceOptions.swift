/// How documents become fixed-length training sequences.
public struct SequenceOptions: Codable, Equatable, Sendable {
    /// Tokens per sequence (T). The official Mix-LN runs use 256.
    public var seqLen: Int
    /// `false` (the official recipe): one sequence per document, truncated and right-padded.
    /// `true`: all documents concatenated with EOS and cut into windows of `seqLen`, so no
    /// position is padding except at the very end.
    public var packing: Bool
    /// Target value of positions that predict nothing; PyTorch's cross-entropy default.
    public var ignoreIndex: Int32

    public init(seqLen: Int, packing: Bool = false, ignoreIndex: Int32 = -100) {
        self.seqLen = seqLen
        self.packing = packing
        self.ignoreIndex = ignoreIndex
    }

    enum CodingKeys: String, CodingKey {
        case seqLen = "seq_len"
        case packing
        case ignoreIndex = "ignore_index"
    }
}
