import Foundation

/// A `tokenizer.json` normalizer: rewrites the text before it is split.
protocol HFNormalizer {
    func normalize(_ text: String) -> String
}

enum HFNormalizers {
    /// Builds the normalizer described by `json`.
    /// - Throws: `TokenizerError.unsupportedComponent` naming an unknown type.
    static func make(_ json: HFJSON) throws -> any HFNormalizer {
        let type = try json.type()
        switch type {
        case "NFC": return UnicodeForm { $0.precomposedStringWithCanonicalMapping }
        case "NFD": return UnicodeForm { $0.decomposedStringWithCanonicalMapping }
        case "NFKC": return UnicodeForm { $0.precomposedStringWithCompatibilityMapping }
        case "NFKD": return UnicodeForm { $0.decomposedStringWithCompatibilityMapping }
        case "Lowercase": return UnicodeForm { $0.lowercased() }
        case "StripAccents":
            return UnicodeForm { text in
                var scalars = String.UnicodeScalarView()
                scalars.append(contentsOf: text.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark })
                return String(scalars)
            }
        case "Strip":
            return Strip(left: try json["strip_left"].bool(default: true), right: try json["strip_right"].bool(default: true))
        case "Replace":
            return Replace(pattern: try json["pattern"].pattern(), content: try json["content"].string())
        case "Prepend":
            return Prepend(prefix: try json["prepend"].string())
        case "Precompiled":
            let encoded = try json["precompiled_charsmap"].optionalString() ?? ""
            guard !encoded.isEmpty else { return UnicodeForm { $0 } }
            guard let bytes = Data(base64Encoded: encoded) else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).precompiled_charsmap is not base64")
            }
            return Precompiled(map: try PrecompiledCharsMap(bytes: [UInt8](bytes), path: json.path))
        case "Sequence":
            return Sequence(steps: try json["normalizers"].array().map(make))
        default:
            throw TokenizerError.unsupportedComponent(path: json.path, stage: "normalizer", type: type)
        }
    }

    /// NFC/NFD/NFKC/NFKD, lowercasing, accent stripping: a whole-string transform.
    struct UnicodeForm: HFNormalizer {
        let transform: (String) -> String
        func normalize(_ text: String) -> String { transform(text) }
    }

    struct Strip: HFNormalizer {
        let left: Bool, right: Bool
        func normalize(_ text: String) -> String {
            var scalars = Substring(text).unicodeScalars[...]
            if left { while let first = scalars.first, first.properties.isWhitespace { scalars = scalars.dropFirst() } }
            if right { while let last = scalars.last, last.properties.isWhitespace { scalars = scalars.dropLast() } }
            return String(String.UnicodeScalarView(scalars))
        }
    }

    struct Replace: HFNormalizer {
        let pattern: HFPattern, content: String
        func normalize(_ text: String) -> String { pattern.replacingMatches(in: text, with: content) }
    }

    /// Prepends `prefix` to non-empty text.
    struct Prepend: HFNormalizer {
        let prefix: String
        func normalize(_ text: String) -> String { text.isEmpty ? text : prefix + text }
    }

    /// SentencePiece's charsmap as `tokenizers` applies it: each grapheme cluster shorter than 6
    /// bytes is replaced whole by the rule for its shortest matching prefix; otherwise (or when
    /// none matches) each character is replaced by its own rule, if any.
    struct Precompiled: HFNormalizer {
        let map: PrecompiledCharsMap
        /// Replacement of each ASCII byte standing alone as a grapheme (nil: unchanged).
        let ascii: [[UInt8]?]

        init(map: PrecompiledCharsMap) {
            self.map = map
            ascii = (0..<128).map { byte in [UInt8(byte)].withUnsafeBufferPointer { map.shortestMatch($0).map(Array.init) } }
        }

        func normalize(_ text: String) -> String {
            let bytes = Array(text.utf8)
            var output: [UInt8] = []
            output.reserveCapacity(bytes.count)
            // Two ASCII bytes always have a grapheme boundary between them, except CR LF; so an
            // ASCII byte followed by another (or by the end) is a grapheme of its own, and the
            // rest goes through Swift's grapheme segmentation in pieces cut at such boundaries.
            func isBoundary(_ j: Int) -> Bool {
                j >= bytes.count || (bytes[j] < 0x80 && bytes[j - 1] < 0x80 && !(bytes[j - 1] == 0x0D && bytes[j] == 0x0A))
            }
            var i = 0
            while i < bytes.count {
                if bytes[i] < 0x80 && isBoundary(i + 1) {
                    if let replaced = ascii[Int(bytes[i])] { output += replaced } else { output.append(bytes[i]) }
                    i += 1
                    continue
                }
                var j = i + 1
                while !isBoundary(j) { j += 1 }
                normalizeSlow(substring(bytes, i..<j), into: &output)
                i = j
            }
            return String(decoding: output, as: UTF8.self)
        }

        private func normalizeSlow(_ text: String, into output: inout [UInt8]) {
            for grapheme in text {
                var bytes = Array(String(grapheme).utf8)
                let whole: ArraySlice<UInt8>? = bytes.count < 6 ? bytes.withUnsafeBufferPointer { map.shortestMatch($0) } : nil
                if let whole {
                    output += whole
                    continue
                }
                for scalar in grapheme.unicodeScalars {
                    bytes = Array(String(scalar).utf8)
                    if let replaced = bytes.withUnsafeBufferPointer({ map.shortestMatch($0) }) {
                        output += replaced
                    } else {
                        output += bytes
                    }
                }
            }
        }
    }

    struct Sequence: HFNormalizer {
        let steps: [any HFNormalizer]
        func normalize(_ text: String) -> String { steps.reduce(text) { $1.normalize($0) } }
    }
}
