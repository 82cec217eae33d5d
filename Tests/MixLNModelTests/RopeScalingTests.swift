import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

/// `rope_theta` and `rope_scaling` (LLaMA 3.x `llama3`, `linear`) against the inverse frequencies
/// transformers computes (`Fixtures/rope/rope_scaling.json`, written by
/// `scripts/reference/make_rope_fixtures.py`).
///
/// Tolerances: transformers computes in fp32, so its values are within a few ulps (≤ 1e-6 relative)
/// of the exact ones; the fixture's float64 evaluation of the same formula must match ours to 1e-12.
final class RopeScalingTests: XCTestCase {
    func cases() throws -> [[String: Any]] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("rope").appendingPathComponent("rope_scaling.json")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        return try XCTUnwrap(object["cases"] as? [[String: Any]])
    }

    func config(_ object: Any) throws -> ModelConfig {
        try ModelConfig.decode(JSONSerialization.data(withJSONObject: object), source: "config.json")
    }

    func testInverseFrequenciesMatchTransformers() throws {
        let all = try cases()
        XCTAssertEqual(all.count, 4)
        for c in all {
            let name = try XCTUnwrap(c["name"] as? String)
            let hf = try XCTUnwrap(c["inv_freq"] as? [Double]), exact = try XCTUnwrap(c["inv_freq_float64"] as? [Double])
            // The Hub's form (rope_theta + rope_scaling) and the one transformers ≥ 5 writes (rope_parameters).
            for key in ["config", "transformers_config"] {
                let frequencies = try config(XCTUnwrap(c[key])).ropeInverseFrequencies
                XCTAssertEqual(frequencies.count, hf.count, "\(name) \(key)")
                for (i, (ours, theirs)) in zip(frequencies, hf).enumerated() {
                    XCTAssertEqual(ours, theirs, accuracy: 1e-6 * theirs, "\(name) \(key): inverse frequency \(i)")
                }
                for (i, (ours, theirs)) in zip(frequencies, exact).enumerated() {
                    XCTAssertEqual(ours, theirs, accuracy: 1e-12 * theirs, "\(name) \(key): inverse frequency \(i) (float64)")
                }
            }
        }
        // The scaled cases really differ from plain RoPE (so ignoring rope_scaling fails above).
        let llama3 = try XCTUnwrap(all.first { $0["name"] as? String == "llama3.1-8b" })
        var plain = try config(XCTUnwrap(llama3["config"]))
        plain.ropeScaling = nil
        let scaled = try XCTUnwrap(llama3["inv_freq_float64"] as? [Double])
        XCTAssertGreaterThan(zip(plain.ropeInverseFrequencies, scaled).filter { abs($0 / $1 - 1) > 0.01 }.count, 10)
    }

    func testModelRotatesWithTheScaledFrequencies() throws {
        let object: [String: Any] = [
            "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 32,
            "rms_norm_eps": 1e-5, "max_position_embeddings": 48, "rope_theta": 500000.0,
            "rope_scaling": ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 16],
        ]
        let config = try config(object)
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("pre", layers: 1))
        let f = config.ropeInverseFrequencies, half = config.headDim / 2
        XCTAssertNotEqual(f, RopeScaling.unscaledInverseFrequencies(headDim: config.headDim, theta: 500000))
        for t in [1, 7, 47] {
            for i in 0..<half {
                XCTAssertEqual(model.rope.cosTable[t * half + i], cos(Double(t) * f[i]), accuracy: 1e-15, "position \(t), pair \(i)")
                XCTAssertEqual(model.rope.sinTable[t * half + i], sin(Double(t) * f[i]), accuracy: 1e-15, "position \(t), pair \(i)")
            }
        }
    }

    func testOtherRopeTypesAndBadParametersAreRefusedByName() throws {
        let base: [String: Any] = ["hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 2, "num_hidden_layers": 1,
                                   "vocab_size": 32, "rms_norm_eps": 1e-5]
        func refused(_ scaling: Any, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
            var object = base
            object["rope_scaling"] = scaling
            XCTAssertThrowsError(try config(object), file: file, line: line) { error in
                let message = "\(error)"
                XCTAssertFalse(message.contains("\n"), "one line: \(message)", file: file, line: line)
                for fragment in fragments {
                    XCTAssertTrue(message.contains(fragment), "'\(fragment)' in: \(message)", file: file, line: line)
                }
            }
        }
        refused(["rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096],
                ["config.json", "rope_scaling type 'yarn' is not supported", "llama3"])
        refused(["type": "dynamic", "factor": 2.0], ["'dynamic' is not supported"])
        refused(["rope_type": "llama3", "factor": 8.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192],
                ["'llama3' needs 'low_freq_factor'"])
        refused(["rope_type": "linear", "factor": 2.0, "beta_fast": 32], ["unknown key 'beta_fast'"])
        refused(["rope_type": "linear", "type": "llama3", "factor": 2.0], ["disagree"])
        refused(["factor": 2.0], ["no rope_type"])
        refused(["rope_type": "linear", "factor": 0.0], ["factor must be positive"])
        refused(["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
                 "original_max_position_embeddings": 8192], ["must be greater than low_freq_factor"])

        // Plain RoPE spelled out is accepted and is no scaling.
        for scaling: Any in [NSNull(), ["rope_type": "default"], ["type": "default"]] {
            var object = base
            object["rope_scaling"] = scaling
            XCTAssertNil(try config(object).ropeScaling)
        }
    }

    func testConfigRoundTripKeepsRopeScaling() throws {
        for scaling in [RopeScaling.linear(factor: 4),
                        .llama3(.init(factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192))] {
            let config = ModelConfig(hiddenSize: 32, intermediateSize: 48, numAttentionHeads: 2, numHiddenLayers: 2, vocabSize: 40,
                                     ropeTheta: 500000, ropeScaling: scaling)
            let json = try ModelDirectory.configJSON(config, plan: NormScheme.plan("pre", layers: 2))
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any])
            XCTAssertNotNil((object["rope_scaling"] as? [String: Any])?["rope_type"], "written in the current Hugging Face form")
            XCTAssertEqual(object["rope_theta"] as? Double, 500000)
            XCTAssertEqual(try ModelConfig.decode(json, source: "config.json"), config)
            XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: JSONEncoder().encode(config)), config, "Codable round trip")
        }
        let plain = ModelConfig(hiddenSize: 32, intermediateSize: 48, numAttentionHeads: 2, numHiddenLayers: 2, vocabSize: 40)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: ModelDirectory.configJSON(plain, plan: NormScheme.plan("pre", layers: 2)))
                                   as? [String: Any])
        XCTAssertNil(object["rope_scaling"], "no scaling, no key")
    }
}
