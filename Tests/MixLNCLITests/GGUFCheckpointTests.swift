import Foundation
import MixLNGGUF
import MixLNTensor
import MixLNTestSupport
import XCTest

/// `--checkpoint model.gguf`: a LLaMA GGUF file (permuted q/k as llama.cpp's converter writes them,
/// GQA, tied head, the GPT-2 byte-level fixture's vocabulary in its metadata) evaluates, scores,
/// analyzes and generates exactly as the same weights in a safetensors folder with the same
/// tokenizer as a `tokenizer.json`.
final class GGUFCheckpointTests: CLITestCase {
    let C = 32, I = 64, H = 4, KV = 2, L = 2

    /// Fixed pseudo-random weights (LCG), std ≈ scale; norm weights around 1.
    func weights(_ count: Int, scale: Float, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let uniform = Float(state >> 40) / Float(1 << 24) * 2 - 1
            return scale < 0 ? 1 + uniform / 4 : uniform * scale * 1.7
        }
    }

    /// Official name, GGUF name, shape (outermost first), init scale (negative: a norm).
    var tensors: [(official: String, gguf: String, shape: [Int], scale: Float)] {
        var list: [(String, String, [Int], Float)] = [("model.embed_tokens.weight", "token_embd.weight", [2000, C], 0.5)]
        for l in 0..<L {
            let p = "model.layers.\(l).", b = "blk.\(l)."
            list += [(p + "input_layernorm.weight", b + "attn_norm.weight", [C], -1),
                     (p + "post_attention_layernorm.weight", b + "ffn_norm.weight", [C], -1),
                     (p + "self_attn.q_proj.weight", b + "attn_q.weight", [C, C], 0.3),
                     (p + "self_attn.k_proj.weight", b + "attn_k.weight", [KV * C / H, C], 0.3),
                     (p + "self_attn.v_proj.weight", b + "attn_v.weight", [KV * C / H, C], 0.1),
                     (p + "self_attn.o_proj.weight", b + "attn_output.weight", [C, C], 0.1),
                     (p + "mlp.gate_proj.weight", b + "ffn_gate.weight", [I, C], 0.1),
                     (p + "mlp.up_proj.weight", b + "ffn_up.weight", [I, C], 0.1),
                     (p + "mlp.down_proj.weight", b + "ffn_down.weight", [C, I], 0.1)]
        }
        return list + [("model.norm.weight", "output_norm.weight", [C], -1)]
    }

    /// Writes the GGUF file (tokenizer from `gpt2_bytelevel.json`, pre-tokenizer `pre`) and the
    /// equivalent folder (config.json, model.safetensors, tokenizer.json); returns both paths.
    func makeModel(pre: String = "gpt-2") throws -> (gguf: String, folder: String) {
        let folder = workDirectory.appendingPathComponent("folder-\(pre)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var gguf = GGUFWriter(), safetensors = SafeTensorsWriter(metadata: ["format": "pt"])
        gguf.add("general.architecture", string: "llama")
        for (key, value) in [("embedding_length", C), ("feed_forward_length", I), ("block_count", L), ("attention.head_count", H),
                             ("attention.head_count_kv", KV), ("context_length", 64)] {
            gguf.add("llama.\(key)", uint32: UInt32(value))
        }
        gguf.add("llama.attention.layer_norm_rms_epsilon", float32: 0x1p-17)
        gguf.add("llama.rope.freq_base", float32: 10000)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tokenizerFixture("gpt2_bytelevel.json")))) as? [String: Any])
        let model = try XCTUnwrap(json["model"] as? [String: Any])
        var tokens = [String](repeating: "", count: 2000), types = [Int32](repeating: 1, count: 2000)
        for (token, id) in try XCTUnwrap(model["vocab"] as? [String: Int]) { tokens[id] = token }
        types[0] = 3  // <|endoftext|>, the fixture's one special added token
        gguf.add("tokenizer.ggml.model", string: "gpt2")
        gguf.add("tokenizer.ggml.pre", string: pre)
        gguf.add("tokenizer.ggml.tokens", strings: tokens)
        gguf.add("tokenizer.ggml.token_type", int32s: types)
        gguf.add("tokenizer.ggml.merges", strings: try XCTUnwrap(model["merges"] as? [[String]]).map { $0.joined(separator: " ") })
        for (index, tensor) in tensors.enumerated() {
            let values = weights(tensor.shape.reduce(1, *), scale: tensor.scale, seed: UInt64(index + 1))
            safetensors.add(tensor.official, shape: tensor.shape, array: values)
            let heads = tensor.official.hasSuffix("q_proj.weight") ? H : tensor.official.hasSuffix("k_proj.weight") ? KV : nil
            let stored = heads.map { GGUFWriter.llamaCppPermute(values, heads: $0, columns: C) } ?? values
            gguf.addTensor(tensor.gguf, dimensions: tensor.shape.reversed(), type: GGMLType.f32.rawValue, bytes: GGUFQuantizer.encode(stored, as: .f32))
        }
        let path = workDirectory.appendingPathComponent("model-\(pre).gguf").path
        try gguf.write(to: path)
        try safetensors.write(to: folder + "/model.safetensors")
        let config: [String: Any] = ["hidden_size": C, "intermediate_size": I, "num_attention_heads": H, "num_key_value_heads": KV,
                                     "num_hidden_layers": L, "vocab_size": 2000, "max_position_embeddings": 64, "rms_norm_eps": 0x1p-17,
                                     "rope_theta": 10000, "tie_word_embeddings": true, "norm_type": "pre"]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
        try FileManager.default.copyItem(atPath: tokenizerFixture("gpt2_bytelevel.json"), toPath: folder + "/tokenizer.json")
        return (path, folder)
    }

    func testGGUFEvaluatesScoresAnalyzesAndGeneratesAsTheSafetensorsFolder() throws {
        let (gguf, folder) = try makeModel()
        let corpus = try tinyCorpus()
        for command in [["eval"], ["analyze", "angular"]] {
            let args = command + ["--data", corpus, "--seq-len", "32", "--max-tokens", "400", "--json"]
            let fromGGUF = try jsonObject(try mixln(args + ["--checkpoint", gguf]))
            let fromFolder = try jsonObject(try mixln(args + ["--checkpoint", folder]))
            XCTAssertEqual(fromGGUF as NSDictionary, fromFolder as NSDictionary, command.joined(separator: " "))
        }
        let tasks = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("eval_mc/simple.jsonl.gz").path
        let scored = try jsonObject(try mixln(["eval-mc", "--checkpoint", gguf, "--tasks", tasks, "--json"]))
        XCTAssertEqual(scored as NSDictionary, try jsonObject(try mixln(["eval-mc", "--checkpoint", folder, "--tasks", tasks, "--json"])) as NSDictionary)
        let generate = ["generate", "--prompt", "To be, or not", "--max-new-tokens", "6", "--json"]
        let generated = try jsonObject(try mixln(generate + ["--checkpoint", gguf]))
        XCTAssertEqual((generated["ids"] as? [Int])?.count, 6)
        XCTAssertEqual(generated as NSDictionary, try jsonObject(try mixln(generate + ["--checkpoint", folder])) as NSDictionary)
        let text = workDirectory.appendingPathComponent("text.txt")
        try "Whether 'tis nobler in the mind, 2024!".write(to: text, atomically: true, encoding: .utf8)
        XCTAssertEqual(try jsonObject(try mixln(["tokenize", "--tokenizer", gguf, "--json"], stdin: text)) as NSDictionary,
                       try jsonObject(try mixln(["tokenize", "--tokenizer", folder, "--json"], stdin: text)) as NSDictionary)
    }

    func testRefusalsAndTokenizerOverride() throws {
        let (gguf, _) = try makeModel(pre: "qwen2")
        let corpus = try tinyCorpus()
        // The vocabulary's pre-tokenizer is not one we can build: say so, and let --tokenizer stand in.
        assertCleanFailure(try mixln(["eval", "--checkpoint", gguf, "--data", corpus]), mentioning: "tokenizer.ggml.pre 'qwen2' is not supported")
        let overridden = try jsonObject(try mixln(["eval", "--checkpoint", gguf, "--data", corpus, "--seq-len", "32", "--max-tokens", "100",
                                                   "--tokenizer", tokenizerFixture("gpt2_bytelevel.json"), "--json"]))
        XCTAssertNotNil(overridden["loss"] as? Double)
        assertCleanFailure(try mixln(["eval", "--checkpoint", gguf, "--data", corpus, "--weights", "bf16"]), mentioning: "dequantized to fp32")
        assertCleanFailure(try mixln(["eval", "--checkpoint", gguf, "--data", corpus, "--norm", "post"]), mentioning: "Pre-LN")
        let missing = workDirectory.appendingPathComponent("absent.gguf").path
        assertCleanFailure(try mixln(["eval", "--checkpoint", missing, "--data", corpus]), mentioning: "no such file")
    }
}
