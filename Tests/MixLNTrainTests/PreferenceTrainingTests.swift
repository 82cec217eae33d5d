import XCTest
import MixLNData
import MixLNModel
@testable import MixLNTrain

/// The Trainer with the DPO objective: pairs per micro-batch, accumulation over pairs, evaluation,
/// and metrics that survive the metrics.jsonl round trip.
final class PreferenceTrainingTests: XCTestCase {
    /// `count` pairs (2·count sequences, chosen then rejected): the two of `PreferenceLossTests.pairBatch`, repeated.
    static func pairs(_ count: Int) -> [TokenSequence] {
        let batch = PreferenceLossTests.pairBatch(), T = batch.seqLen
        let rows = (0..<batch.batchSize).map {
            TokenSequence(tokens: Array(batch.tokens[($0 * T)..<(($0 + 1) * T)]), targets: Array(batch.targets[($0 * T)..<(($0 + 1) * T)]))
        }
        var sequences: [TokenSequence] = []
        for i in 0..<count { sequences += [rows[(2 * i) % rows.count], rows[(2 * i + 1) % rows.count]] }
        return sequences
    }

    func firstStep(micro: Int, total: Int) throws -> StepRecord {
        let model = try Fixture.model()
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 1, micro: micro, total: total, lr: 1e-3),
                                  train: Self.pairs(8), validation: nil, objective: PreferenceObjective(startingFrom: model, beta: 0.1))
        return try XCTUnwrap(Fixture.run(trainer).events.compactMap(\.stepRecord).first)
    }

    func testAccumulationAveragesOverEveryPairOfTheUpdate() throws {
        let whole = try firstStep(micro: 4, total: 4), accumulated = try firstStep(micro: 2, total: 4)
        XCTAssertEqual(whole.loss, log(2), accuracy: 1e-6)
        XCTAssertEqual(accumulated.loss, log(2), accuracy: 1e-6)
        XCTAssertEqual(accumulated.gradNorm, whole.gradNorm, accuracy: 1e-6 * whole.gradNorm, "two micro-batches of 2 pairs = one of 4")
        XCTAssertEqual(whole.tokens, 4 * 2 * Fixture.seqLen, "an update of 4 pairs is 8 sequences")
        XCTAssertEqual(Set(whole.metrics.keys), Set(PreferenceLoss.metricNames))
    }

    func testTrainingSeparatesTheRepliesAndEvaluatesPairs() throws {
        let model = try Fixture.model()
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 10, micro: 2, lr: 3e-3, evalEvery: 5),
                                  train: Self.pairs(4), validation: Self.pairs(2), objective: PreferenceObjective(startingFrom: model, beta: 0.1))
        let events = try Fixture.run(trainer).events
        let steps = events.compactMap(\.stepRecord), evals = events.compactMap { e -> EvalRecord? in if case .eval(let r) = e { return r } else { return nil } }
        XCTAssertEqual(steps.first?.loss ?? 0, log(2), accuracy: 1e-6)
        XCTAssertGreaterThan(steps.last!.metrics["rewards/margins"]!, 0.05)
        XCTAssertLessThan(steps.last!.loss, steps.first!.loss)
        XCTAssertEqual(evals.map(\.step), [5, 10])
        XCTAssertEqual(evals.last!.metrics["rewards/accuracies"], 1)
        XCTAssertEqual(evals.last!.tokens, 3 + 2, "the chosen replies' tokens of the two validation pairs")
    }

    func testMetricsAreTopLevelKeysOfTheRecords() throws {
        let model = try Fixture.model()
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 1, micro: 2), train: Self.pairs(2), validation: Self.pairs(2),
                                  objective: PreferenceObjective(startingFrom: model, beta: 0.1))
        let events = try Fixture.run(trainer).events
        let step = try XCTUnwrap(events.compactMap(\.stepRecord).first)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: JSONEncoder().encode(step)) as? [String: Any])
        XCTAssertEqual(object["rewards/margins"] as? Double, step.metrics["rewards/margins"])
        XCTAssertNotNil(object["loss"] as? Double)
        let decoded = try JSONDecoder().decode(StepRecord.self, from: JSONEncoder().encode(step))
        XCTAssertEqual(decoded.metrics, step.metrics)
        XCTAssertEqual(decoded.loss, step.loss)
        let eval = try trainer.evaluate()
        XCTAssertEqual(try JSONDecoder().decode(EvalRecord.self, from: JSONEncoder().encode(eval)), eval)
        XCTAssertEqual(try JSONDecoder().decode(StepRecord.self, from: Data(#"{"step": 1, "loss": 2, "lr": 0, "grad_norm": 1, "grad_norms": {"embedding": 0, "layers": [], "final_norm": 0, "lm_head": 0}, "tokens": 8, "tokens_per_second": 1, "elapsed_seconds": 1, "event": "step"}"#.utf8)).metrics, [:],
                       "a cross-entropy record has no metrics")
    }

    func testBetaMustBePositive() throws {
        XCTAssertThrowsError(try PreferenceObjective(startingFrom: try Fixture.model(), beta: 0))
        XCTAssertThrowsError(try Trainer(model: try Fixture.model(), options: Fixture.options(steps: 1), train: Array(Self.pairs(2).prefix(3)),
                                         validation: nil, objective: PreferenceObjective(startingFrom: try Fixture.model(), beta: 0.1)),
                             "an odd number of sequences is not a set of pairs")
    }
}
