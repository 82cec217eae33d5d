/// A tokenizer whose ids are the UTF-8 bytes of the text, plus a pad and an EOS id.
///
/// Ids 0…255 are bytes, 256 is padding and 257 is end-of-sequence, so the vocabulary has 258
/// entries. It needs no file, never fails to encode, and round-trips any string exactly.
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

    /// The UTF-8 bytes of `text` as ids; no EOS is added.
    public func encode(_ text: String) -> [Int32] {
        text.utf8.map { Int32($0) }
    }

    /// The bytes among `ids` decoded as UTF-8 (invalid sequences become U+FFFD); pad, EOS and
    /// any id outside 0…255 are skipped.
    public func decode(_ ids: [Int32]) -> String {
        let bytes = ids.compactMap { id in (0..<Int32(Self.byteCount)).contains(id) ? UInt8(id) : nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
