import Foundation
import MixLNTestSupport
import XCTest
@testable import MixLNData

/// The parity fixtures re-encoded as GGUF metadata (`tokenizer.ggml.*`, as llama.cpp's converter
/// writes it from the same files) must give the same ids and decodes as the files themselves.
extension TokenizerParityTests {
    /// Writes a GGUF file holding only tokenizer metadata; returns its path.
    func ggufFile(_ name: String, _ fill: (inout GGUFWriter) -> Void) throws -> String {
        var writer = GGUFWriter()
        writer.add("general.architecture", string: "llama")
        fill(&writer)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).gguf").path
        try writer.write(to: path)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// A SentencePiece `.model` fixture's pieces and options as GGUF metadata.
    func sentencePieceGGUF(_ fixture: String, model kind: String, addBOS: Bool, addEOS: Bool) throws -> String {
        let model = try SentencePieceModel(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture)))), path: fixture)
        return try ggufFile(fixture) { w in
            w.add("tokenizer.ggml.model", string: kind)
            w.add("tokenizer.ggml.tokens", strings: model.pieces.map(\.text))
            w.add("tokenizer.ggml.scores", float32s: model.pieces.map(\.score))
            w.add("tokenizer.ggml.token_type", int32s: model.pieces.map { Int32($0.type.rawValue) })
            for (key, id) in [("unknown", model.unkId), ("bos", model.bosId), ("eos", model.eosId), ("padding", model.padId)] where id >= 0 {
                w.add("tokenizer.ggml.\(key)_token_id", uint32: UInt32(id))
            }
            w.add("tokenizer.ggml.add_bos_token", bool: addBOS)
            w.add("tokenizer.ggml.add_eos_token", bool: addEOS)
            w.add("tokenizer.ggml.add_space_prefix", bool: model.addDummyPrefix)
            w.add("tokenizer.ggml.remove_extra_whitespaces", bool: model.removeExtraWhitespaces)
            if !model.precompiledCharsMap.isEmpty { w.add("tokenizer.ggml.precompiled_charsmap", uint8s: model.precompiledCharsMap) }
        }
    }

    /// A byte-level BPE `tokenizer.json` fixture as GGUF metadata: tokens by id, merges as "a b",
    /// special added tokens as CONTROL.
    func byteLevelGGUF(_ fixture: String, pre: String, bos: Int?, eos: Int? = nil) throws -> String {
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture)))) as? [String: Any])
        let model = try XCTUnwrap(json["model"] as? [String: Any])
        let vocab = try XCTUnwrap(model["vocab"] as? [String: Int])
        let added = try XCTUnwrap(json["added_tokens"] as? [[String: Any]])
        var tokens = [String](repeating: "", count: vocab.count), types = [Int32](repeating: 1, count: vocab.count)
        for (token, id) in vocab { tokens[id] = token }
        for token in added { types[token["id"] as! Int] = 3 }
        let merges = try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") }
        return try ggufFile(fixture) { w in
            w.add("tokenizer.ggml.model", string: "gpt2")
            w.add("tokenizer.ggml.pre", string: pre)
            w.add("tokenizer.ggml.tokens", strings: tokens)
            w.add("tokenizer.ggml.token_type", int32s: types)
            w.add("tokenizer.ggml.merges", strings: merges)
            if let eos { w.add("tokenizer.ggml.eos_token_id", uint32: UInt32(eos)) }
            if let bos {
                w.add("tokenizer.ggml.bos_token_id", uint32: UInt32(bos))
                w.add("tokenizer.ggml.add_bos_token", bool: true)
            }
        }
    }

    func testGGUFSentencePieceBPEWithByteFallback() throws {
        let tokenizer = try TokenizerLoader.load(path: sentencePieceGGUF("llama_bpe.model", model: "llama", addBOS: true, addEOS: false))
        let file = try SentencePieceTokenizer(path: Self.fixture("llama_bpe.model"))
        XCTAssertEqual([tokenizer.bosId, tokenizer.eosId, tokenizer.unkId, tokenizer.padId], [file.bosId, file.eosId, file.unkId, file.padId])
        try assertParity(tokenizer, "llama_bpe.expected.json")
    }

    func testGGUFSentencePieceUnigram() throws {
        try assertParity(TokenizerLoader.load(path: sentencePieceGGUF("t5_unigram.model", model: "t5", addBOS: false, addEOS: true)),
                         "t5_unigram.expected.json")
        try assertParity(TokenizerLoader.load(path: sentencePieceGGUF("options_unigram.model", model: "t5", addBOS: false, addEOS: true)),
                         "options_unigram.expected.json")
    }

    func testGGUFByteLevelBPE() throws {
        try assertParity(TokenizerLoader.load(path: byteLevelGGUF("gpt2_bytelevel.json", pre: "gpt-2", bos: nil)), "gpt2_bytelevel.expected.json")
    }

    func testGGUFLlama3ByteLevelBPE() throws {
        let tokenizer = try TokenizerLoader.load(path: byteLevelGGUF("llama3_style.json", pre: "llama-bpe", bos: 0, eos: 7))
        XCTAssertEqual(tokenizer.bosId, 0)
        XCTAssertEqual(tokenizer.eosId, 7, "the file's eos_token_id, not the one found by name (1)")
        try assertParity(tokenizer, "llama3_style.expected.json")
    }

    func testGGUFTokenizerRefusesWhatItCannotRepresent() throws {
        let unknownPre = try byteLevelGGUF("gpt2_bytelevel.json", pre: "qwen2", bos: nil)
        XCTAssertThrowsError(try TokenizerLoader.load(path: unknownPre)) {
            XCTAssertTrue("\($0)".contains("tokenizer.ggml.pre 'qwen2' is not supported") && "\($0)".contains("--tokenizer"), "\($0)")
        }
        let unknownModel = try ggufFile("rwkv") { w in
            w.add("tokenizer.ggml.model", string: "rwkv")
            w.add("tokenizer.ggml.tokens", strings: ["a", "b"])
        }
        XCTAssertThrowsError(try TokenizerLoader.load(path: unknownModel)) {
            XCTAssertTrue("\($0)".contains("tokenizer.ggml.model 'rwkv' is not supported"), "\($0)")
        }
        let noTokenizer = try ggufFile("none") { _ in }
        XCTAssertThrowsError(try TokenizerLoader.load(path: noTokenizer)) {
            XCTAssertTrue("\($0)".contains("missing metadata 'tokenizer.ggml.model'"), "\($0)")
        }
    }
}
