/// GPT-2's byte-level pieces, as the Hugging Face `tokenizers` `ByteLevel` pre-tokenizer has them:
/// the byte-to-character table and the pre-tokenization split.
public enum ByteLevel {
    /// Byte `b` is written in `tokenizer.json` as the character `byteToCharacter[b]`: printable
    /// Latin-1 bytes stand for themselves, the other 68 (controls, space, …) are shifted to
    /// U+0100 and up, so every token is a string of visible characters (space is `Ġ`).
    public static let byteToCharacter: [Unicode.Scalar] = {
        var printable = Array(UInt32(0x21)...0x7E) + Array(UInt32(0xA1)...0xAC) + Array(UInt32(0xAE)...0xFF)
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        for b in printable { table[Int(b)] = Unicode.Scalar(b)! }
        var shifted: UInt32 = 256
        for b in 0..<256 where !printable.contains(UInt32(b)) {
            table[b] = Unicode.Scalar(shifted)!
            shifted += 1
        }
        printable.removeAll()
        return table
    }()

    /// The inverse of `byteToCharacter`.
    public static let characterToByte: [Unicode.Scalar: UInt8] = {
        Dictionary(uniqueKeysWithValues: byteToCharacter.enumerated().map { ($1, UInt8($0)) })
    }()

    /// `bytes` written with `byteToCharacter`.
    public static func string(of bytes: [UInt8]) -> String {
        var view = String.UnicodeScalarView()
        for b in bytes { view.append(byteToCharacter[Int(b)]) }
        return String(view)
    }

    enum Class { case letter, number, space, other }

    @inline(__always)
    static func classify(_ s: Unicode.Scalar) -> Class {
        if s.value < 0x80 {
            switch s.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The UTF-8 bytes of each piece of `text` under GPT-2's pre-tokenization pattern
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    /// matched by hand on Unicode scalars (leftmost alternative first, as the regex engine does).
    /// `\s` is Unicode White_Space, `\p{L}` and `\p{N}` the letter and number categories.
    public static func preTokenize(_ text: String) -> [[UInt8]] {
        let scalars = Array(text.unicodeScalars)
        let n = scalars.count
        guard n > 0 else { return [] }
        let classes = scalars.map(classify)
        var utf8Offset = [Int](repeating: 0, count: n + 1) // scalar index → byte offset
        for i in 0..<n { utf8Offset[i + 1] = utf8Offset[i] + UTF8.width(scalars[i]) }
        let bytes = Array(text.utf8)
        var pieces: [[UInt8]] = []
        func run(from start: Int, of kind: Class) -> Int {
            var j = start
            while j < n && classes[j] == kind { j += 1 }
            return j
        }
        var i = 0
        while i < n {
            var end: Int
            let c = scalars[i]
            if c == "'", i + 1 < n, let contraction = contractionLength(scalars, at: i) {
                end = i + contraction
            } else if c == " ", i + 1 < n, classes[i + 1] != .space {
                end = run(from: i + 1, of: classes[i + 1])
            } else if classes[i] != .space {
                end = run(from: i, of: classes[i])
            } else {
                let j = run(from: i, of: .space)
                // `\s+(?!\S)` leaves the last space before a non-space to prefix the next piece;
                // a single space before a non-space is `\s+` alone.
                end = (j == n || j - i == 1) ? j : j - 1
            }
            pieces.append(Array(bytes[utf8Offset[i]..<utf8Offset[end]]))
            i = end
        }
        return pieces
    }

    /// 2 for `'s 't 'm 'd`, 3 for `'re 've 'll`, nil otherwise (case-sensitive, as GPT-2's pattern).
    static func contractionLength(_ s: [Unicode.Scalar], at i: Int) -> Int? {
        let a = s[i + 1]
        if a == "s" || a == "t" || a == "m" || a == "d" { return 2 }
        guard i + 2 < s.count else { return nil }
        let b = s[i + 2]
        if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { return 3 }
        return nil
    }
}
