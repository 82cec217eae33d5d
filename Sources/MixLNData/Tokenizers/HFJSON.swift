import Foundation

/// A value inside a parsed `tokenizer.json`, with its dotted field path so every error can say
/// which field was missing or of the wrong type.
struct HFJSON {
    let value: Any?
    let field: String
    let path: String

    init(value: Any?, field: String, path: String) {
        self.value = value
        self.field = field
        self.path = path
    }

    /// Parses `data` as a JSON object.
    init(data: Data, path: String) throws {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw TokenizerError.invalidJSON(path: path, reason: reason)
        }
        guard parsed is [String: Any] else {
            throw TokenizerError.invalidJSON(path: path, reason: "the top level is not an object")
        }
        self.init(value: parsed, field: "", path: path)
    }

    subscript(key: String) -> HFJSON {
        HFJSON(value: (value as? [String: Any])?[key], field: field.isEmpty ? key : field + "." + key, path: path)
    }

    var isNull: Bool { value == nil || value is NSNull }

    func missing(_ expected: String) -> TokenizerError {
        .missingField(path: path, field: field, expected: expected)
    }

    func object() throws -> [String: Any] {
        guard let object = value as? [String: Any] else { throw missing("an object") }
        return object
    }

    func string() throws -> String {
        guard let string = value as? String else { throw missing("a string") }
        return string
    }

    func optionalString() throws -> String? { isNull ? nil : try string() }

    func int() throws -> Int {
        if let number = value as? NSNumber, let int = Int(exactly: number.doubleValue) { return int }
        throw missing("an integer")
    }

    func double() throws -> Double {
        guard let number = value as? NSNumber, !(value is String) else { throw missing("a number") }
        return number.doubleValue
    }

    func bool(default fallback: Bool) throws -> Bool {
        if isNull { return fallback }
        guard let bool = value as? Bool else { throw missing("true or false") }
        return bool
    }

    func array() throws -> [HFJSON] {
        guard let array = value as? [Any] else { throw missing("an array") }
        return array.enumerated().map { HFJSON(value: $1, field: "\(field)[\($0)]", path: path) }
    }

    /// The component's `type` field.
    func type() throws -> String { try self["type"].string() }

    /// A `{"String": s}` or `{"Regex": r}` pattern.
    func pattern() throws -> HFPattern {
        if let literal = self["String"].value as? String { return .literal(literal) }
        if let regex = self["Regex"].value as? String {
            do {
                return .regex(try NSRegularExpression(pattern: regex, options: []))
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
            let ns = text as NSString
            return regex.matches(in: text, options: [], range: NSRange(location: 0, length: ns.length)).compactMap { match in
                guard match.range.length > 0, let range = Range(match.range, in: text) else { return nil }
                return text.utf8.distance(from: text.startIndex, to: range.lowerBound)
                    ..< text.utf8.distance(from: text.startIndex, to: range.upperBound)
            }
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
