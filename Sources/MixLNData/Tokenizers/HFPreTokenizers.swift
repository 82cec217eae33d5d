import Foundation

/// A piece of text between pre-tokenization splits; `atStart` says it begins at offset 0 of the
/// original input (Metaspace's `prepend_scheme: first` needs this).
struct PreToken {
    var text: String
    var atStart: Bool
}

/// A `tokenizer.json` pre-tokenizer: splits (and may rewrite) each piece.
protocol HFPreTokenizer {
    func split(_ token: PreToken) -> [PreToken]
}

extension HFPreTokenizer {
    func preTokenize(_ tokens: [PreToken]) -> [PreToken] { tokens.flatMap(split) }
}

/// How a split keeps the delimiters it found (`SplitDelimiterBehavior`).
enum SplitBehavior: String {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"

    /// The pieces of `token` around the byte ranges `matches` (sorted, non-overlapping); empty
    /// pieces are dropped. With `invert`, the matches are the pieces and the text between them the
    /// delimiters (each match stays a piece of its own, as in `tokenizers`).
    func apply(_ token: PreToken, matches: [Range<Int>], invert: Bool = false) -> [PreToken] {
        let bytes = Array(token.text.utf8)
        // (range, isDelimiter) covering the whole text
        var parts: [(Range<Int>, Bool)] = []
        var position = 0
        for match in matches {
            if match.lowerBound > position { parts.append((position..<match.lowerBound, invert)) }
            parts.append((match, !invert))
            position = match.upperBound
        }
        if position < bytes.count { parts.append((position..<bytes.count, invert)) }
        if self == .contiguous {
            var merged: [(Range<Int>, Bool)] = []
            for part in parts {
                if part.1, let last = merged.last, last.1 {
                    merged[merged.count - 1].0 = last.0.lowerBound..<part.0.upperBound
                } else {
                    merged.append(part)
                }
            }
            parts = merged
        }
        var ranges: [Range<Int>] = []
        var pendingNext: Int? = nil // start of a match waiting to merge with the next piece
        var previousIsMatch = false
        for (range, isMatch) in parts {
            defer { previousIsMatch = isMatch }
            switch (self, isMatch) {
            case (.removed, true): continue
            case (.mergedWithPrevious, true):
                // A delimiter joins the piece before it unless that piece is a delimiter too.
                if !previousIsMatch, let last = ranges.last {
                    ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
                } else {
                    ranges.append(range)
                }
            case (.mergedWithNext, true):
                if let start = pendingNext { ranges.append(start..<range.lowerBound) }
                pendingNext = range.lowerBound
            case (.mergedWithNext, false):
                ranges.append((pendingNext ?? range.lowerBound)..<range.upperBound)
                pendingNext = nil
            default:
                ranges.append(range)
            }
        }
        if let start = pendingNext { ranges.append(start..<bytes.count) }
        return ranges.filter { !$0.isEmpty }.map {
            PreToken(text: substring(bytes, $0), atStart: token.atStart && $0.lowerBound == 0)
        }
    }
}

enum HFPreTokenizers {
    static func make(_ json: HFJSON) throws -> any HFPreTokenizer {
        let type = try json.type()
        switch type {
        case "ByteLevel":
            return ByteLevel(addPrefixSpace: try json["add_prefix_space"].bool(default: true),
                             useRegex: try json["use_regex"].bool(default: true))
        case "Metaspace":
            let replacement = try json["replacement"].string()
            guard replacement.unicodeScalars.count == 1 else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).replacement must be one character")
            }
            let scheme: String
            if json["prepend_scheme"].isNull {
                scheme = try json["add_prefix_space"].bool(default: true) ? "always" : "never"
            } else {
                scheme = try json["prepend_scheme"].string()
            }
            guard ["always", "first", "never"].contains(scheme) else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).prepend_scheme '\(scheme)' is not always, first or never")
            }
            return Metaspace(replacement: replacement, prependScheme: scheme, split: try json["split"].bool(default: true))
        case "WhitespaceSplit":
            return ByClass(behavior: .removed) { $0.properties.isWhitespace ? 0 : 1 }
        case "Whitespace":
            // \w+|[^\w\s]+ : runs of word characters and runs of other non-space characters
            return ByClass(behavior: .removed) { scalar in
                if scalar.properties.isWhitespace { return 0 }
                return isWordCharacter(scalar) ? 1 : 2
            }
        case "Split":
            let behavior = try json["behavior"].string()
            guard let parsed = SplitBehavior(rawValue: behavior) else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).behavior '\(behavior)' is unknown")
            }
            return Split(pattern: try json["pattern"].pattern(), behavior: parsed, invert: try json["invert"].bool(default: false))
        case "Digits":
            return Digits(individual: try json["individual_digits"].bool(default: false))
        case "Punctuation":
            let behavior = json["behavior"].isNull ? "Isolated" : try json["behavior"].string()
            guard let parsed = SplitBehavior(rawValue: behavior) else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).behavior '\(behavior)' is unknown")
            }
            return Punctuation(behavior: parsed)
        case "Sequence":
            return Sequence(steps: try json["pretokenizers"].array().map(make))
        default:
            throw TokenizerError.unsupportedComponent(path: json.path, stage: "pre_tokenizer", type: type)
        }
    }

    /// `\w` as the `regex` crate defines it.
    static func isWordCharacter(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }

    /// GPT-2's byte-level pre-tokenizer: optional leading space, the GPT-2 split, then every
    /// byte written as its printable stand-in character.
    struct ByteLevel: HFPreTokenizer {
        let addPrefixSpace: Bool
        let useRegex: Bool
        func split(_ token: PreToken) -> [PreToken] {
            var text = token.text
            if addPrefixSpace && !text.bytesHavePrefix(" ") { text = " " + text }
            let words = useRegex ? ByteLevelMapping.gpt2Split(text) : [text]
            return words.enumerated().map { index, word in
                PreToken(text: ByteLevelMapping.encode(word), atStart: token.atStart && index == 0)
            }
        }
    }

    struct Metaspace: HFPreTokenizer {
        let replacement: String
        let prependScheme: String
        let split: Bool
        func split(_ token: PreToken) -> [PreToken] {
            var text = token.text.bytesReplacing(" ", with: replacement)
            if !text.bytesHavePrefix(replacement) && (prependScheme == "always" || (prependScheme == "first" && token.atStart)) {
                text = replacement + text
            }
            let replaced = PreToken(text: text, atStart: token.atStart)
            guard split else { return [replaced] }
            return SplitBehavior.mergedWithNext.apply(replaced, matches: HFPattern.literal(replacement).matches(in: text))
        }
    }

    /// Splits into runs of scalars of the same class; class 0 is dropped (whitespace).
    struct ByClass: HFPreTokenizer {
        let behavior: SplitBehavior
        let classify: (Unicode.Scalar) -> Int
        func split(_ token: PreToken) -> [PreToken] {
            var result: [PreToken] = []
            var current = String.UnicodeScalarView()
            var currentClass = -1
            var offset = 0, start = 0
            func flush() {
                if currentClass > 0 && !current.isEmpty {
                    result.append(PreToken(text: String(current), atStart: token.atStart && start == 0))
                }
                current = String.UnicodeScalarView()
            }
            for scalar in token.text.unicodeScalars {
                let c = classify(scalar)
                if c != currentClass { flush(); currentClass = c; start = offset }
                current.append(scalar)
                offset += 1
            }
            flush()
            return result
        }
    }

    struct Split: HFPreTokenizer {
        let pattern: HFPattern
        let behavior: SplitBehavior
        let invert: Bool
        func split(_ token: PreToken) -> [PreToken] {
            behavior.apply(token, matches: pattern.matches(in: token.text), invert: invert)
        }
    }

    struct Digits: HFPreTokenizer {
        let individual: Bool
        func split(_ token: PreToken) -> [PreToken] {
            var matches: [Range<Int>] = []
            var offset = 0
            for scalar in token.text.unicodeScalars {
                let length = String(scalar).utf8.count
                if scalar.properties.numericType != nil { matches.append(offset..<(offset + length)) }
                offset += length
            }
            return (individual ? SplitBehavior.isolated : .contiguous).apply(token, matches: matches)
        }
    }

    struct Punctuation: HFPreTokenizer {
        let behavior: SplitBehavior
        func split(_ token: PreToken) -> [PreToken] {
            var matches: [Range<Int>] = []
            var offset = 0
            for scalar in token.text.unicodeScalars {
                let length = String(scalar).utf8.count
                let isPunctuation: Bool
                if scalar.isASCII {
                    isPunctuation = (0x21...0x2F).contains(scalar.value) || (0x3A...0x40).contains(scalar.value)
                        || (0x5B...0x60).contains(scalar.value) || (0x7B...0x7E).contains(scalar.value)
                } else {
                    switch scalar.properties.generalCategory {
                    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                         .initialPunctuation, .finalPunctuation, .otherPunctuation: isPunctuation = true
                    default: isPunctuation = false
                    }
                }
                if isPunctuation { matches.append(offset..<(offset + length)) }
                offset += length
            }
            return behavior.apply(token, matches: matches)
        }
    }

    struct Sequence: HFPreTokenizer {
        let steps: [any HFPreTokenizer]
        func split(_ token: PreToken) -> [PreToken] {
            steps.reduce([token]) { tokens, step in step.preTokenize(tokens) }
        }
    }
}

/// GPT-2's byte ↔ printable-character table and its split pattern.
enum ByteLevelMapping {
    /// Character standing for each byte: printable Latin-1 bytes stand for themselves, the
    /// others are shifted to U+0100 and up, in order.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The UTF-8 encoding of each byte's stand-in character.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String($0).utf8) }

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    static func encode(_ text: String) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count * 2)
        for byte in text.utf8 { output += byteToUTF8[Int(byte)] }
        return String(decoding: output, as: UTF8.self)
    }

    /// The bytes a byte-level string stands for (characters outside the table stand for their
    /// own UTF-8 bytes).
    static func decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            if let byte = scalarToByte[scalar.value] { bytes.append(byte) } else { bytes += Array(String(scalar).utf8) }
        }
        return bytes
    }

    private enum Class { case letter, number, space, other }

    @inline(__always) private static func classify(_ scalar: Unicode.Scalar) -> Class {
        if scalar.isASCII {
            let v = scalar.value
            if (0x61...0x7A).contains(v) || (0x41...0x5A).contains(v) { return .letter }
            if (0x30...0x39).contains(v) { return .number }
            if v == 0x20 || (0x09...0x0D).contains(v) { return .space }
            return .other
        }
        let p = scalar.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
    /// matched by hand over Unicode scalars with the regex's alternation order.
    static func gpt2Split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(classify)
        let n = scalars.count
        var words: [String] = []
        var i = 0
        func run(from start: Int, _ cls: Class) -> Int {
            var j = start
            while j < n && classes[j] == cls { j += 1 }
            return j
        }
        while i < n {
            var end = -1
            // contractions
            if scalars[i] == "'" && i + 1 < n {
                let a = scalars[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" {
                    end = i + 2
                } else if i + 2 < n {
                    let b = scalars[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") { end = i + 3 }
                }
            }
            if end < 0 {
                // optional single space, then a run of letters / numbers / others
                let start = (scalars[i] == " " && i + 1 < n && classes[i + 1] != .space) ? i + 1 : i
                let cls = classes[start]
                if cls != .space { end = run(from: start, cls) }
            }
            if end < 0 {
                // whitespace: \s+(?!\S) leaves the last space for the next word; else \s+
                let stop = run(from: i, .space)
                end = (stop < n && stop - i > 1) ? stop - 1 : stop
            }
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[i..<end])
            words.append(String(view))
            i = end
        }
        return words
    }
}
