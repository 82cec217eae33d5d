import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import XCTest
@testable import MixLNAnalysis

/// acc and acc_norm as lm-evaluation-harness defines them, on questions whose answers a
/// hand-built model forces.
final class MultipleChoiceEvaluationTests: XCTestCase {
    /// Logit per byte of the forced model: every other id gets −10.
    static let logits: [UInt8: Double] = [UInt8(ascii: " "): 2, UInt8(ascii: "a"): 1, UInt8(ascii: "b"): 0.5, UInt8(ascii: "c"): -3]
    static let eps = 1e-6

    /// A one-layer Pre-LN model over the byte vocabulary whose next-token distribution is the same
    /// after any context: embeddings are all ones, every sublayer weight is zero (so each sublayer
    /// adds 0 and the stream stays ones), and row t of the LM head is z_t / C, so the logits are
    /// z_t / √(1 + ε) (the final RMSNorm of a ones vector).
    static func forcedModel() throws -> Transformer<Float> {
        let config = ModelConfig(hiddenSize: 8, intermediateSize: 8, numAttentionHeads: 2, numHiddenLayers: 1,
                                 vocabSize: ByteTokenizer().vocabularySize, maxSequenceLength: 64, rmsNormEps: Self.eps)
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 1))
        let C = config.hiddenSize
        for tensor in model.layout.tensors {
            let p = model.parameters.pointer + tensor.offset
            switch tensor.role {
            case .embedding, .embeddingScale, .embeddingNorm, .layerNorm, .outputScale, .finalNorm: p.update(repeating: 1, count: tensor.count)
            case .lmHead:
                for t in 0..<config.vocabSize {
                    (p + t * C).update(repeating: Float((t < 256 ? Self.logits[UInt8(t)] : nil) ?? -10) / Float(C), count: C)
                }
            case .query, .key, .value, .attentionOutput, .gate, .up, .down: p.update(repeating: 0, count: tensor.count)
            }
        }
        return model
    }

    /// log p(byte) under the forced model.
    func logProbability(_ byte: UInt8) -> Double {
        let scale = 1 / (1 + Self.eps).squareRoot()
        let z = (0..<258).map { t in (t < 256 ? Self.logits[UInt8(t)] : nil) ?? -10 }.map { $0 * scale }
        let top = z.max()!
        return z[Int(byte)] - (top + log(z.reduce(0) { $0 + exp($1 - top) }))
    }

    func testForcedAnswersGiveTheHarnessAccAndAccNorm() throws {
        // With log p(' ') ≈ −0.47, p(a) ≈ −1.47, p(b) ≈ −1.97, p(c) ≈ −5.47 (whatever the context):
        //   Q0 ["aa", "b"],  gold 0: sums −3.41, −2.44 → pred 1; per char −1.70, −2.44 → pred_norm 0
        //   Q1 ["c", "a"],   gold 1: sums −5.94, −1.94 → pred 1, pred_norm 1
        //   Q2 ["b", "aaaa"], gold 0: sums −2.44, −6.35 → pred 0; per char −2.44, −1.59 → pred_norm 1
        //   Q3 ["a", "ab"],  gold 1: sums −1.94, −3.91 → pred 0; per char −1.94, −1.95 → pred_norm 0
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("forced.jsonl").path
        try """
            {"context": "Question: which?", "choices": ["aa", "b"], "gold": 0}
            {"context": "Q1", "choices": ["c", "a"], "gold": 1}
            {"context": "Another, longer context for the third question", "choices": ["b", "aaaa"], "gold": 0}
            {"context": "Q3", "choices": ["a", "ab"], "gold": 1}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let model = try Self.forcedModel()
        let task = try EncodedTask(MultipleChoiceTaskReader.read(path: path), encoder: LoglikelihoodEncoder(tokenizer: ByteTokenizer()),
                                   window: model.config.maxSequenceLength)
        let report = try MultipleChoiceEvaluation.run(model, tasks: [task], batchTokens: 64)

        XCTAssertEqual(report.items.map(\.pred), [1, 1, 0, 0])
        XCTAssertEqual(report.items.map(\.predNorm), [0, 1, 1, 0])
        let choices = [["aa", "b"], ["c", "a"], ["b", "aaaa"], ["a", "ab"]]
        for (item, options) in zip(report.items, choices) {
            for (ll, option) in zip(item.loglikelihoods, options) {
                let expected = (" " + option).utf8.reduce(0) { $0 + logProbability($1) }
                XCTAssertEqual(ll, expected, accuracy: 1e-5, "\(option)")
            }
        }
        let accuracy = try XCTUnwrap(report.tasks.first)
        XCTAssertEqual(accuracy.task, "forced")
        XCTAssertEqual(accuracy.n, 4)
        XCTAssertEqual(accuracy.acc, 0.5)
        XCTAssertEqual(accuracy.accNorm, 0.5)
        XCTAssertEqual(accuracy.accStderr, (0.25 / 3).squareRoot(), accuracy: 1e-12, "√(p(1−p)/(n−1))")
        XCTAssertEqual(accuracy.accNormStderr, (0.25 / 3).squareRoot(), accuracy: 1e-12)
    }

    func testScoringTakesTheFirstMaximumAndTheHarnessStandardError() {
        XCTAssertEqual(MultipleChoiceScoring.argmax([-2, -1, -1, -3]), 1, "numpy's argmax: the first on ties")
        let question = EncodedQuestion(docID: 9, gold: 1, choices: [
            EncodedChoice(tokens: [1, 2], continuationCount: 1, characters: 1),
            EncodedChoice(tokens: [1, 2, 3], continuationCount: 2, characters: 4),
        ])
        let score = MultipleChoiceScoring.score(question, task: "t", loglikelihoods: [-2, -3])
        XCTAssertEqual(score.pred, 0)
        XCTAssertEqual(score.predNorm, 1, "−3/4 > −2/1")
        XCTAssertEqual(MultipleChoiceScoring.meanStderr([1, 0, 0, 0, 1]), (0.4 * 0.6 / 4).squareRoot(), accuracy: 1e-15)
        XCTAssertTrue(MultipleChoiceScoring.meanStderr([1]).isNaN, "no standard error from one question")
    }

    func testScoresDoNotDependOnHowChoicesAreBatched() throws {
        let model = try AnalysisFixture.model("mix:1")
        let choices = (0..<7).map { i in
            EncodedChoice(tokens: (0..<(3 + 2 * i)).map { Int32(($0 * 5 + i) % 40) }, continuationCount: 1 + i % 3, characters: 1)
        } + [EncodedChoice(tokens: [4], continuationCount: 0, characters: 1)]
        let together = try ContinuationScorer.loglikelihoods(model, choices: choices, batchTokens: 4096)
        let alone = try ContinuationScorer.loglikelihoods(model, choices: choices, batchTokens: 1)
        XCTAssertEqual(together.last, 0, "a continuation of no tokens scores 0, as in the harness")
        for (a, b) in zip(together, alone) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
        // Against one unpadded forward per choice.
        for (choice, sum) in zip(choices, together) where choice.continuationCount > 0 {
            let n = choice.tokens.count - 1
            let targets = (0..<n).map { $0 >= n - choice.continuationCount ? choice.tokens[$0 + 1] : CrossEntropy.ignoreIndex }
            let lp = try model.targetLogProbabilities(tokens: Array(choice.tokens.prefix(n)), targets: targets, batch: 1, seqLen: n)
            XCTAssertEqual(sum, lp.reduce(0, +), accuracy: 1e-5 * abs(sum))
        }
    }
}
