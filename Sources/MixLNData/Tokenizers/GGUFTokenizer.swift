import Foundation
import MixLNGGUF

/// The tokenizer a GGUF file carries in its metadata (`tokenizer.ggml.*`), built as the tokenizer
/// types here build it from their own files.
///
/// - `tokenizer.ggml.model = llama`: SentencePiece BPE (llama.cpp's SPM tokenizer) from `tokens`,
///   `scores` and `token_type` (the SentencePiece piece types), byte fallback when the vocabulary
///   has `<0xXX>` byte pieces, `add_space_prefix` (default true), `remove_extra_whitespaces`
///   (default false) and `precompiled_charsmap` when present; `t5`: the same as a unigram model.
///   Special ids from `bos_token_id`, `eos_token_id`, `unknown_token_id`, `padding_token_id`;
///   `add_bos_token` (default true) / `add_eos_token` (default false) say what `encode` adds.
/// - `tokenizer.ggml.model = gpt2`: byte-level BPE from `tokens` and `merges`, as the
///   `tokenizer.json` it came from: CONTROL tokens become special added tokens, USER_DEFINED ones
///   plain added tokens; the pre-tokenizer from `tokenizer.ggml.pre`: `default`, `gpt-2`, `gpt2`
///   (GPT-2's split), `llama-bpe`, `llama3` (LLaMA 3's, whole pre-tokens looked up before merging),
///   `smollm`, `starcoder` (digits one by one, then GPT-2's); `add_bos_token` (default false) /
///   `add_eos_token` add BOS / EOS; `bos_token_id`, `eos_token_id`, `padding_token_id` where given,
///   else the special ids are found by name as for a `tokenizer.json`. (llama.cpp's own `default` split differs a little from GPT-2's;
///   a converter writes `default` for a BPE vocabulary it does not recognise.)
///
/// Anything else (another model or pre-tokenizer) throws an error naming it: a `--tokenizer` file
/// can stand in.
public enum GGUFTokenizer {
    /// Reads the tokenizer of the GGUF file at `path`.
    /// - Throws: `GGUFError` naming the file and the field: a malformed file, or a tokenizer that
    ///   cannot be represented (with the hint that `--tokenizer` can stand in).
    public static func load(path: String) throws -> any Tokenizer {
        let file = try GGUFFile(path: path)
        do {
            return try make(file)
        } catch let error as GGUFError {
            throw GGUFError(error.description + "; pass --tokenizer with the model's own tokenizer file")
        }
    }

    /// The tokenizer of an opened GGUF file.
    public static func make(_ file: GGUFFile) throws -> any Tokenizer {
        let model = try file.require("tokenizer.ggml.model", file.string)
        let tokens = try file.require("tokenizer.ggml.tokens", file.strings)
        let types = try file.array("tokenizer.ggml.token_type", of: "integers", \.int) ?? Array(repeating: 1, count: tokens.count)
        guard types.count == tokens.count else {
            throw GGUFError(file.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        switch model {
        case "llama", "t5": return try sentencePiece(file, tokens: tokens, types: types, unigram: model == "t5")
        case "gpt2": return try byteLevelBPE(file, tokens: tokens, types: types)
        default:
            throw GGUFError(file.path, "tokenizer.ggml.model '\(model)' is not supported (supported: llama, t5, gpt2)")
        }
    }

    /// An optional token id, checked to be one of the `count` tokens.
    private static func tokenId(_ file: GGUFFile, _ key: String, count: Int) throws -> Int32? {
        guard let id = try file.metadata[key].map({ value -> Int in
            guard let id = value.int else { throw GGUFError(file.path, "metadata '\(key)' is \(value.kind), expected an integer") }
            return id
        }) else { return nil }
        if id == -1 || id == Int(UInt32.max) { return nil }  // "none", as some converters write it
        guard (0..<count).contains(id) else { throw GGUFError(file.path, "metadata '\(key)' = \(id) is outside the \(count) tokens") }
        return Int32(id)
    }

    private static func sentencePiece(_ file: GGUFFile, tokens: [String], types: [Int], unigram: Bool) throws -> any Tokenizer {
        let scores = try file.array("tokenizer.ggml.scores", of: "numbers", \.double) ?? Array(repeating: 0, count: tokens.count)
        guard scores.count == tokens.count else {
            throw GGUFError(file.path, "tokenizer.ggml.scores has \(scores.count) entries for \(tokens.count) tokens")
        }
        var pieces: [SentencePieceModel.Piece] = []
        for (i, token) in tokens.enumerated() {
            guard let type = SentencePieceModel.PieceType(rawValue: types[i]) else {
                throw GGUFError(file.path, "tokenizer.ggml.token_type[\(i)] = \(types[i]) is not a token type (1 normal … 6 byte)")
            }
            pieces.append(.init(text: token, score: Float(scores[i]), type: type))
        }
        var model = SentencePieceModel(pieces: pieces)
        model.modelType = unigram ? .unigram : .bpe
        model.byteFallback = pieces.contains { $0.type == .byte }
        model.unkId = try tokenId(file, "tokenizer.ggml.unknown_token_id", count: tokens.count) ?? 0
        model.bosId = try tokenId(file, "tokenizer.ggml.bos_token_id", count: tokens.count) ?? -1
        model.eosId = try tokenId(file, "tokenizer.ggml.eos_token_id", count: tokens.count) ?? -1
        model.padId = try tokenId(file, "tokenizer.ggml.padding_token_id", count: tokens.count) ?? -1
        model.addDummyPrefix = try file.bool("tokenizer.ggml.add_space_prefix") ?? true
        model.removeExtraWhitespaces = try file.bool("tokenizer.ggml.remove_extra_whitespaces") ?? false
        if let charsMap = try file.array("tokenizer.ggml.precompiled_charsmap", of: "bytes", { $0.int.flatMap(UInt8.init(exactly:)) }) {
            model.precompiledCharsMap = charsMap
        }
        var definition = Data(tokens.joined(separator: "\n").utf8)
        definition.append(contentsOf: scores.flatMap { withUnsafeBytes(of: Float($0).bitPattern.littleEndian, Array.init) })
        definition.append(contentsOf: types.map { UInt8(truncatingIfNeeded: $0) })
        return try SentencePieceTokenizer(model: model, path: file.path, fingerprint: fnv1a64Hex(definition),
                                          addsBOS: try file.bool("tokenizer.ggml.add_bos_token") ?? true,
                                          addsEOS: try file.bool("tokenizer.ggml.add_eos_token") ?? false)
    }

    /// GPT-2's split, as the `ByteLevel` pre-tokenizer with `use_regex` does it.
    private static let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]

    /// `tokenizer.ggml.pre` → the `tokenizer.json` pre-tokenizer that splits the same way.
    static func preTokenizer(_ name: String, path: String) throws -> [String: Any] {
        switch name {
        case "default", "gpt-2", "gpt2":
            return byteLevel
        case "llama-bpe", "llama3":
            let split: [String: Any] = [
                "type": "Split", "behavior": "Isolated", "invert": false,
                "pattern": ["Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"],
            ]
            var bytes = byteLevel
            bytes["use_regex"] = false
            return ["type": "Sequence", "pretokenizers": [split, bytes]]
        case "smollm", "starcoder":
            return ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
        default:
            throw GGUFError(path, "tokenizer.ggml.pre '\(name)' is not supported (supported: default, gpt-2, gpt2, llama-bpe, llama3, smollm, starcoder)")
        }
    }

    private static func byteLevelBPE(_ file: GGUFFile, tokens: [String], types: [Int]) throws -> any Tokenizer {
        let merges = try file.require("tokenizer.ggml.merges", file.strings)
        let pre = try file.string("tokenizer.ggml.pre") ?? "default"
        let preTokenizer = try preTokenizer(pre, path: file.path)
        // LLaMA 3 looks a whole pre-token up in the vocabulary before merging (llama.cpp does too).
        let ignoreMerges = pre == "llama-bpe" || pre == "llama3"
        let control = 3, userDefined = 4
        let added: [[String: Any]] = tokens.indices.compactMap { id in
            guard types[id] == control || types[id] == userDefined else { return nil }
            return ["id": id, "content": tokens[id], "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": false, "special": types[id] == control]
        }
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = id }
        // What encode adds: BOS / EOS where the file asks for them, else nothing (GPT-2's ByteLevel).
        var template: [[String: Any]] = [["Sequence": ["id": "A", "type_id": 0]]]
        var specials: [String: Any] = [:]
        func special(_ id: Int32) -> [String: Any] {
            specials[tokens[Int(id)]] = ["id": tokens[Int(id)], "ids": [Int(id)], "tokens": [tokens[Int(id)]]]
            return ["SpecialToken": ["id": tokens[Int(id)], "type_id": 0]]
        }
        if try file.bool("tokenizer.ggml.add_bos_token") ?? false, let bos = try tokenId(file, "tokenizer.ggml.bos_token_id", count: tokens.count) {
            template.insert(special(bos), at: 0)
        }
        if try file.bool("tokenizer.ggml.add_eos_token") ?? false, let eos = try tokenId(file, "tokenizer.ggml.eos_token_id", count: tokens.count) {
            template.append(special(eos))
        }
        let postProcessor: [String: Any] = specials.isEmpty
            ? ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true]
            : ["type": "TemplateProcessing", "single": template, "pair": template, "special_tokens": specials]
        let unknown = try tokenId(file, "tokenizer.ggml.unknown_token_id", count: tokens.count).map { tokens[Int($0)] as Any } ?? NSNull()
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added, "normalizer": NSNull(),
            "pre_tokenizer": preTokenizer, "post_processor": postProcessor,
            "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": unknown, "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignoreMerges,
                      "vocab": vocabulary, "merges": merges] as [String: Any],
        ]
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        let ids = HuggingFaceTokenizer.SpecialIds(bos: try tokenId(file, "tokenizer.ggml.bos_token_id", count: tokens.count),
                                                  eos: try tokenId(file, "tokenizer.ggml.eos_token_id", count: tokens.count),
                                                  pad: try tokenId(file, "tokenizer.ggml.padding_token_id", count: tokens.count))
        return try HuggingFaceTokenizer(data: data, path: file.path, specialIds: ids)
    }
}
