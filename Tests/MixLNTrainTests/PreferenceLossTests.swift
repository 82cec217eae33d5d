import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTestSupport
@testable import MixLNTrain

/// Sigmoid DPO: log 2 at the start, the per-pair loss from both models' log-probabilities, and the
/// gradient against central differences.
final class PreferenceLossTests: XCTestCase {
    /// Two pairs of 8-token sequences over the Fixture vocabulary: the same prompt (targets ignored),
    /// then different replies (targets counted); pair i in rows 2i (chosen) and 2i+1 (rejected).
    static func pairBatch() -> TokenBatch {
        let prompts: [[Int32]] = [[1, 2, 3], [4, 5, 6]]
        let replies: [([Int32], [Int32])] = [([7, 8, 9], [10, 11]), ([12, 13], [14, 15, 16, 17])]
        var sequences: [TokenSequence] = []
        for (prompt, (chosen, rejected)) in zip(prompts, replies) {
            for reply in [chosen, rejected] {
                let ids = prompt + reply
                var tokens = [Int32](repeating: 0, count: Fixture.seqLen), targets = [Int32](repeating: CrossEntropy.ignoreIndex, count: Fixture.seqLen)
                for p in 0..<min(ids.count, Fixture.seqLen) { tokens[p] = ids[p] }
                for p in (prompt.count - 1)..<(ids.count - 1) where p < Fixture.seqLen { targets[p] = ids[p + 1] }
                sequences.append(TokenSequence(tokens: tokens, targets: targets))
            }
        }
        return TokenBatch(sequences, seqLen: Fixture.seqLen)
    }

    /// Adds noise of `scale` to every weight: a policy that has moved away from its reference.
    static func perturb<T: TensorScalar>(_ model: Transformer<T>, scale: Double, seed: UInt64) {
        let noise = FiniteDifference.randomVector(model.parameterCount, seed: seed, scale: scale)
        for i in 0..<model.parameterCount { model.parameters[i] += T(noise[i]) }
        model.parametersDidChange()
    }

    func testTheFirstLossIsLogTwoWithZeroRewards() throws {
        let model = try Fixture.model()
        let objective = try PreferenceObjective(startingFrom: model, beta: 0.1)
        model.zeroGradients()
        let result = try XCTUnwrap(objective.train(Self.pairBatch(), model: model, gradientScale: 1))
        XCTAssertEqual(result.loss, log(2), accuracy: 1e-6)
        for name in ["rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"] {
            XCTAssertEqual(result.metrics[name], 0, name)
        }
        XCTAssertLessThan(try XCTUnwrap(result.metrics["logps/chosen"]), 0)
        XCTAssertGreaterThan(model.gradientNorms().total, 0, "σ(0) = ½: the first update already separates the replies")
    }

    func testThePairLossIsComputedFromBothModelsLogProbabilities() throws {
        let policy = try Fixture.model()
        let objective = try PreferenceObjective(startingFrom: policy, beta: 0.5)
        Self.perturb(policy, scale: 0.05, seed: 9)
        let batch = Self.pairBatch(), B = batch.batchSize, T = batch.seqLen
        let loss = try PreferenceLoss.measure(policy: policy, reference: objective.reference, batch: batch, beta: 0.5)

        func sequenceLogps(_ model: Transformer<Float>) throws -> [Double] {
            let rows = try model.targetLogProbabilities(tokens: batch.tokens, targets: batch.targets, batch: B, seqLen: T)
            return (0..<B).map { rows[($0 * T)..<(($0 + 1) * T)].reduce(0, +) }
        }
        let pi = try sequenceLogps(policy), ref = try sequenceLogps(objective.reference)
        for i in 0..<(B / 2) {
            let x = 0.5 * ((pi[2 * i] - ref[2 * i]) - (pi[2 * i + 1] - ref[2 * i + 1]))
            let expected = -log(1 / (1 + exp(-x)))
            // Float models: the row losses and targetLogProbabilities round the same logits differently (~1e-6 per row).
            XCTAssertEqual(loss.losses[i], expected, accuracy: 1e-5, "pair \(i)")
            XCTAssertEqual(loss.chosenRewards[i], 0.5 * (pi[2 * i] - ref[2 * i]), accuracy: 1e-5)
        }
        XCTAssertNotEqual(loss.losses[0], log(2), accuracy: 1e-4, "the perturbed policy is not its reference")
        XCTAssertEqual(loss.meanLoss, loss.losses.reduce(0, +) / 2, accuracy: 1e-12)
        XCTAssertEqual(loss.metrics["rewards/margins"]!, (loss.logits[0] + loss.logits[1]) / 2, accuracy: 1e-12)
        XCTAssertEqual(loss.metrics["rewards/accuracies"]!, Double(loss.logits.filter { $0 > 0 }.count) / 2)
    }

    func testTheGradientMatchesFiniteDifferences() throws {
        let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2,
                                 vocabSize: 20, maxSequenceLength: 16, padTokenId: nil)
        let plan = try NormScheme.plan("mix:1", layers: 2)
        let reference = try Transformer<Double>(config: config, plan: plan)
        reference.initializeWeights(seed: 4)
        // Bigger than the official init so every path carries a visible gradient (as ModelGradientTests).
        for i in 0..<reference.parameterCount where reference.parameters[i] != 1 { reference.parameters[i] *= 5 }
        let policy = try Transformer<Double>(config: config, plan: plan)
        policy.parameters.pointer.update(from: reference.parameters.pointer, count: reference.parameterCount)
        Self.perturb(policy, scale: 0.05, seed: 21)
        let batch = Self.pairBatch(), beta = 0.7

        policy.zeroGradients()
        let loss = try PreferenceLoss.measure(policy: policy, reference: reference, batch: batch, beta: beta)
        XCTAssertGreaterThan(abs(loss.meanLoss - log(2)), 1e-3, "policy ≠ reference")
        loss.backward(policy: policy, batch: batch, scale: 1)
        let analytic = policy.gradients.array

        var indices: [Int] = []
        for tensor in policy.layout.tensors {
            var pick = RandomSource(seed: UInt64(tensor.offset) + 1)
            indices += (0..<min(5, tensor.count)).map { _ in tensor.offset + Int(pick.next() % UInt64(tensor.count)) }
        }
        let numeric = FiniteDifference.gradient(
            of: { try! PreferenceLoss.measure(policy: policy, reference: reference, batch: batch, beta: beta).meanLoss },
            at: policy.parameters.pointer, indices: indices)
        // A whole model in Double, as ModelGradientTests: 1e-5 relative.
        assertClose(indices.map { analytic[$0] }, numeric, relative: 1e-5, absolute: 1e-9, "DPO loss")
        XCTAssertGreaterThan(indices.filter { analytic[$0] != 0 }.count, indices.count / 2)
    }

    func testStableForLargeLogits() {
        let far = PreferenceLoss(beta: 1, policy: [0, -800, -800, 0], reference: [0, 0, 0, 0])
        XCTAssertEqual(far.losses[0], 0, accuracy: 1e-300)
        XCTAssertEqual(far.losses[1], 800, accuracy: 1e-9)
        XCTAssertEqual(far.sequenceGradients, [-0.0, 0.0, -0.5, 0.5])
    }
}
