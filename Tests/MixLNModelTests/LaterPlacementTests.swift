import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

/// The placements that came after Mix-LN, as plans: reordered norm (OLMo 2), ReZero, SkipInit,
/// LayerScale and learnable LayerNorm Scaling — their plans, init values and saved form.
final class LaterPlacementTests: XCTestCase {
    func model(_ scheme: String, layers: Int = 4) throws -> Transformer<Float> {
        let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: layers,
                                 vocabSize: 30, maxSequenceLength: 12)
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: layers))
        model.initializeWeights(seed: 1)
        return model
    }

    func values(_ model: Transformer<Float>, _ name: String) throws -> [Float] {
        let tensor = try XCTUnwrap(model.layout.tensor(named: name), name)
        return Array(UnsafeBufferPointer(start: model.parameters.pointer + tensor.offset, count: tensor.count))
    }

    func testReorderedNormalizesOnlyTheOutputsUnderOLMo2Names() throws {
        let m = try model("reordered")
        XCTAssertEqual(m.plan.layers[0].attention, SublayerNorms(outputNorm: true))
        XCTAssertEqual(m.plan.layers[3].mlp, SublayerNorms(outputNorm: true))
        let names = Set(m.layout.tensors.filter { $0.layer == 2 && $0.role == .layerNorm }.map(\.name))
        XCTAssertEqual(names, ["model.layers.2.post_attention_layernorm.weight", "model.layers.2.post_feedforward_layernorm.weight"])
    }

    func testHybridNormNormalizesQKVAndTakesTheFFNSkipFromItsNorm() throws {
        let m = try model("hybrid")
        for l in 0..<4 {
            XCTAssertEqual(m.plan.layers[l].attention, SublayerNorms(), "no attention input norm")
            XCTAssertEqual(m.plan.layers[l].mlp, SublayerNorms(inputNorm: true, skipFromNormedInput: true))
            XCTAssertEqual(m.plan.layers[l].qkNorm, .full)
            XCTAssertTrue(m.plan.layers[l].valueNorm)
        }
        XCTAssertEqual(m.layout.tensor(named: "model.layers.2.self_attn.v_norm.weight")?.shape, [16])
        XCTAssertNil(m.layout.tensor(named: "model.layers.2.input_layernorm.weight"))
        XCTAssertEqual(m.plan.scheme, "hybrid")

        let star = try model("hybrid-star")
        XCTAssertEqual(star.plan.layers[0].attention, .pre, "HybridNorm*: the first block's attention keeps its input norm")
        XCTAssertEqual(star.plan.layers[0].mlp, .pre, "and a plain Pre-LN FFN")
        XCTAssertTrue(star.plan.layers[0].valueNorm)
        XCTAssertEqual(star.plan.layers[1], m.plan.layers[1])
        XCTAssertThrowsError(try NormScheme.plan("hybrid", layers: 2).withQKNorm(.none).validate(layerCount: 2), "v norm needs a mode")
    }

    /// `skip_from_normed_input` is written only when set, so earlier plans' JSON is unchanged.
    func testSkipFromNormedInputIsOnlyWrittenWhenSet() throws {
        let text = String(decoding: try JSONEncoder().encode(try NormScheme.plan("pre", layers: 1)), as: UTF8.self)
        XCTAssertFalse(text.contains("skip_from_normed_input"))
        let hybrid = String(decoding: try JSONEncoder().encode(try NormScheme.plan("hybrid", layers: 1)), as: UTF8.self)
        XCTAssertTrue(hybrid.contains(#""skip_from_normed_input":true"#))
    }

    func testOutputScalesStartWhereTheirPapersSay() throws {
        let rezero = try model("rezero")
        XCTAssertEqual(try values(rezero, "model.layers.1.attention_scale.weight"), [0])
        XCTAssertEqual(try values(rezero, "model.layers.1.mlp_scale.weight"), [0])
        XCTAssertFalse(rezero.layout.tensors.contains { $0.role == .layerNorm }, "ReZero has no norm in its layers")

        XCTAssertEqual(try values(try model("skipinit"), "model.layers.0.mlp_scale.weight"), [Float(0.5)], "1/√L for L = 4")

        let layerScale = try model("layerscale")
        XCTAssertEqual(try values(layerScale, "model.layers.3.attention_scale.weight"), Array(repeating: Float(0.1), count: 16))
        XCTAssertNotNil(layerScale.layout.tensor(named: "model.layers.3.input_layernorm.weight"), "LayerScale is Pre-LN")
        XCTAssertEqual(try NormScheme.plan("layerscale", layers: 24).layers[0].mlp.outputScale?.initialValue, 1e-5)
        XCTAssertEqual(try NormScheme.plan("layerscale", layers: 36).layers[0].mlp.outputScale?.initialValue, 1e-6)
        XCTAssertEqual(try values(try model("layerscale:0.02"), "model.layers.0.mlp_scale.weight").first, 0.02)
        XCTAssertThrowsError(try NormScheme.plan("layerscale:-1", layers: 4))
        XCTAssertThrowsError(try NormScheme.plan("rezero:2", layers: 4))
    }

    func testLearnableLayerNormScalingStartsItsInputNormsAtOneOverRootDepth() throws {
        let m = try model("lns-learnable")
        for l in 0..<4 {
            let expected = Float(1 / Double(l + 1).squareRoot())
            XCTAssertEqual(try values(m, "model.layers.\(l).input_layernorm.weight"), Array(repeating: expected, count: 16))
            XCTAssertEqual(try values(m, "model.layers.\(l).post_attention_layernorm.weight"), Array(repeating: expected, count: 16))
            XCTAssertEqual(m.plan.layers[l].attention.inputNormScale, 1, "the scale is in the learnable weight, not fixed")
        }
        XCTAssertEqual(try values(m, "model.norm.weight"), Array(repeating: 1, count: 16), "the final norm starts at 1")
    }

    /// The same function at init: LNS with a fixed 1/√ℓ and learnable LNS starting at 1/√ℓ give the same loss.
    func testLearnableLayerNormScalingEqualsTheFixedOneAtInit() throws {
        let tokens: [Int32] = [1, 5, 9, 2, 7, 3], targets: [Int32] = [5, 9, 2, 7, 3, 1]
        let fixed = try model("lns"), learnable = try model("lns-learnable")
        let a = try fixed.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 6)
        let b = try learnable.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 6)
        XCTAssertEqual(a, b, accuracy: 1e-6)
    }

    func testPlansRoundTripAndOlderPlansLoad() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("later-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for scheme in ["reordered", "rezero", "skipinit", "layerscale", "lns-learnable", "hybrid", "hybrid-star"] {
            let m = try model(scheme)
            try ModelDirectory.save(m, to: directory)
            let loaded: Transformer<Float> = try ModelDirectory.load(directory)
            XCTAssertEqual(loaded.plan, m.plan, scheme)
            XCTAssertEqual(loaded.parameters.array, m.parameters.array, scheme)
        }
        // A plan written before output scales and input norm weights existed has neither key.
        let plan = try NormScheme.plan("pre", layers: 2)
        let text = String(decoding: try JSONEncoder().encode(plan), as: UTF8.self)
        XCTAssertFalse(text.contains("output_scale"), "no output scale, no key")
        let older = text.replacingOccurrences(of: #","input_norm_weight":1"#, with: "").replacingOccurrences(of: #""input_norm_weight":1,"#, with: "")
        XCTAssertFalse(older.contains("input_norm_weight"))
        XCTAssertEqual(try JSONDecoder().decode(NormPlan.self, from: Data(older.utf8)), plan)
    }
}
