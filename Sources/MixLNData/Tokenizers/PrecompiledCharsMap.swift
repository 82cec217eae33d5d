/// SentencePiece's `precompiled_charsmap`: normalization rules compiled into a Darts-clone
/// double-array trie over UTF-8 bytes, whose leaf values are offsets into a blob of
/// NUL-terminated replacement strings.
///
/// Layout: `u32 trieByteCount` (little-endian), then `trieByteCount / 4` little-endian `u32`
/// units, then the replacement blob. Each unit packs, for the transition that reaches it, a
/// label (low 8 bits plus bit 31 so leaves never match a byte), a has-leaf flag (bit 8) and the
/// XOR offset to its children (bits 10…31, shifted left by 8 more when bit 9 is set); a leaf
/// unit holds its value in the low 31 bits.
struct PrecompiledCharsMap {
    private let units: [UInt32]
    private let normalized: [UInt8]

    init(bytes: [UInt8], path: String) throws {
        guard bytes.count >= 4 else {
            throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap has \(bytes.count) bytes, expected at least 4")
        }
        let trieBytes = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes >= 4, trieBytes <= bytes.count - 4 else {
            throw TokenizerError.malformed(path: path, reason: "precompiled_charsmap trie size \(trieBytes) does not fit its \(bytes.count) bytes")
        }
        units = (0..<(trieBytes / 4)).map { k in
            let i = 4 + 4 * k
            return UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
        normalized = Array(bytes[(4 + trieBytes)...])
    }

    @inline(__always) private static func offset(_ unit: UInt32) -> Int {
        Int((unit >> 10) << ((unit & (1 << 9)) >> 6))
    }

    /// Calls `body(length, value)` for every rule whose key is a prefix of `key[start..<end]`,
    /// shortest first; stops early when `body` returns false. Corrupt tries end the search.
    @inline(__always)
    func commonPrefixSearch(_ key: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int,
                            _ body: (Int, Int) -> Bool) {
        guard !units.isEmpty else { return }
        var node = Self.offset(units[0])
        var i = start
        while i < end {
            let c = key[i]
            if c == 0 { return }
            node ^= Int(c)
            guard node < units.count else { return }
            let unit = units[node]
            guard unit & ((1 << 31) | 0xFF) == UInt32(c) else { return }
            node ^= Self.offset(unit)
            i += 1
            if (unit >> 8) & 1 == 1 {
                guard node < units.count else { return }
                if !body(i - start, Int(units[node] & ((1 << 31) - 1))) { return }
            }
        }
    }

    /// The NUL-terminated replacement at `value`, or nil when the offset is outside the blob.
    func replacement(_ value: Int) -> ArraySlice<UInt8>? {
        guard value < normalized.count else { return nil }
        var end = value
        while end < normalized.count, normalized[end] != 0 { end += 1 }
        return normalized[value..<end]
    }

    /// SentencePiece's rule: the longest rule matching a prefix of `key[start..<end]`, as
    /// (bytes consumed, replacement).
    func longestMatch(_ key: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) -> (Int, ArraySlice<UInt8>)? {
        var best: (Int, Int)?
        commonPrefixSearch(key, from: start, to: end) { length, value in best = (length, value); return true }
        guard let (length, value) = best, let text = replacement(value) else { return nil }
        return (length, text)
    }

    /// Hugging Face's rule: the shortest rule matching a prefix of `key`.
    func shortestMatch(_ key: UnsafeBufferPointer<UInt8>) -> ArraySlice<UInt8>? {
        var found: Int?
        commonPrefixSearch(key, from: 0, to: key.count) { _, value in found = value; return false }
        return found.flatMap(replacement)
    }
}
