/// Turns text into token ids and back.
///
/// Implementations: `ByteTokenizer` (the zero-setup default), `SentencePieceTokenizer` (a
/// SentencePiece `.model` file) and `HuggingFaceTokenizer` (a Hugging Face `tokenizer.json`);
/// `TokenizerLoader.load(path:)` picks one from a `--tokenizer` argument.
///
/// Special tokens follow the reference libraries' defaults: `encode(text)` means
/// `encode(text, addSpecialTokens: true)`, which adds what the tokenizer's own convention adds
/// (T5 appends `</s>`, LLaMA prepends `<s>`, GPT-2 adds nothing, the byte tokenizer appends its
/// EOS). `SequenceBuilder` relies on this and adds no EOS of its own in document mode.
public protocol Tokenizer {
    /// Number of ids; every id is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// Id used to right-pad sequences; padded positions are never predicted.
    var padId: Int32 { get }
    /// End-of-sequence id, if the tokenizer has one.
    var eosId: Int32? { get }
    /// Beginning-of-sequence id, if the tokenizer has one.
    var bosId: Int32? { get }
    /// Id for unknown input, if the tokenizer has one.
    var unkId: Int32? { get }
    /// Short name recorded in run and checkpoint metadata (e.g. `"byte"`).
    var name: String { get }
    /// A stable hex hash of the bytes that define the tokenizer (FNV-1a 64 of its file), recorded
    /// in token shards so data tokenized with another tokenizer is recognised.
    var fingerprint: String { get }
    /// The ids of `text`; with `addSpecialTokens`, the special tokens the tokenizer's convention
    /// adds around a text (see the type's documentation).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int32]
    /// The text of `ids`, skipping special tokens.
    func decode(_ ids: [Int32]) -> String
}

extension Tokenizer {
    /// The ids of `text` with the tokenizer's default special tokens (`addSpecialTokens: true`),
    /// as the reference libraries do by default.
    public func encode(_ text: String) -> [Int32] {
        encode(text, addSpecialTokens: true)
    }

    /// The text `continuation` adds after `prefix`: `decode(prefix + continuation)` past
    /// `decode(prefix)`. Decoding the continuation alone would lose what depends on what comes
    /// before, such as the space a SentencePiece word piece (`▁or`) stands for at its start.
    public func decode(_ continuation: [Int32], after prefix: [Int32]) -> String {
        let head = decode(prefix).unicodeScalars, whole = decode(prefix + continuation).unicodeScalars
        guard whole.starts(with: head) else { return decode(continuation) }
        return String(String.UnicodeScalarView(whole.dropFirst(head.count)))
    }
}

/// FNV-1a 64-bit hash of `bytes` as 16 lowercase hex digits; the tokenizers' `fingerprint`.
public func fnv1a64Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}
