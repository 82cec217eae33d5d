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
    /// The ids already-tokenized (`input_ids`) documents may hold, `0..<vocabularySize`: the
    /// model's `vocab_size`, since such data needs no tokenizer. Nil: the tokenizer's vocabulary.
    /// When the tokenizer's pad id lies outside this range, sequences are padded with id 0 instead
    /// (padding is never attended to nor predicted, so any valid id will do).
    public var vocabularySize: Int?

    public init(seqLen: Int, packing: Bool = false, ignoreIndex: Int32 = -100, vocabularySize: Int? = nil) {
        self.seqLen = seqLen
        self.packing = packing
        self.ignoreIndex = ignoreIndex
        self.vocabularySize = vocabularySize
    }

    /// The bound of `input_ids` for `tokenizer`: `vocabularySize`, else the tokenizer's vocabulary.
    func idLimit(for tokenizer: any Tokenizer) -> Int { vocabularySize ?? tokenizer.vocabularySize }

    /// The id that right-pads sequences: the tokenizer's pad id when it is within `idLimit`, else 0.
    func padId(for tokenizer: any Tokenizer) -> Int32 {
        (0..<idLimit(for: tokenizer)).contains(Int(tokenizer.padId)) ? tokenizer.padId : 0
    }

    enum CodingKeys: String, CodingKey {
        case seqLen = "seq_len"
        case packing
        case ignoreIndex = "ignore_index"
        case vocabularySize = "vocab_size"
    }
}
