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
}
