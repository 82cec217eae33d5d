import Foundation
import MixLNTensor
import XCTest
@testable import MixLNModel

/// `Transformer.targetLogProbabilities`: each position's log p(target), what multiple-choice scoring sums.
final class TargetLogProbabilityTests: XCTestCase {
    let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2,
                             vocabSize: 30, maxSequenceLength: 12)

    func testEachPositionIsTheLogSoftmaxOfItsTargetAndIgnoredOnesAreZero() throws {
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("mix:1", layers: 2))
        model.initializeWeights(seed: 3)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 6 }  // peaked logits
        let (B, T) = (2, 6), V = config.vocabSize
        let tokens: [Int32] = [4, 9, 22, 1, 0, 17, 29, 3, 3, 8, 12, 5]
        let ignore = CrossEntropy.ignoreIndex
        let targets: [Int32] = [9, 22, ignore, 0, 17, ignore, 3, ignore, 8, 12, 5, 2]

        try model.forward(tokens: tokens, targets: Array(repeating: ignore, count: B * T), batch: B, seqLen: T)
        let logits = model.activations!.logits  // untouched: every target ignored
        var expected = [Double](repeating: 0, count: B * T)
        for n in 0..<(B * T) where targets[n] != ignore {
            let row = (0..<V).map { logits[n * V + $0] }, top = row.max()!
            let logSumExp = top + log(row.reduce(0) { $0 + exp($1 - top) })
            expected[n] = row[Int(targets[n])] - logSumExp
        }

        let got = try model.targetLogProbabilities(tokens: tokens, targets: targets, batch: B, seqLen: T)
        XCTAssertEqual(got.count, B * T)
        for n in 0..<(B * T) {
            if targets[n] == ignore { XCTAssertEqual(got[n], 0, "ignored position \(n)") }
            XCTAssertEqual(got[n], expected[n], accuracy: 1e-10, "position \(n)")
        }
        let counted = got.filter { $0 != 0 }
        XCTAssertGreaterThan(counted.max()! - counted.min()!, 1, "peaked weights: the check is not near-uniform (log 30 = 3.4)")

        let loss = try model.forward(tokens: tokens, targets: targets, batch: B, seqLen: T)
        XCTAssertEqual(-got.reduce(0, +) / Double(model.lastPredictedCount), loss, accuracy: 1e-12, "minus the mean is forward's loss")
    }

    func testTargetsTooUnlikelyForAFloatProbabilityStayFinite() throws {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 2))
        model.initializeWeights(seed: 8)
        let head = try XCTUnwrap(model.layout.tensors.first { $0.role == .lmHead })
        for i in 0..<head.count { model.parameters[head.offset + i] *= 2000 }  // logits spread over thousands
        let tokens: [Int32] = [1, 2, 3, 4], V = config.vocabSize
        try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: 4), batch: 1, seqLen: 4)
        let logits = (0..<(4 * V)).map { Double(model.activations!.logits[$0]) }
        let worst = (0..<4).map { t in (0..<V).min { logits[t * V + $0] < logits[t * V + $1] }! }  // the least likely id
        let got = try model.targetLogProbabilities(tokens: tokens, targets: worst.map(Int32.init), batch: 1, seqLen: 4)
        for t in 0..<4 {
            let row = Array(logits[(t * V)..<((t + 1) * V)]), top = row.max()!
            let expected = row[worst[t]] - top - log(row.reduce(0) { $0 + exp($1 - top) })
            XCTAssertLessThan(expected, -200, "below Float's smallest probability (log ≈ −103)")
            XCTAssertEqual(got[t], expected, accuracy: 1e-5 * abs(expected), "position \(t)")
        }
    }

    /// In bf16 the head's second run reads a bf16 copy of its rows, as the forward's head does:
    /// minus the mean is the bf16 forward's loss, not the fp32 one.
    func testInBFloat16TheLogProbabilitiesAreThoseOfTheBFloat16Head() throws {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("mix:1", layers: 2))
        model.initializeWeights(seed: 5)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 6 }  // peaked logits
        model.parametersDidChange()
        let tokens: [Int32] = [4, 9, 22, 1, 0, 17, 29, 3], targets: [Int32] = [9, 22, 1, 0, 17, 29, 3, 2]
        let fp32 = try model.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 8)
        model.matmulPrecision = .bf16
        let loss = try model.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 8)
        XCTAssertGreaterThan(abs(loss - fp32), 1e-5 * loss, "bf16 differs from fp32 by more than the tolerance below")
        let got = try model.targetLogProbabilities(tokens: tokens, targets: targets, batch: 1, seqLen: 8)
        XCTAssertEqual(-got.reduce(0, +) / 8, loss, accuracy: 1e-6 * loss)
    }
}
