import Foundation

/// A parsed JSON value. Objects keep their members in order as (key, value) pairs, compared
/// byte for byte: `JSONSerialization` would hand back a `[String: Any]`, and Swift's `String`
/// equality merges canonically equivalent keys (`ñ` and `n` + U+0303), silently dropping one of
/// two distinct vocabulary entries.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])
}

/// A small strict JSON parser (RFC 8259) over UTF-8 bytes; errors name the byte offset.
struct JSONParser {
    private let bytes: [UInt8]
    private var i = 0
    private let path: String

    static func parse(_ data: Data, path: String) throws -> JSONValue {
        var parser = JSONParser(bytes: [UInt8](data), path: path)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.i == parser.bytes.count else { throw parser.error("unexpected data after the top-level value") }
        return value
    }

    private init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    private func error(_ what: String) -> TokenizerError {
        .invalidJSON(path: path, reason: i >= bytes.count ? "\(what) at the end of the data (byte \(i))" : "\(what) at byte \(i)")
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nesting deeper than 512 levels") }
        guard i < bytes.count else { throw error("unexpected end of data, expected a value") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: JSONValue)] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let key = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                if try separatorOrEnd("}") { return .object(members) }
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                if try separatorOrEnd("]") { return .array(items) }
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = i
            while i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i])
                    || [UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[i]) {
                i += 1
            }
            guard let number = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                i = start
                throw error("invalid number")
            }
            return .number(number)
        default:
            throw error("unexpected character '\(Unicode.Scalar(bytes[i]))'")
        }
    }

    /// After a member or element: true at `close` (consumed), false after a comma.
    private mutating func separatorOrEnd(_ close: Unicode.Scalar) throws -> Bool {
        guard i < bytes.count else { throw error("unexpected end of data, expected ',' or '\(close)'") }
        if bytes[i] == UInt8(ascii: ",") { i += 1; return false }
        if bytes[i] == UInt8(ascii: close) { i += 1; return true }
        throw error("expected ',' or '\(close)'")
    }

    private mutating func expect(_ character: Unicode.Scalar) throws {
        guard i < bytes.count, bytes[i] == UInt8(ascii: character) else { throw error("expected '\(character)'") }
        i += 1
    }

    private mutating func literal(_ word: String) throws {
        let utf8 = Array(word.utf8)
        guard i + utf8.count <= bytes.count, bytes[i..<(i + utf8.count)].elementsEqual(utf8) else {
            throw error("invalid literal, expected '\(word)'")
        }
        i += utf8.count
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= bytes.count, let value = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw error("invalid \\u escape")
        }
        i += 4
        return value
    }

    private mutating func string() throws -> String {
        i += 1 // opening quote
        var output: [UInt8] = []
        while true {
            let runStart = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\"), bytes[i] >= 0x20 { i += 1 }
            output += bytes[runStart..<i]
            guard i < bytes.count else { throw error("unterminated string") }
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") { i += 1; break }
            guard byte == UInt8(ascii: "\\") else { throw error("control character in a string") }
            i += 1
            guard i < bytes.count else { throw error("unterminated escape") }
            let escape = bytes[i]
            i += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): output.append(escape)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code), i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                    let save = i
                    i += 2
                    let low = try hex4()
                    if (0xDC00...0xDFFF).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        i = save
                    }
                }
                output += Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8)
            default:
                i -= 1
                throw error("invalid escape")
            }
        }
        guard let text = String(validating: output, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
    }
}

/// A value inside a parsed `tokenizer.json`, with its dotted field path so every error can say
/// which field was missing or of the wrong type.
struct HFJSON {
    let value: JSONValue?
    let field: String
    let path: String

    init(value: JSONValue?, field: String, path: String) {
        self.value = value
        self.field = field
        self.path = path
    }

    /// Parses `data` as a JSON object.
    init(data: Data, path: String) throws {
        let parsed = try JSONParser.parse(data, path: path)
        guard case .object = parsed else {
            throw TokenizerError.invalidJSON(path: path, reason: "the top level is not an object")
        }
        self.init(value: parsed, field: "", path: path)
    }

    subscript(key: String) -> HFJSON {
        var member: JSONValue?
        if case .object(let members)? = value {
            member = members.first(where: { $0.key.utf8.elementsEqual(key.utf8) })?.value
        }
        return HFJSON(value: member, field: field.isEmpty ? key : field + "." + key, path: path)
    }

    var isNull: Bool {
        if case .null? = value { return true }
        return value == nil
    }

    func missing(_ expected: String) -> TokenizerError {
        .missingField(path: path, field: field, expected: expected)
    }

    /// The members of an object, in file order (duplicates and equivalent keys kept).
    func members() throws -> [(key: String, value: HFJSON)] {
        guard case .object(let members)? = value else { throw missing("an object") }
        return members.map { ($0.key, HFJSON(value: $0.value, field: field + "." + $0.key, path: path)) }
    }

    func string() throws -> String {
        guard case .string(let string)? = value else { throw missing("a string") }
        return string
    }

    func optionalString() throws -> String? { isNull ? nil : try string() }

    func int() throws -> Int {
        guard case .number(let number)? = value, let int = Int(exactly: number) else { throw missing("an integer") }
        return int
    }

    func double() throws -> Double {
        guard case .number(let number)? = value else { throw missing("a number") }
        return number
    }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        guard case .bool(let bool)? = value else { throw missing("true or false") }
        return bool
    }

    func array() throws -> [HFJSON] {
        guard case .array(let items)? = value else { throw missing("an array") }
        return items.enumerated().map { HFJSON(value: $1, field: "\(field)[\($0)]", path: path) }
    }

    var isArray: Bool {
        if case .array? = value { return true }
        return false
    }

    /// The component's `type` field.
    func type() throws -> String { try self["type"].string() }

    /// A `{"String": s}` or `{"Regex": r}` pattern.
    func pattern() throws -> HFPattern {
        if let literal = try? self["String"].string() { return .literal(literal) }
        if let regex = try? self["Regex"].string() {
            do {
                return try HFPattern.regex(regex)
            } catch {
                throw TokenizerError.malformed(path: path, reason: "\(field).Regex '\(regex)' is not a regular expression this platform supports")
            }
        }
        throw missing("{\"String\": …} or {\"Regex\": …}")
    }
}

/// A string or regular-expression pattern of a Replace or Split component.
enum HFPattern {
    case literal(String)
    case regex(NSRegularExpression)
    /// `c{n,}`: runs of at least `minimum` bytes `byte` (ASCII), e.g. T5's `" {2,}"`; matched by
    /// hand because `NSRegularExpression` is slow on short strings.
    case run(byte: UInt8, minimum: Int)

    /// The pattern of a `{"Regex": …}` field.
    static func regex(_ pattern: String) throws -> HFPattern {
        let scalars = Array(pattern.unicodeScalars)
        if scalars.count >= 5, scalars[0].isASCII, !"\\^$.|?*+()[]{}".unicodeScalars.contains(scalars[0]),
           scalars[1] == "{", scalars[scalars.count - 2] == ",", scalars[scalars.count - 1] == "}",
           let minimum = Int(String(String.UnicodeScalarView(scalars[2..<(scalars.count - 2)]))), minimum >= 1 {
            return .run(byte: UInt8(scalars[0].value), minimum: minimum)
        }
        return .regex(try NSRegularExpression(pattern: pattern, options: []))
    }

    /// The non-overlapping matches in `text`, left to right, as byte ranges of `text.utf8`.
    func matches(in text: String) -> [Range<Int>] {
        switch self {
        case .literal(let literal):
            let needle = Array(literal.utf8), hay = Array(text.utf8)
            guard !needle.isEmpty, hay.count >= needle.count else { return [] }
            var result: [Range<Int>] = []
            var i = 0
            while i + needle.count <= hay.count {
                if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) {
                    result.append(i..<(i + needle.count))
                    i += needle.count
                } else {
                    i += 1
                }
            }
            return result
        case .regex(let regex):
            // NSRegularExpression reports UTF-16 offsets; `Range(_:in:)` refuses those that are not
            // grapheme boundaries (a match may end inside "日\u{FE0F}"), so map them by hand.
            var utf8Offset = [Int](repeating: 0, count: text.utf16.count + 1)
            var u16 = 0, u8 = 0
            for scalar in text.unicodeScalars {
                utf8Offset[u16] = u8
                u16 += scalar.utf16.count
                u8 += scalar.utf8.count
            }
            utf8Offset[u16] = u8
            return regex.matches(in: text, options: [], range: NSRange(location: 0, length: u16)).compactMap { match in
                guard match.range.length > 0 else { return nil }
                return utf8Offset[match.range.location]..<utf8Offset[match.range.location + match.range.length]
            }
        case .run(let byte, let minimum):
            var result: [Range<Int>] = []
            var start = -1
            var i = 0
            for b in text.utf8 {
                if b == byte {
                    if start < 0 { start = i }
                } else {
                    if start >= 0 && i - start >= minimum { result.append(start..<i) }
                    start = -1
                }
                i += 1
            }
            if start >= 0 && i - start >= minimum { result.append(start..<i) }
            return result
        }
    }

    func replacingMatches(in text: String, with content: String) -> String {
        switch self {
        case .literal(let literal):
            return text.bytesReplacing(literal, with: content)
        case .regex(let regex):
            let ns = text as NSString
            return regex.stringByReplacingMatches(in: text, options: [], range: NSRange(location: 0, length: ns.length),
                                                  withTemplate: NSRegularExpression.escapedTemplate(for: content))
        case .run:
            let ranges = matches(in: text)
            guard !ranges.isEmpty else { return text }
            let bytes = Array(text.utf8)
            var output: [UInt8] = []
            output.reserveCapacity(bytes.count)
            var position = 0
            for range in ranges {
                output += bytes[position..<range.lowerBound]
                output += content.utf8
                position = range.upperBound
            }
            output += bytes[position...]
            return String(decoding: output, as: UTF8.self)
        }
    }
}

/// The UTF-8 substring `bytes[range]` of `text` as a String.
@inline(__always) func substring(_ bytes: [UInt8], _ range: Range<Int>) -> String {
    String(decoding: bytes[range], as: UTF8.self)
}

// Swift compares strings by grapheme cluster, so `" \u{301}".hasPrefix(" ")` is false; the
// reference libraries work on bytes and characters. These helpers do the same.
extension String {
    /// Whether the UTF-8 bytes start with those of `prefix`.
    func bytesHavePrefix(_ prefix: String) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Every occurrence of `target`'s bytes replaced by `replacement` (left to right, no overlaps).
    func bytesReplacing(_ target: String, with replacement: String) -> String {
        let needle = Array(target.utf8)
        guard !needle.isEmpty else { return self }
        let hay = Array(utf8)
        let substitute = Array(replacement.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(hay.count)
        var i = 0
        while i < hay.count {
            if hay[i] == needle[0], i + needle.count <= hay.count, hay[i..<(i + needle.count)].elementsEqual(needle) {
                output += substitute
                i += needle.count
            } else {
                output.append(hay[i])
                i += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The string without its first Unicode scalar.
    func droppingFirstScalar() -> String {
        var scalars = unicodeScalars
        if !scalars.isEmpty { scalars.removeFirst() }
        return String(scalars)
    }
}
