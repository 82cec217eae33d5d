import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// `backward(rowLossWeights:)`: the gradient of Σ_n w_n·rowLoss_n, after the same forward as `backward(lossScale:)`
/// (the LM head recomputed in one chunk; `FusedHeadTests` covers several chunks and `.weightedBackward`).
final class RowLossWeightTests: XCTestCase {
    let B = 2, T = 8
    var tokens: [Int32] = [], targets: [Int32] = []

    override func setUp() {
        var rng = RandomSource(seed: 11)
        tokens = (0..<(B * T)).map { _ in Int32(rng.next() % 50) }
        targets = (0..<(B * T)).map { _ in Int32(rng.next() % 50) }
        targets[2] = CrossEntropy.ignoreIndex
        targets[B * T - 1] = CrossEntropy.ignoreIndex
    }

    func model() throws -> Transformer<Double> {
        let model = try Transformer<Double>(config: ModelGradientTests.config, plan: NormScheme.plan("mix:1", layers: 4))
        model.initializeWeights(seed: 3)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 5 }
        return model
    }

    func testUniformWeightsAreTheMeanLossBackward() throws {
        let model = try model()
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
        model.backward(lossScale: 1)
        let mean = model.gradients.array
        let count = model.lastPredictedCount
        XCTAssertEqual(count, B * T - 2)
        // Ignored rows' weights are never read: give them a value that would show.
        let weights = targets.map { $0 == CrossEntropy.ignoreIndex ? 1e6 : 1 / Double(count) }
        model.zeroGradients()
        try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
        weights.withUnsafeBufferPointer { model.backward(rowLossWeights: $0.baseAddress!) }
        XCTAssertEqual(model.gradients.array, mean, "the same arithmetic as backward(lossScale: 1)")
    }

    func testWeightedRowsMatchFiniteDifferences() throws {
        let model = try model()
        let weights = FiniteDifference.randomVector(B * T, seed: 5, scale: 2)  // (B·T) signed, like DPO's
        func weightedLoss() -> Double {
            try! model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
            return zip(model.lastRowLosses, weights).map { $0 * $1 }.reduce(0, +)
        }
        model.zeroGradients()
        _ = weightedLoss()
        XCTAssertEqual(model.lastRowLosses.reduce(0, +) / Double(model.lastPredictedCount),
                       try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T), accuracy: 1e-12)
        XCTAssertEqual(model.lastRowLosses[2], 0, "an ignored row has no loss")
        weights.withUnsafeBufferPointer { model.backward(rowLossWeights: $0.baseAddress!) }
        let analytic = model.gradients.array
        var indices: [Int] = []
        for tensor in model.layout.tensors {
            var pick = RandomSource(seed: UInt64(tensor.offset) + 3)
            indices += (0..<min(4, tensor.count)).map { _ in tensor.offset + Int(pick.next() % UInt64(tensor.count)) }
        }
        let numeric = FiniteDifference.gradient(of: weightedLoss, at: model.parameters.pointer, indices: indices)
        // Tolerance as ModelGradientTests: a whole model in Double.
        assertClose(indices.map { analytic[$0] }, numeric, relative: 1e-5, absolute: 1e-9, "weighted rows")
    }
}
