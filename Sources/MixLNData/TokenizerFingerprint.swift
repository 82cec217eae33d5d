/// A short string that changes whenever a tokenizer would produce different ids: shards record
/// it, and training refuses shards made by another tokenizer.
///
/// Until the `Tokenizer` protocol carries its own `fingerprint` (a hash of the tokenizer file),
/// this derives one from what the protocol exposes — the name, vocabulary size and special ids —
/// which is exact for `ByteTokenizer`. Kept in one place so it can be switched to the protocol
/// property later.
public enum TokenizerFingerprint {
    public static func of(_ tokenizer: any Tokenizer) -> String {
        let special = [tokenizer.padId, tokenizer.eosId ?? -1, tokenizer.bosId ?? -1, tokenizer.unkId ?? -1]
        let text = "\(tokenizer.name)|\(tokenizer.vocabularySize)|" + special.map(String.init).joined(separator: ",")
        return "\(tokenizer.name)-\(tokenizer.vocabularySize)-" + hex(fnv1a64(Array(text.utf8)))
    }

    /// FNV-1a, 64 bits: stable across runs and platforms (unlike `Hasher`).
    static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
