import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// Whole-model gradient checks: every norm scheme of design.md §3 through a tiny model in Double.
///
/// Width 16, 4 layers, 2 heads, vocabulary 50, 2 sequences of 8 tokens with some ignored targets.
/// For each parameter tensor up to 6 entries are checked against central differences; tolerance
/// 1e-5 relative + 1e-9 absolute (a whole model compounds rounding a little more than one op).
final class ModelGradientTests: XCTestCase {
    static let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 4,
                                    vocabSize: 50, maxSequenceLength: 16, padTokenId: nil)
    static let schemes = ["pre", "post", "mix", "mix:3", "mix:0.5", "mix-reversed:1", "sandwich", "peri", "deepnorm",
                          "deepnorm-official", "scaled-pre", "scaled-mix:1", "lns", "interleaved:2",
                          "post_pre", "pre_post", "deeppost", "scale_pre", "scale_post_pre", "post_pre_post_pre",
                          "lns-learnable", "reordered", "rezero", "skipinit", "layerscale", "layerscale:0.3", "hybrid", "hybrid-star"]

    func checkGradients(scheme schemeName: String, qkNorm: QKNorm? = nil, gpas: Bool = false, skipping skipped: Set<Int> = [], config: ModelConfig = ModelGradientTests.config,
                        absolute: Double = 1e-9, file: StaticString = #filePath, line: UInt = #line) throws {
        let base = try NormScheme.plan(schemeName, layers: config.numHiddenLayers)
        let named = qkNorm.map { base.withQKNorm($0) } ?? base
        let plan = gpas ? named.withGPAS() : named
        let model = try Transformer<Double>(config: config, plan: plan)
        model.initializeWeights(seed: 42)
        // Bigger init than the official 0.02 so every path carries a visible gradient; Xavier init
        // (deeppost: std 0.25–0.6 at this width) is big already, and 5× that makes the loss too curved
        // for central differences.
        let boost: Double = plan.layers.contains { $0.initialization.distribution == .xavierNormal } ? 1 : 5
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= boost }
        // Output scales λ away from their init: at ReZero's λ = 0 no branch would carry a gradient.
        for tensor in model.layout.tensors where tensor.role == .outputScale && !tensor.name.hasSuffix("gpas_gate.weight") {
            for i in 0..<tensor.count { model.parameters[tensor.offset + i] = 0.4 + 0.15 * Double(i % 4) }
        }
        // DyT's α and embedding scale away from their init (and the ×5) but where tanh still bends, not
        // saturated: a saturated site passes no gradient, so nothing before it would be checked.
        for tensor in model.layout.tensors where tensor.name.hasSuffix(".alpha") {
            model.parameters[tensor.offset] = 0.3 + 0.1 * Double(tensor.offset % 5)
        }
        if let scale = model.layout.embeddingScale { model.parameters[scale] = 0.6 }
        model.skippedLayers = skipped
        let B = 2, T = 8
        var rng = RandomSource(seed: 7)
        let tokens = (0..<(B * T)).map { _ in Int32(rng.next() % 50) }
        var targets = (0..<(B * T)).map { _ in Int32(rng.next() % 50) }
        targets[3] = CrossEntropy.ignoreIndex
        targets[B * T - 1] = CrossEntropy.ignoreIndex

        model.zeroGradients()
        let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
        XCTAssertTrue(loss.isFinite, file: file, line: line)
        model.backward()
        let analytic = model.gradients.array

        var indices: [Int] = []
        for tensor in model.layout.tensors {
            var pick = RandomSource(seed: UInt64(tensor.offset) + 1)
            indices += (0..<min(6, tensor.count)).map { _ in tensor.offset + Int(pick.next() % UInt64(tensor.count)) }
        }
        let numeric = FiniteDifference.gradient(of: { try! model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T) },
                                                at: model.parameters.pointer, indices: indices)
        assertClose(indices.map { analytic[$0] }, numeric, relative: 1e-5, absolute: absolute, "\(schemeName) qk-norm \(qkNorm.map(\.rawValue) ?? "as the scheme")", file: file, line: line)
        let nonZero = indices.filter { analytic[$0] != 0 }.count
        XCTAssertGreaterThan(nonZero, indices.count / 2, "\(schemeName): most sampled gradients should be non-zero", file: file, line: line)
    }

    func testEverySchemeMatchesFiniteDifferences() throws {
        for scheme in Self.schemes { try checkGradients(scheme: scheme) }
    }

    func testGroupedQueryAttentionAndTiedEmbeddings() throws {
        var config = Self.config
        config.hiddenSize = 24
        config.numAttentionHeads = 4
        config.numKeyValueHeads = 2
        config.tieWordEmbeddings = true
        // The tied head reuses the ×5 embedding (std ≈ 3): saturated softmax, sharper curvature, so
        // central differences carry ~1e-8 absolute truncation error here.
        for scheme in ["pre", "mix:2", "sandwich"] { try checkGradients(scheme: scheme, config: config, absolute: 3e-8) }
        config.numKeyValueHeads = 1
        config.tieWordEmbeddings = false
        try checkGradients(scheme: "post", config: config)
    }

    /// QK-norm per head and over the full projections, under each kind of placement, and with grouped-query attention.
    /// Normalized q and k make the ×5 attention logits sharper (q·k no longer shrinks with small
    /// weights), so central differences carry ~1e-9 absolute truncation error on gradients of ~1e-5.
    func testQKNormWithEveryKindOfPlacement() throws {
        for mode in [QKNorm.head, .full] {
            for scheme in mode == .head ? ["pre", "post", "sandwich", "deepnorm"] : ["pre", "mix"] {
                try checkGradients(scheme: scheme, qkNorm: mode, absolute: 3e-9)
            }
            var config = Self.config
            config.hiddenSize = 24
            config.numAttentionHeads = 4
            config.numKeyValueHeads = 2
            try checkGradients(scheme: "mix:1", qkNorm: mode, config: config)
        }
    }

    /// GPAS at its init (every gate a = 0, factor 1 − SiLU(0) = 1): there the stop-gradient changes
    /// nothing, so the true derivative, finite differences included, is what backward must give — the
    /// gates' own gradients included. Away from 0 the stop-gradient is checked against PyTorch's
    /// detach() (`PyTorchParityTests`, mix-gpas) and op by op (`GradientPreservingScaleTests`).
    func testGPASAtItsInitMatchesFiniteDifferences() throws {
        for scheme in ["pre", "post", "mix", "deepnorm"] { try checkGradients(scheme: scheme, gpas: true) }
    }

    /// DyT at every kind of norm site: input (pre), post (post, mix), input + output (sandwich) and the
    /// embedding norm (peri), with LayerNorm Scaling's factor on its input sites (lns) and GPAS; every
    /// site's α and the embedding scale are among the checked entries (each a one-value tensor).
    func testDynamicTanhWithEveryKindOfPlacement() throws {
        for scheme in ["dyt-pre", "dyt-post", "dyt-mix", "dyt-sandwich", "dyt-peri", "dyt-lns"] {
            try checkGradients(scheme: scheme)
        }
        try checkGradients(scheme: "dyt-mix", gpas: true)
    }

    func testSkippedLayerGradients() throws {
        try checkGradients(scheme: "mix", skipping: [1])
    }

    func testPaddingRowNeverGetsGradient() throws {
        var config = Self.config
        config.padTokenId = -1
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("pre", layers: 4))
        model.initializeWeights(seed: 1)
        let row = model.layout.embedding + 49 * config.hiddenSize
        XCTAssertEqual((0..<config.hiddenSize).map { model.parameters[row + $0] }, Array(repeating: 0, count: config.hiddenSize))
        try model.forward(tokens: [49, 3, 49, 7], targets: [3, 49, 7, CrossEntropy.ignoreIndex], batch: 1, seqLen: 4)
        model.backward()
        XCTAssertEqual((0..<config.hiddenSize).map { model.gradients[row + $0] }, Array(repeating: 0, count: config.hiddenSize))
    }
}
