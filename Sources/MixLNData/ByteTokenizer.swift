/// A tokenizer whose ids are the UTF-8 bytes of the text, plus a pad and an EOS id.
///
/// Ids 0…255 are bytes, 256 is padding and 257 is end-of-sequence, so the vocabulary has 258
/// entries. It needs no file, never fails to encode, and round-trips any string exactly.
/// `encode(text)` (with special tokens) appends EOS, so each document ends with one.
public struct ByteTokenizer: Tokenizer, Sendable, Equatable {
    /// Number of byte ids (0…255).
    public static let byteCount = 256

    public init() {}

    public var vocabularySize: Int { Self.byteCount + 2 }
    public var padId: Int32 { Int32(Self.byteCount) }
    public var eosId: Int32? { Int32(Self.byteCount + 1) }
    public var bosId: Int32? { nil }
    public var unkId: Int32? { nil }
    public var name: String { "byte" }
    /// Constant: the byte tokenizer has no file; the hash of its name stands for it.
    public var fingerprint: String { fnv1a64Hex("byte".utf8) }

    /// The UTF-8 bytes of `text` as ids, followed by EOS when `addSpecialTokens`.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        var ids = text.utf8.map { Int32($0) }
        if addSpecialTokens, let eos = eosId { ids.append(eos) }
        return ids
    }

    /// The bytes among `ids` decoded as UTF-8 (invalid sequences become U+FFFD); pad, EOS and
    /// any id outside 0…255 are skipped.
    public func decode(_ ids: [Int32]) -> String {
        let bytes = ids.compactMap { id in (0..<Int32(Self.byteCount)).contains(id) ? UInt8(id) : nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
