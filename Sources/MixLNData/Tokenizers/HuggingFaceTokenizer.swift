import Foundation

/// A Hugging Face `tokenizer.json`, encoded as the `tokenizers` library does: added tokens split
/// out first (those with `normalized: false` from the raw text, the others after
/// normalization), then normalizer → pre-tokenizer → model for each remaining piece, then the
/// post-processor when special tokens are asked for. Decoding skips special added tokens and
/// runs the decoder chain.
///
/// Supported components — models: BPE (byte-level as GPT-2/NeoX, or with `byte_fallback` as
/// LLaMA; `fuse_unk`, `ignore_merges`, `continuing_subword_prefix`, `end_of_word_suffix`; no
/// dropout) and Unigram (T5); normalizers: NFC, NFD, NFKC, NFKD, Lowercase, StripAccents, Strip,
/// Replace, Prepend, Precompiled, Sequence; pre-tokenizers: ByteLevel, Metaspace, WhitespaceSplit,
/// Whitespace, Split, Digits, Punctuation, Sequence; post-processors: TemplateProcessing (single
/// sequences), ByteLevel, BertProcessing, RobertaProcessing, Sequence; decoders: ByteLevel,
/// Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence. Anything else throws
/// `TokenizerError.unsupportedModelType` / `.unsupportedComponent` naming it.
///
/// Special ids are not part of `tokenizer.json`'s model; they are taken from the added tokens
/// by their usual names: EOS `</s>`, `<|endoftext|>`, `<eos>`, `<|end_of_text|>`; BOS `<s>`,
/// `<bos>`, `<|begin_of_text|>`; pad `<pad>`, `<|padding|>`, else EOS, else unknown, else 0.
public struct HuggingFaceTokenizer: Tokenizer, @unchecked Sendable {
    struct AddedToken {
        var id: Int32
        var content: [UInt8]
        var singleWord: Bool, leftStrip: Bool, rightStrip: Bool, normalized: Bool, special: Bool
    }

    public let vocabularySize: Int
    public let padId: Int32
    public let eosId: Int32?
    public let bosId: Int32?
    public let unkId: Int32?
    public let name: String
    public let fingerprint: String

    private let model: any HFModel
    private let normalizer: (any HFNormalizer)?
    private let preTokenizer: (any HFPreTokenizer)?
    private let postProcessor: (any HFPostProcessor)?
    private let decoder: (any HFDecoder)?
    private let rawAddedTokens: [AddedToken]
    private let normalizedAddedTokens: [AddedToken]
    /// Token text of each added id as `decode` sees it (normalized tokens: their normalized form).
    private let addedText: [Int32: String]
    /// Contents of the special added tokens; `decode` skips tokens whose text is one of them.
    private let specialContents: Set<[UInt8]>

    /// Loads `path`: a `tokenizer.json` file or a folder containing one.
    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError.noSuchFile(path) }
        let file = isDirectory.boolValue ? (path as NSString).appendingPathComponent("tokenizer.json") : path
        guard FileManager.default.fileExists(atPath: file) else { throw DataError.noSuchFile(file) }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw DataError.unreadable(path: file, reason: "could not read the file")
        }
        try self.init(data: data, path: file)
    }

    /// Parses `tokenizer.json` bytes; `path` only names them in errors and `name`.
    public init(data: Data, path: String = "<data>") throws {
        try self.init(data: data, path: path, specialIds: SpecialIds())
    }

    /// Special ids a source states outright (a GGUF file's `tokenizer.ggml.*_token_id`); nil: found by name.
    struct SpecialIds {
        var bos: Int32?, eos: Int32?, pad: Int32?
    }

    /// Parses `tokenizer.json` bytes, with the special ids `specialIds` gives in place of the ones found by name.
    init(data: Data, path: String, specialIds: SpecialIds) throws {
        let json = try HFJSON(data: data, path: path)
        guard !json["model"].isNull else { throw json["model"].missing("the model object") }
        let model = try HFModels.make(json["model"])
        self.model = model
        let normalizer = json["normalizer"].isNull ? nil : try HFNormalizers.make(json["normalizer"])
        self.normalizer = normalizer
        preTokenizer = json["pre_tokenizer"].isNull ? nil : try HFPreTokenizers.make(json["pre_tokenizer"])
        postProcessor = json["post_processor"].isNull ? nil : try HFPostProcessors.make(json["post_processor"])
        decoder = json["decoder"].isNull ? nil : try HFDecoders.make(json["decoder"])

        var added: [AddedToken] = []
        if !json["added_tokens"].isNull {
            for entry in try json["added_tokens"].array() {
                let id = try entry["id"].int()
                guard id >= 0, id <= Int(Int32.max) else { throw entry["id"].missing("a non-negative id") }
                let content = try entry["content"].string()
                guard !content.isEmpty else { throw entry["content"].missing("a non-empty string") }
                added.append(AddedToken(
                    id: Int32(id), content: Array(content.utf8),
                    singleWord: try entry["single_word"].bool(default: false),
                    leftStrip: try entry["lstrip"].bool(default: false),
                    rightStrip: try entry["rstrip"].bool(default: false),
                    normalized: try entry["normalized"].bool(default: true),
                    special: try entry["special"].bool(default: false)))
            }
        }
        // As `tokenizers` does: tokens with `normalized: false` (special or not) are found in the
        // raw text; the others, themselves normalized, in the normalized text.
        rawAddedTokens = added.filter { !$0.normalized }
        normalizedAddedTokens = added.compactMap { token in
            guard token.normalized else { return nil }
            var normalizedToken = token
            if let normalizer {
                normalizedToken.content = Array(normalizer.normalize(String(decoding: token.content, as: UTF8.self)).utf8)
            }
            return normalizedToken.content.isEmpty ? nil : normalizedToken
        }
        // `tokenizers` gives a normalized added token back as its normalized text, and skips a
        // special token in `decode` by comparing that text with the special contents.
        var addedText: [Int32: String] = [:]
        for token in rawAddedTokens + normalizedAddedTokens where addedText[token.id] == nil {
            addedText[token.id] = String(decoding: token.content, as: UTF8.self)
        }
        self.addedText = addedText
        specialContents = Set(added.filter(\.special).map(\.content))
        vocabularySize = max(model.vocabularySize, (added.map { Int($0.id) }.max() ?? -1) + 1)

        func find(_ names: [String]) -> Int32? {
            for name in names {
                if let token = added.first(where: { $0.content.elementsEqual(name.utf8) }) { return token.id }
            }
            return nil
        }
        switch model {
        case let bpe as HFModels.BPE: unkId = bpe.unkId
        case let unigram as HFModels.Unigram: unkId = unigram.unkId
        default: unkId = nil
        }
        eosId = specialIds.eos ?? find(["</s>", "<|endoftext|>", "<eos>", "<|end_of_text|>"])
        bosId = specialIds.bos ?? find(["<s>", "<bos>", "<|begin_of_text|>"])
        padId = specialIds.pad ?? find(["<pad>", "<|padding|>", "[PAD]"]) ?? eosId ?? unkId ?? 0
        let kind = model is HFModels.Unigram ? "unigram" : "bpe"
        name = "tokenizer.json-\(kind):" + ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
            + "/" + (path as NSString).lastPathComponent
        fingerprint = fnv1a64Hex([UInt8](data))
    }

    // MARK: Encoding

    private enum Part {
        case token(Int32)
        case text(String, atStart: Bool)
    }

    /// Splits `text` around the leftmost-longest matches of `tokens`.
    private func splitAdded(_ text: String, atStart: Bool, tokens: [AddedToken]) -> [Part] {
        guard !tokens.isEmpty else { return [.text(text, atStart: atStart)] }
        let bytes = Array(text.utf8)
        var parts: [Part] = []
        var textStart = 0
        var position = 0
        let n = bytes.count
        func isWordByte(at index: Int, before: Bool) -> Bool {
            // The character ending just before `index`, or starting at `index`.
            let view = before ? substring(bytes, 0..<index) : substring(bytes, index..<n)
            guard let scalar = before ? view.unicodeScalars.last : view.unicodeScalars.first else { return false }
            return HFPreTokenizers.isWordCharacter(scalar)
        }
        while position < n {
            var best: AddedToken?
            for token in tokens where token.content.count <= n - position && token.content.count > (best?.content.count ?? 0) {
                if bytes[position] == token.content[0] && bytes[position..<(position + token.content.count)].elementsEqual(token.content) {
                    best = token
                }
            }
            guard let token = best else { position += 1; continue }
            var start = position, stop = position + token.content.count
            if token.singleWord && ((start > 0 && isWordByte(at: start, before: true)) || (stop < n && isWordByte(at: stop, before: false))) {
                position += 1
                continue
            }
            if token.leftStrip {
                let before = substring(bytes, textStart..<start)
                let trimmed = before.unicodeScalars.reversed().prefix { $0.properties.isWhitespace }
                start -= trimmed.reduce(0) { $0 + String($1).utf8.count }
            }
            if token.rightStrip {
                let after = substring(bytes, stop..<n)
                stop += after.unicodeScalars.prefix { $0.properties.isWhitespace }.reduce(0) { $0 + String($1).utf8.count }
            }
            if start > textStart {
                parts.append(.text(substring(bytes, textStart..<start), atStart: atStart && textStart == 0))
            }
            parts.append(.token(token.id))
            textStart = stop
            position = stop
        }
        if textStart < n { parts.append(.text(substring(bytes, textStart..<n), atStart: atStart && textStart == 0)) }
        return parts
    }

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        var ids: [Int32] = []
        for part in splitAdded(text, atStart: true, tokens: rawAddedTokens) {
            guard case .text(let raw, let atStart) = part else {
                if case .token(let id) = part { ids.append(id) }
                continue
            }
            let normalized = normalizer?.normalize(raw) ?? raw
            for inner in splitAdded(normalized, atStart: atStart, tokens: normalizedAddedTokens) {
                switch inner {
                case .token(let id):
                    ids.append(id)
                case .text(let piece, let pieceAtStart):
                    let start = PreToken(text: piece, atStart: pieceAtStart)
                    let words = preTokenizer?.preTokenize([start]) ?? [start]
                    for word in words where !word.text.isEmpty { ids += model.tokenize(word.text) }
                }
            }
        }
        if addSpecialTokens, let postProcessor { ids = postProcessor.process(ids) }
        return ids
    }

    // MARK: Decoding

    /// The token string of `id` (added tokens first), or nil outside the vocabulary.
    public func token(for id: Int32) -> String? {
        if let text = addedText[id] { return text }
        return model.token(for: id)
    }

    /// The text of `ids`: special added tokens skipped, the rest through the decoder (or joined
    /// with spaces when the file has none, as `tokenizers` does).
    public func decode(_ ids: [Int32]) -> String {
        let tokens = ids.compactMap { id -> String? in
            guard let text = token(for: id), !specialContents.contains(Array(text.utf8)) else { return nil }
            return text
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }
}
