import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

/// DyT as the plan's norm function: the scheme names, the parameters it adds and their init, the
/// combinations it refuses, and how plans and model folders carry it (old plans read as RMSNorm).
/// Its gradients are checked in `OpGradientTests` and `ModelGradientTests`, its numbers against
/// PyTorch in `PyTorchParityTests`.
final class DynamicTanhTests: XCTestCase {
    let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 3,
                             vocabSize: 40, maxSequenceLength: 16)

    func testDytPrefixKeepsThePlacementAndNamesTheFunction() throws {
        for scheme in ["pre", "post", "mix:0.25", "mix:1", "sandwich", "peri", "deepnorm", "post_pre"] {
            let rms = try NormScheme.plan(scheme, layers: 4), dyt = try NormScheme.plan("dyt-" + scheme, layers: 4)
            XCTAssertEqual(dyt.layers, rms.layers, scheme)
            XCTAssertEqual(dyt.embeddingNorm, rms.embeddingNorm, scheme)
            XCTAssertEqual(rms.normFunction, .rms, scheme)
            XCTAssertEqual(dyt.normFunction, .dyt(DynamicTanhInit(attention: 0.5, mlp: 0.5)), scheme)
            XCTAssertEqual(dyt.scheme, "dyt-" + rms.scheme, scheme)
            XCTAssertFalse(dyt.buildsSameModel(as: rms), scheme)
            XCTAssertEqual(try NormScheme.plan(dyt.scheme, layers: 4), dyt, "\(scheme): the recorded name builds the plan again")
        }
        XCTAssertEqual(try NormScheme.plan("dyt-mix:1", layers: 4).withGPAS().scheme, "dyt-mix:1+gpas")
        XCTAssertEqual(try NormScheme.plan("dyt-pre", layers: 4).withNormFunction(.rms).scheme, "pre")
        XCTAssertNil(NormScheme.officialName(try NormScheme.plan("dyt-pre", layers: 4)), "the official code has no DyT")
        XCTAssertThrowsError(try NormScheme.plan("dyt-dyt-pre", layers: 4)) { XCTAssertTrue("\($0)".contains("twice"), "\($0)") }
        XCTAssertThrowsError(try NormScheme.plan("dyt-nonsense", layers: 4)) { XCTAssertTrue("\($0)".contains("unknown norm scheme"), "\($0)") }
    }

    /// QK-norm sites (`--qk-norm`, hybrid's q/k/v norms) have no DyT version: the plan refuses, by name.
    func testQKNormWithDyTIsRefused() throws {
        for plan in [try NormScheme.plan("dyt-pre", layers: 3).withQKNorm(.head), try NormScheme.plan("dyt-hybrid", layers: 3)] {
            XCTAssertThrowsError(try Transformer<Float>(config: config, plan: plan), plan.scheme) {
                XCTAssertTrue("\($0)".contains("QK-norm") && "\($0)".contains("DyT"), "\($0)")
            }
        }
    }

    func testAlphaValuesParseAndBadOnesAreRefused() throws {
        XCTAssertEqual(try DynamicTanhInit.parse("0.8,0.2"), DynamicTanhInit(attention: 0.8, mlp: 0.2))
        XCTAssertEqual(try DynamicTanhInit.parse("0.3"), DynamicTanhInit(attention: 0.3, mlp: 0.3))
        for (text, fragment) in [("0", "above 0"), ("-0.5", "above 0"), ("0.5,0", "above 0"), ("inf", "above 0"),
                                 ("half", "must be a number"), ("0.5,", "must be a number"), ("0.1,0.2,0.3", "got 3")] {
            XCTAssertThrowsError(try DynamicTanhInit.parse(text), text) { XCTAssertTrue("\($0)".contains(fragment), "\(text): \($0)") }
        }
        var plan = try NormScheme.plan("dyt-pre", layers: 3)
        plan.normFunction = .dyt(DynamicTanhInit(attention: 0, mlp: 0.5))
        XCTAssertThrowsError(try plan.validate(layerCount: 3)) { XCTAssertTrue("\($0)".contains("α₀"), "\($0)") }
    }

    /// Every norm site gets `<norm>.alpha` next to its weight, and the embedding its scale; RMSNorm has neither.
    func testParametersAreNamedNextToTheirNorms() throws {
        let dyt = ParameterLayout(config: config, plan: try NormScheme.plan("dyt-peri", layers: 3))
        let rms = ParameterLayout(config: config, plan: try NormScheme.plan("peri", layers: 3))
        let names = dyt.tensors.map(\.name)
        XCTAssertEqual(Set(names).subtracting(rms.tensors.map(\.name)),
                       Set(["model.embed_scale", "model.embed_norm.alpha", "model.norm.alpha"] + (0..<3).flatMap { l in
                           ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]
                               .map { "model.layers.\(l).\($0).alpha" }
                       }))
        for tensor in dyt.tensors where tensor.name.hasSuffix(".alpha") {
            let weight = try XCTUnwrap(dyt.tensor(named: tensor.name.replacingOccurrences(of: ".alpha", with: ".weight")))
            XCTAssertEqual(tensor.shape, [1])
            XCTAssertEqual(tensor.offset, weight.offset + weight.count, "\(tensor.name) right after its weight")
            XCTAssertEqual(tensor.role, weight.role, "\(tensor.name) grouped with its weight")
        }
        XCTAssertEqual(dyt.tensor(named: "model.embed_scale")?.role, .embeddingScale)
        XCTAssertEqual(dyt.finalNorm.alpha, dyt.tensor(named: "model.norm.alpha")?.offset)
        XCTAssertNil(rms.embeddingScale)
        XCTAssertNil(rms.finalNorm.alpha)
    }

    /// α starts at A on the attention side and the embedding norm, at B on the MLP side and the final
    /// norm; γ at 1 (the input norms' at the plan's weight); the embedding scale at √C.
    func testInitPutsAOnAttentionSitesAndBOnMLPSites() throws {
        for scheme in ["dyt-peri", "dyt-mix:1", "dyt-lns-learnable"] {
            var plan = try NormScheme.plan(scheme, layers: 3)
            plan.normFunction = .dyt(DynamicTanhInit(attention: 0.8, mlp: 0.2))
            let model = try Transformer<Double>(config: config, plan: plan)
            model.initializeWeights(seed: 1)
            var alphas = 0
            for tensor in model.layout.tensors where tensor.name.hasSuffix(".alpha") {
                // By name: post_attention_layernorm is the attention's output or post norm where it has one, else the MLP's input norm.
                let name = tensor.name, attention = plan.layers[tensor.layer ?? 0].attention
                let attentionSide = name.contains("input_layernorm") || name.contains("embed_norm")
                    || (name.contains("post_attention_layernorm") && (attention.outputNorm || attention.postNorm))
                XCTAssertEqual(model.parameters[tensor.offset], attentionSide ? 0.8 : 0.2, "\(scheme): \(name)")
                alphas += 1
            }
            XCTAssertEqual(alphas, model.layout.tensors.filter { $0.role != .embeddingScale && $0.shape == [config.hiddenSize] }.count, scheme)
            XCTAssertEqual(model.parameters[try XCTUnwrap(model.layout.embeddingScale)], 4, "\(scheme): √16")
            let finalWeight = model.layout.finalNorm.weight
            XCTAssertEqual((0..<16).map { model.parameters[finalWeight + $0] }, Array(repeating: 1, count: 16), scheme)
        }
        // The MLP input norm of a Pre-LN layer is named post_attention_layernorm but is on the MLP side.
        let pre = try Transformer<Double>(config: config, plan: NormScheme.plan("dyt-pre", layers: 3)
            .withNormFunction(.dyt(DynamicTanhInit(attention: 0.9, mlp: 0.1))))
        pre.initializeWeights(seed: 1)
        XCTAssertEqual(pre.parameters[try XCTUnwrap(pre.layout.tensor(named: "model.layers.1.post_attention_layernorm.alpha")).offset], 0.1)
        XCTAssertEqual(pre.parameters[try XCTUnwrap(pre.layout.tensor(named: "model.layers.1.input_layernorm.alpha")).offset], 0.9)
    }

    /// The embedding scale is in the embedding's gradient group, the final norm's α in the final norm's.
    func testGradientNormsCountTheNewParameters() throws {
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("dyt-pre", layers: 3))
        model.initializeWeights(seed: 2)
        model.zeroGradients()
        try model.forward(tokens: [1, 2, 3, 4, 5, 6], targets: [2, 3, 4, 5, 6, 7], batch: 1, seqLen: 6)
        model.backward()
        let norms = model.gradientNorms()
        let p = norms.parameters
        let embedding = try XCTUnwrap(p["model.embed_tokens.weight"]), scale = try XCTUnwrap(p["model.embed_scale"])
        XCTAssertGreaterThan(scale, 0)
        XCTAssertEqual(norms.embedding, (embedding * embedding + scale * scale).squareRoot(), accuracy: 1e-12)
        let weight = try XCTUnwrap(p["model.norm.weight"]), alpha = try XCTUnwrap(p["model.norm.alpha"])
        XCTAssertGreaterThan(alpha, 0)
        XCTAssertEqual(norms.finalNorm, (weight * weight + alpha * alpha).squareRoot(), accuracy: 1e-12)
        let layerAlpha = try XCTUnwrap(p["model.layers.2.input_layernorm.alpha"])
        XCTAssertGreaterThan(layerAlpha, 0)
        XCTAssertGreaterThanOrEqual(norms.layers[2].norms, layerAlpha)
    }

    /// An RMSNorm plan encodes exactly the keys it had before `norm_fn` existed, so its configs stay
    /// byte for byte as they were; a plan without the key reads as RMSNorm; a DyT plan round-trips.
    func testPlansWithoutTheFieldAreRMSNormAndDyTRoundTrips() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let rms = try NormScheme.plan("mix:1", layers: 3)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: encoder.encode(rms)) as? [String: Any])
        XCTAssertEqual(object.keys.sorted(), ["embedding_norm", "layers", "scheme"])
        XCTAssertEqual(try JSONDecoder().decode(NormPlan.self, from: encoder.encode(rms)).normFunction, .rms)

        var dyt = try NormScheme.plan("dyt-mix:1", layers: 3)
        dyt.normFunction = .dyt(DynamicTanhInit(attention: 0.8, mlp: 0.2))
        let json = try encoder.encode(dyt)
        XCTAssertTrue(String(decoding: json, as: UTF8.self).contains(#""norm_fn":{"alpha_attention":0.8,"alpha_mlp":0.2,"name":"dyt"}"#),
                      String(decoding: json, as: UTF8.self))
        XCTAssertEqual(try JSONDecoder().decode(NormPlan.self, from: json), dyt)
        let bad = Data(#"{"layers": [], "embedding_norm": false, "scheme": "x", "norm_fn": {"name": "layer"}}"#.utf8)
        XCTAssertThrowsError(try JSONDecoder().decode(NormPlan.self, from: bad)) { XCTAssertTrue("\($0)".contains("unknown norm function"), "\($0)") }
    }

    func testModelFolderRebuildsDyTFromItsConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dyt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var plan = try NormScheme.plan("dyt-mix:1", layers: 3)
        plan.normFunction = .dyt(DynamicTanhInit(attention: 0.8, mlp: 0.2))
        let model = try Transformer<Float>(config: config, plan: plan)
        model.initializeWeights(seed: 3)
        try ModelDirectory.save(model, to: directory)
        let configPath = directory + "/config.json"
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any])
        XCTAssertEqual(object["norm_type"] as? String, "dyt-mix:1")

        let loaded: Transformer<Float> = try ModelDirectory.load(directory)
        XCTAssertEqual(loaded.plan, plan)
        XCTAssertEqual(loaded.parameters.array, model.parameters.array)
        // --norm without the prefix takes DyT (and its α₀) from the saved plan, as it does QK-norm and GPAS.
        XCTAssertEqual(try (ModelDirectory.load(directory, norm: "mix:1") as Transformer<Float>).plan.normFunction, plan.normFunction)
        XCTAssertThrowsError(try ModelDirectory.load(directory, norm: "dyt-pre") as Transformer<Float>)

        // Without norm_plan (a folder as the PyTorch reference writes it): norm_type names DyT, and
        // with a --norm that does not, the embed_scale tensor says it.
        var stripped = object
        stripped.removeValue(forKey: "norm_plan")
        try JSONSerialization.data(withJSONObject: stripped).write(to: URL(fileURLWithPath: configPath))
        XCTAssertEqual(try (ModelDirectory.load(directory) as Transformer<Float>).plan.normFunction, .dyt(DynamicTanhInit()))
        XCTAssertEqual(try (ModelDirectory.load(directory, norm: "post_pre") as Transformer<Float>).plan.normFunction, .dyt(DynamicTanhInit()))

        // An RMSNorm folder asked to load as DyT: the placement differs, and the weights lack α.
        let rms = try Transformer<Float>(config: config, plan: NormScheme.plan("mix:1", layers: 3))
        rms.initializeWeights(seed: 3)
        try ModelDirectory.save(rms, to: directory)
        XCTAssertEqual(try (ModelDirectory.load(directory) as Transformer<Float>).plan.normFunction, .rms)
        XCTAssertThrowsError(try ModelDirectory.load(directory, norm: "dyt-mix:1") as Transformer<Float>) {
            XCTAssertTrue("\($0)".contains("disagree"), "\($0)")
        }
    }
}
