import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// GPAS's stop-gradient, exactly: `out = z − SiLU(a)·sg(z)` scales the forward by `1 − SiLU(a)`, while
/// the backward passes dL/dz unscaled and gives the gate the derivative with `sg(z)` held constant.
final class GradientPreservingScaleTests: XCTestCase {
    func silu(_ a: Double) -> Double { a / (1 + Foundation.exp(-a)) }

    func testFactorIsOneMinusSiLU() {
        for a in [0.0, 0.5, -1.3, 4.0] {
            XCTAssertEqual(GradientPreservingScale.factor(gate: a), 1 - silu(a), accuracy: 1e-15)
        }
        XCTAssertEqual(GradientPreservingScale.factor(gate: 0.0), 1, "the identity at init")
    }

    /// The gate's gradient against central differences of `L(a) = Σ r ⊙ α·(z − SiLU(a)·c)` with `c = z` held constant.
    func testGateGradientHoldsTheStoppedValueConstant() {
        let n = 7, alpha = 0.8
        let z = FiniteDifference.randomVector(n, seed: 1, scale: 2), r = FiniteDifference.randomVector(n, seed: 2)
        for a in [0.0, 0.7, -1.1] {
            var dGate = [0.0]
            GradientPreservingScale.backwardGate(dGate: &dGate, dOut: r, inp: z, gate: [a], count: n, scale: alpha)
            func loss(_ gate: [Double]) -> Double {
                let stopped = silu(gate[0])
                var sum = 0.0
                for i in 0..<n { sum += r[i] * alpha * (z[i] - stopped * z[i]) }
                return sum
            }
            let numeric = FiniteDifference.gradient(at: [a], loss)
            assertClose(dGate, numeric, "gate at a = \(a)")
        }
    }

    /// Through a whole model away from a = 0: the gradient reaching the embedding is the stop-gradient's,
    /// not the true one — they differ by the factor the forward applied and backward did not.
    func testBackwardDiffersFromTheTrueDerivativeAwayFromZero() throws {
        let config = ModelConfig(hiddenSize: 8, intermediateSize: 12, numAttentionHeads: 2, numHiddenLayers: 2,
                                 vocabSize: 20, maxSequenceLength: 8, padTokenId: nil)
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("pre", layers: 2).withGPAS())
        model.initializeWeights(seed: 3)
        let tokens: [Int32] = [1, 4, 7, 2], targets: [Int32] = [4, 7, 2, 9]
        let gates = model.layout.tensors.filter { $0.name.hasSuffix("gpas_gate.weight") }
        XCTAssertEqual(gates.count, 2, "one gate per layer, shared by its sublayers")
        for gate in gates { model.parameters[gate.offset] = 1.5 }
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 4)
        model.backward()
        let embedding = model.layout.embedding + 4 * config.hiddenSize  // row of token 4
        let analytic = (0..<config.hiddenSize).map { model.gradients[embedding + $0] }
        let numeric = FiniteDifference.gradient(of: { try! model.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 4) },
                                                at: model.parameters.pointer, indices: Array(embedding..<(embedding + config.hiddenSize)))
        let differs = zip(analytic, numeric).contains { abs($0 - $1) > 1e-3 * max(abs($0), abs($1)) }
        XCTAssertTrue(differs, "with a ≠ 0 the stop-gradient makes backward differ from the true derivative")
    }
}
