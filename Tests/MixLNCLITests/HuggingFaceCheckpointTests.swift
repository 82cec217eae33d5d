import Foundation
import XCTest

/// A `LlamaForCausalLM` folder as Hugging Face writes it — grouped-query attention, tied
/// embeddings, bf16 weights, HF's config keys — made by the test, then evaluated and sampled.
final class HuggingFaceCheckpointTests: CLITestCase {
    /// Writes `model.safetensors` with every tensor in BF16 (values from a fixed LCG, std ≈ scale).
    func writeBF16Safetensors(_ tensors: [(name: String, shape: [Int], scale: Float)], to path: String) throws {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var body = Data()
        var state: UInt64 = 12345
        for tensor in tensors {
            let count = tensor.shape.reduce(1, *)
            let start = body.count
            for _ in 0..<count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let uniform = Float(state >> 40) / Float(1 << 24) * 2 - 1
                let value = tensor.scale < 0 ? Float(1) : uniform * tensor.scale * 1.7
                let bits = UInt16(value.bitPattern >> 16)
                withUnsafeBytes(of: bits.littleEndian) { body.append(contentsOf: $0) }
            }
            header[tensor.name] = ["dtype": "BF16", "shape": tensor.shape, "data_offsets": [start, body.count]]
        }
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        try file.write(to: URL(fileURLWithPath: path))
    }

    func makeLlamaFolder() throws -> String {
        let folder = workDirectory.appendingPathComponent("llama").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let config = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 1,
         "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 64,
         "max_position_embeddings": 64, "model_type": "llama", "num_attention_heads": 4, "num_hidden_layers": 2,
         "num_key_value_heads": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
         "tie_word_embeddings": true, "torch_dtype": "bfloat16", "transformers_version": "4.40.0", "use_cache": true,
         "vocab_size": 300}
        """
        try config.write(toFile: folder + "/config.json", atomically: true, encoding: .utf8)
        var tensors: [(String, [Int], Float)] = [("model.embed_tokens.weight", [300, 32], 0.5)]
        for l in 0..<2 {
            let p = "model.layers.\(l)."
            tensors += [(p + "input_layernorm.weight", [32], -1), (p + "post_attention_layernorm.weight", [32], -1),
                        (p + "self_attn.q_proj.weight", [32, 32], 0.1), (p + "self_attn.k_proj.weight", [16, 32], 0.1),
                        (p + "self_attn.v_proj.weight", [16, 32], 0.1), (p + "self_attn.o_proj.weight", [32, 32], 0.1),
                        (p + "mlp.gate_proj.weight", [64, 32], 0.1), (p + "mlp.up_proj.weight", [64, 32], 0.1),
                        (p + "mlp.down_proj.weight", [32, 64], 0.1)]
        }
        tensors.append(("model.norm.weight", [32], -1))
        try writeBF16Safetensors(tensors.map { (name: $0.0, shape: $0.1, scale: $0.2) }, to: folder + "/model.safetensors")
        return folder
    }

    func testLlamaFolderWithGQATiedBF16LoadsEvaluatesAndGenerates() throws {
        let folder = try makeLlamaFolder()
        let corpus = try tinyCorpus()
        let eval = try mixln(["eval", "--checkpoint", folder, "--norm", "pre", "--data", corpus, "--seq-len", "32", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let result = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let loss = try XCTUnwrap(result["loss"] as? Double)
        XCTAssertTrue(loss.isFinite && loss > 0, "\(loss)")
        let generated = try mixln(["generate", "--checkpoint", folder, "--norm", "pre", "--prompt", "Whether", "--max-new-tokens", "5", "--json"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        let ids = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(generated.stdout.utf8)) as? [String: Any])?["ids"] as? [Int])
        XCTAssertEqual(ids.count, 5)
        let norms = try mixln(["analyze", "grad-norms", "--checkpoint", folder, "--norm", "pre", "--data", corpus, "--seq-len", "32", "--json"])
        XCTAssertEqual(norms.status, 0, norms.stderr)
        // Without --norm the folder says nothing about its placement.
        assertCleanFailure(try mixln(["eval", "--checkpoint", folder, "--data", corpus]), mentioning: "pass --norm")
        // Post-LN needs norms this folder does not have.
        assertCleanFailure(try mixln(["eval", "--checkpoint", folder, "--norm", "post", "--data", corpus]), mentioning: "missing tensor")
    }

    /// bf16 weights kept in bf16 give exactly what they give widened to fp32 (products in fp32), in
    /// every forward-only command.
    func testWeightsBF16MatchesFP32AndGradNormsRefuseIt() throws {
        let folder = try makeLlamaFolder()
        let corpus = try tinyCorpus()
        let common = ["--checkpoint", folder, "--norm", "pre", "--data", corpus, "--seq-len", "32", "--max-tokens", "200", "--json",
                      "--precision", "fp32"]
        for command in [["eval"], ["analyze", "angular"], ["analyze", "layer-drop"], ["analyze", "logit-lens"]] {
            var outputs: [String] = []
            for weights in ["fp32", "bf16", "auto"] {
                let run = try mixln(command + common + ["--weights", weights])
                XCTAssertEqual(run.status, 0, run.stderr)
                outputs.append(run.stdout)
            }
            XCTAssertEqual(outputs[1], outputs[0], "\(command) bf16 vs fp32")
            XCTAssertEqual(outputs[2], outputs[0], "\(command) auto vs fp32")
        }
        let generate = ["generate", "--checkpoint", folder, "--norm", "pre", "--prompt", "Whether", "--max-new-tokens", "6",
                        "--temperature", "0.7", "--seed", "4", "--json", "--precision", "fp32"]
        let fp32 = try mixln(generate + ["--weights", "fp32"]), bf16 = try mixln(generate + ["--weights", "bf16"])
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        XCTAssertEqual(bf16.stdout, fp32.stdout)
        assertCleanFailure(try mixln(["analyze", "grad-norms"] + common + ["--weights", "bf16"]), mentioning: "--weights fp32")
        let norms = try mixln(["analyze", "grad-norms"] + common + ["--weights", "auto"])
        XCTAssertEqual(norms.status, 0, norms.stderr)
        let unknown = try mixln(["eval"] + common + ["--weights", "fp16"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("'fp16'"), unknown.stderr)
    }

    /// Without --precision, a model held in bf16 computes its products in bf16 (as `--precision bf16`),
    /// and one held in fp32 in fp32: the default follows the weights.
    func testDefaultPrecisionFollowsTheWeights() throws {
        let folder = try makeLlamaFolder()
        let corpus = try tinyCorpus()
        let common = ["eval", "--checkpoint", folder, "--norm", "pre", "--data", corpus, "--seq-len", "32", "--max-tokens", "200", "--json"]
        func loss(_ extra: [String]) throws -> Double {
            let run = try mixln(common + extra)
            XCTAssertEqual(run.status, 0, run.stderr)
            return try XCTUnwrap(try jsonObject(run)["loss"] as? Double, run.stdout)
        }
        let fp32 = try loss(["--weights", "fp32"]), bf16Held = try loss(["--weights", "bf16"])
        XCTAssertEqual(bf16Held, try loss(["--weights", "bf16", "--precision", "bf16"]), "bf16 weights default to bf16 products")
        XCTAssertEqual(fp32, try loss(["--weights", "fp32", "--precision", "fp32"]), "fp32 weights default to fp32 products")
        XCTAssertNotEqual(bf16Held, fp32, "bf16 products round their inputs: the default is not fp32's")
        XCTAssertEqual(bf16Held, fp32, accuracy: 0.01 * abs(fp32))
    }

    func testWeightsBF16OnAnF32CheckpointFailsClearly() throws {
        let corpus = try tinyCorpus()
        let train = try mixln(["train", "--model", try tinyConfig(), "--norm", "pre", "--data", corpus, "--steps", "1", "--batch-size", "2",
                               "--seq-len", "16", "--out", "run"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let run = workDirectory.appendingPathComponent("run").path
        assertCleanFailure(try mixln(["eval", "--checkpoint", run, "--data", corpus, "--seq-len", "16", "--weights", "bf16"]),
                           mentioning: "stored as F32")
        let auto = try mixln(["eval", "--checkpoint", run, "--data", corpus, "--seq-len", "16"])
        XCTAssertEqual(auto.status, 0, "auto loads an F32 checkpoint in fp32: \(auto.stderr)")
    }
}
