import Foundation

/// A `tokenizer.json` post-processor: adds the special tokens around one encoded text.
protocol HFPostProcessor {
    func process(_ ids: [Int32]) -> [Int32]
}

/// A `tokenizer.json` decoder: rewrites the list of token strings; the results are concatenated.
protocol HFDecoder {
    func decode(_ tokens: [String]) -> [String]
}

enum HFPostProcessors {
    static func make(_ json: HFJSON) throws -> any HFPostProcessor {
        let type = try json.type()
        switch type {
        case "TemplateProcessing":
            var specials: [String: [Int32]] = [:]
            for (name, entry) in try json["special_tokens"].members() {
                let ids = try entry["ids"].array().map { Int32(try $0.int()) }
                specials[name] = ids
            }
            var pieces: [[Int32]?] = [] // nil stands for the sequence
            for item in try json["single"].array() {
                if !item["Sequence"].isNull {
                    pieces.append(nil)
                } else if !item["SpecialToken"].isNull {
                    let name = try item["SpecialToken"]["id"].string()
                    guard let ids = specials[name] else {
                        throw TokenizerError.malformed(path: json.path, reason: "\(item.field) uses special token '\(name)' missing from special_tokens")
                    }
                    pieces.append(ids)
                } else {
                    throw item.missing("{\"Sequence\": …} or {\"SpecialToken\": …}")
                }
            }
            return Template(pieces: pieces)
        case "ByteLevel":
            return Template(pieces: [nil]) // offsets only; ids unchanged
        case "BertProcessing", "RobertaProcessing":
            let cls = try json["cls"].array(), sep = try json["sep"].array()
            guard cls.count == 2, sep.count == 2 else { throw json["cls"].missing("[token, id]") }
            return Template(pieces: [[Int32(try cls[1].int())], nil, [Int32(try sep[1].int())]])
        case "Sequence":
            return Sequence(steps: try json["processors"].array().map(make))
        default:
            throw TokenizerError.unsupportedComponent(path: json.path, stage: "post_processor", type: type)
        }
    }

    /// The `single` template: special ids around the sequence.
    struct Template: HFPostProcessor {
        let pieces: [[Int32]?]
        func process(_ ids: [Int32]) -> [Int32] { pieces.flatMap { $0 ?? ids } }
    }

    struct Sequence: HFPostProcessor {
        let steps: [any HFPostProcessor]
        func process(_ ids: [Int32]) -> [Int32] { steps.reduce(ids) { $1.process($0) } }
    }
}

enum HFDecoders {
    static func make(_ json: HFJSON) throws -> any HFDecoder {
        let type = try json.type()
        switch type {
        case "ByteLevel": return ByteLevel()
        case "Metaspace":
            let scheme: String
            if json["prepend_scheme"].isNull {
                scheme = try json["add_prefix_space"].bool(default: true) ? "always" : "never"
            } else {
                scheme = try json["prepend_scheme"].string()
            }
            return Metaspace(replacement: try json["replacement"].string(), stripsFirstSpace: scheme != "never")
        case "ByteFallback": return ByteFallback()
        case "Fuse": return Fuse()
        case "Strip":
            let content = try json["content"].string()
            guard let scalar = content.unicodeScalars.first, content.unicodeScalars.count == 1 else {
                throw TokenizerError.malformed(path: json.path, reason: "\(json.field).content must be one character")
            }
            return Strip(content: scalar, start: try json["start"].int(), stop: try json["stop"].int())
        case "Replace":
            return Replace(pattern: try json["pattern"].pattern(), content: try json["content"].string())
        case "Sequence":
            return Sequence(steps: try json["decoders"].array().map(make))
        default:
            throw TokenizerError.unsupportedComponent(path: json.path, stage: "decoder", type: type)
        }
    }

    /// Joins the tokens and maps GPT-2's stand-in characters back to bytes (invalid UTF-8 → U+FFFD).
    struct ByteLevel: HFDecoder {
        func decode(_ tokens: [String]) -> [String] {
            [String(decoding: ByteLevelMapping.decode(tokens.joined()), as: UTF8.self)]
        }
    }

    /// `▁` becomes a space; in the first token (unless the scheme is `never`) every `▁` is
    /// dropped, not only the leading one — `tokenizers` does exactly this.
    struct Metaspace: HFDecoder {
        let replacement: String
        let stripsFirstSpace: Bool
        func decode(_ tokens: [String]) -> [String] {
            tokens.enumerated().map { index, token in
                token.bytesReplacing(replacement, with: index == 0 && stripsFirstSpace ? "" : " ")
            }
        }
    }

    /// Runs of `<0xXX>` tokens become their UTF-8 text, or one U+FFFD per byte when invalid.
    struct ByteFallback: HFDecoder {
        func decode(_ tokens: [String]) -> [String] {
            var output: [String] = []
            var bytes: [UInt8] = []
            func flush() {
                guard !bytes.isEmpty else { return }
                if let text = String(validating: bytes, as: UTF8.self) {
                    output.append(text)
                } else {
                    output += Array(repeating: "\u{FFFD}", count: bytes.count)
                }
                bytes.removeAll()
            }
            for token in tokens {
                if let byte = byteOfPieceName(token) {
                    bytes.append(byte)
                } else {
                    flush()
                    output.append(token)
                }
            }
            flush()
            return output
        }
    }

    struct Fuse: HFDecoder {
        func decode(_ tokens: [String]) -> [String] { [tokens.joined()] }
    }

    /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
    struct Strip: HFDecoder {
        let content: Unicode.Scalar, start: Int, stop: Int
        func decode(_ tokens: [String]) -> [String] {
            tokens.map { token in
                var text = token.unicodeScalars[...]
                var removed = 0
                while removed < start, text.first == content { text.removeFirst(); removed += 1 }
                removed = 0
                while removed < stop, text.last == content { text.removeLast(); removed += 1 }
                return String(String.UnicodeScalarView(text))
            }
        }
    }

    struct Replace: HFDecoder {
        let pattern: HFPattern, content: String
        func decode(_ tokens: [String]) -> [String] { tokens.map { pattern.replacingMatches(in: $0, with: content) } }
    }

    struct Sequence: HFDecoder {
        let steps: [any HFDecoder]
        func decode(_ tokens: [String]) -> [String] { steps.reduce(tokens) { $1.decode($0) } }
    }
}
