import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTestSupport
@testable import MixLNTrain

/// The training loop end to end on a tiny model: events, learning, determinism, accumulation,
/// clipping, divergence and evaluation. Every run is a few dozen steps of 32 tokens.
final class TrainerTests: XCTestCase {
    func testLossFallsOnALearnablePattern() throws {
        let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 30, micro: 4, schedule: .cosine,
                                                                                   warmup: 3),
                                  train: Fixture.patternSequences(6), validation: nil)
        let (summary, events) = try Fixture.run(trainer)
        let loss = losses(events)
        XCTAssertEqual(loss.count, 30)
        XCTAssertEqual(loss[0], Foundation.log(20.0), accuracy: 0.3, "a fresh model is near uniform over 20 tokens")
        let lastFive = loss.suffix(5).reduce(0, +) / 5
        XCTAssertLessThan(lastFive, 0.5 * loss[0], "losses \(loss)")
        XCTAssertEqual(summary.status, .completed)
        XCTAssertEqual(summary.steps, 30)
        XCTAssertEqual(summary.finalLoss, loss.last)
        XCTAssertEqual(summary.tokens, 30 * 4 * Fixture.seqLen)
        // The rate each step reports is the schedule's for that (0-based) update.
        let schedule = trainer.options.schedule
        for case .step(let record) in events {
            XCTAssertEqual(record.lr, schedule.rate(at: record.step - 1), "step \(record.step)")
            XCTAssertEqual(record.tokens, record.step * 4 * Fixture.seqLen)
            XCTAssertTrue(record.gradNorm.isFinite && record.gradNorm > 0)
            XCTAssertEqual(record.gradNorms.layers.count, 2)
        }
        XCTAssertEqual(events.compactMap(\.stepRecord).first?.lr, 0, "warmup: the first update runs at rate 0")
    }

    func testEventsArriveInOrderWithEvaluationsEveryNAndAtTheEnd() throws {
        let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 5, micro: 2, evalEvery: 2),
                                  train: Fixture.patternSequences(4), validation: Fixture.patternSequences(3))
        let (summary, events) = try Fixture.run(trainer)
        XCTAssertEqual(events.map(\.name),
                       ["started", "step 1", "step 2", "eval 2", "step 3", "step 4", "eval 4", "step 5", "eval 5", "done"])
        guard case .started(let info) = events[0], case .eval(let lastEval) = events[8] else { return XCTFail("event kinds") }
        XCTAssertEqual(info.parameters, trainer.model.parameterCount)
        XCTAssertEqual(info.trainSequences, 4)
        XCTAssertEqual(info.validationSequences, 3)
        XCTAssertEqual(info.steps, 5)
        XCTAssertEqual(info.tokensPerStep, 2 * Fixture.seqLen)
        XCTAssertEqual(summary.finalEval?.loss, lastEval.loss)
        XCTAssertEqual(summary.finalEval?.step, 5)
    }

    /// A resumed process has timed only its own updates: 10 of them in 20 s leave 100 × 2 s,
    /// not the 100 × 20/160 s that dividing by all 160 updates would say.
    func testRemainingTimeCountsOnlyTheUpdatesThisProcessTimed() {
        let norms = GradientNormSummary(embedding: 0, layers: [], finalNorm: 0, lmHead: 0)
        let record = StepRecord(step: 160, loss: 1, lr: 0, gradNorm: 0, gradNorms: norms, tokens: 0,
                                tokensPerSecond: 0, elapsedSeconds: 20)
        XCTAssertEqual(record.secondsRemaining(totalSteps: 260, startStep: 150), 200, accuracy: 1e-9)
        XCTAssertEqual(record.secondsRemaining(totalSteps: 260, startStep: 0), 12.5, accuracy: 1e-9)
        XCTAssertTrue(record.secondsRemaining(totalSteps: 260, startStep: 160).isNaN, "no update timed yet")
    }

    /// The summary's wall time covers every process of a run: a resumed trainer starts from the
    /// checkpoint's seconds, and a second `run` call on one trainer adds to the first.
    func testTrainingSecondsSurviveAResume() throws {
        let options = Fixture.options(steps: 4, micro: 2)
        let first = try Trainer(model: Fixture.model(), options: options, train: Fixture.patternSequences(4), validation: nil)
        let stopped = try first.run(stopAfter: 2) { _ in }
        XCTAssertEqual(stopped.status, .stopped)
        XCTAssertEqual(first.state.trainingSeconds ?? -1, stopped.elapsedSeconds, accuracy: 0.5, "the stopped run's time, no more")
        var state = first.state
        state.trainingSeconds = 1000

        let resumed = try Trainer(model: Fixture.model(), options: options, train: Fixture.patternSequences(4), validation: nil)
        try resumed.restore(state)
        let summary = try resumed.run { _ in }
        XCTAssertEqual(summary.status, .completed)
        XCTAssertGreaterThan(summary.elapsedSeconds, 1000)
        XCTAssertLessThan(summary.elapsedSeconds, 1000 + 60)

        let finished = try first.run { _ in }
        XCTAssertGreaterThan(finished.elapsedSeconds, stopped.elapsedSeconds, "a second run call adds to the first")

        // A checkpoint written before the field existed resumes with the time counted from the resume.
        let old = try JSONEncoder().encode(state)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: old) as? [String: Any])
        XCTAssertNotNil(object.removeValue(forKey: "training_seconds"))
        let decoded = try JSONDecoder().decode(TrainingState.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(decoded.trainingSeconds)

        state.trainingSeconds = -5
        let corrupt = try Trainer(model: Fixture.model(), options: options, train: Fixture.patternSequences(4), validation: nil)
        XCTAssertThrowsError(try corrupt.restore(state)) { error in
            XCTAssertTrue("\(error)".contains("training_seconds"), "\(error)")
        }
    }

    func testWithoutValidationThereAreNoEvaluations() throws {
        let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 3, micro: 2, evalEvery: 1),
                                  train: Fixture.patternSequences(4), validation: [])
        let (summary, events) = try Fixture.run(trainer)
        XCTAssertEqual(events.map(\.name), ["started", "step 1", "step 2", "step 3", "done"])
        XCTAssertNil(summary.finalEval)
        XCTAssertThrowsError(try trainer.evaluate()) { error in
            guard case TrainingError.noTrainingData = error else { return XCTFail("\(error)") }
        }
    }

    func testSameSeedIsBitIdenticalDifferentSeedIsNot() throws {
        func lossSequence(seed: UInt64) throws -> [Double] {
            let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 8, micro: 2, seed: seed),
                                      train: Fixture.patternSequences(6), validation: nil)
            return losses(try Fixture.run(trainer).events)
        }
        let first = try lossSequence(seed: 5)
        XCTAssertEqual(try lossSequence(seed: 5), first, "same seed, same bits")
        XCTAssertNotEqual(try lossSequence(seed: 6), first, "another seed serves the batches in another order")
    }

    /// Micro-batches of 2 accumulated to 4 equal one micro-batch of 4 when every sequence has the
    /// same number of predicted tokens (the mean of equal-sized means is the overall mean). The
    /// loader holds exactly 4 sequences, so in both runs the first update sees all of them.
    ///
    /// ε = 1e-4 instead of 1e-8: Adam's first step is lr·g/(|g| + ε), whose slope in g is at most
    /// lr/ε, so Float rounding differences (~1e-10 in g) move a weight by at most ~1e-8 here.
    func testGradientAccumulationMatchesOneLargeBatch() throws {
        let data = Fixture.patternSequences(4)
        let adam = OptimizerSettings(epsilon: 1e-4)
        func firstUpdate(micro: Int) throws -> (loss: Double, gradients: [Float], parameters: [Float]) {
            let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 1, micro: micro, total: 4,
                                                                                       optimizer: adam),
                                      train: data, validation: nil)
            let loss = losses(try Fixture.run(trainer).events)[0]
            return (loss, trainer.model.gradients.array, trainer.model.parameters.array)
        }
        let whole = try firstUpdate(micro: 4), accumulated = try firstUpdate(micro: 2)
        XCTAssertEqual(accumulated.loss, whole.loss, accuracy: 1e-6 * whole.loss)
        let largest = whole.gradients.map { abs(Double($0)) }.max()!
        assertClose(accumulated.gradients.map(Double.init), whole.gradients.map(Double.init),
                    relative: 1e-4, absolute: 1e-6 * largest, "accumulated gradients")
        assertClose(accumulated.parameters.map(Double.init), whole.parameters.map(Double.init),
                    relative: 1e-6, absolute: 1e-7, "updated weights")
    }

    /// A tiny clip threshold shrinks the gradient Adam sees below ε, so the update shrinks; the
    /// reported norm is the one before clipping and the gradient left in the buffer has the clip's norm.
    func testClippingShrinksTheUpdateAndReportsThePreClipNorm() throws {
        let clip = 1e-9
        func oneStep(clip: Double?) throws -> (change: Double, gradNorm: Double, gradients: [Float]) {
            let model = try Fixture.model()
            let before = model.parameters.array
            let trainer = try Trainer(model: model, options: Fixture.options(steps: 1, micro: 4, clip: clip),
                                      train: Fixture.patternSequences(4), validation: nil)
            let record = try Fixture.run(trainer).events.compactMap(\.stepRecord)[0]
            return (distance(model.parameters.array, before), record.gradNorm, model.gradients.array)
        }
        let free = try oneStep(clip: nil), clipped = try oneStep(clip: clip)
        XCTAssertGreaterThan(free.gradNorm, clip)
        XCTAssertEqual(clipped.gradNorm, free.gradNorm, "the record holds the norm before clipping")
        XCTAssertLessThan(clipped.change, 0.2 * free.change, "clipped update \(clipped.change) vs \(free.change)")
        XCTAssertGreaterThan(clipped.change, 0)
        let leftNorm = clipped.gradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(leftNorm, clip, accuracy: 1e-5 * clip, "the gradient the optimizer saw was scaled to the clip")
    }

    /// A clip larger than the norm does nothing: identical bits to no clipping.
    func testClipAboveTheNormIsANoOp() throws {
        func parameters(clip: Double?) throws -> [Float] {
            let trainer = try Trainer(model: Fixture.model(), options: Fixture.options(steps: 2, micro: 4, clip: clip),
                                      train: Fixture.patternSequences(4), validation: nil)
            _ = try Fixture.run(trainer)
            return trainer.model.parameters.array
        }
        XCTAssertEqual(try parameters(clip: 1e6), try parameters(clip: nil))
    }

    /// A NaN weight makes the first loss NaN: the run reports `.diverged`, applies no update and
    /// ends with a `.diverged` summary instead of throwing.
    func testNaNWeightDivergesWithoutThrowing() throws {
        let model = try Fixture.model(scheme: "post")
        model.parameters[model.layout.lmHead + 3] = .nan
        let before = model.parameters.array
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 5, micro: 2),
                                  train: Fixture.patternSequences(4), validation: Fixture.patternSequences(2))
        let (summary, events) = try Fixture.run(trainer)
        XCTAssertEqual(events.map(\.name), ["started", "diverged 1", "done"])
        guard case .diverged(let record) = events[1] else { return XCTFail("no divergence event") }
        XCTAssertTrue(record.loss.isNaN)
        XCTAssertEqual(summary.status, .diverged)
        XCTAssertEqual(summary.divergedAt, 1)
        XCTAssertEqual(summary.steps, 0)
        XCTAssertNil(summary.finalLoss)
        XCTAssertEqual(trainer.step, 0)
        XCTAssertEqual(model.parameters.array.map(\.bitPattern), before.map(\.bitPattern), "no update was applied")
    }

    /// A weight poisoned by the event callback after update 2: update 3 diverges, the summary keeps
    /// the last good loss, and the evaluation due at step 4 never happens.
    func testDivergenceMidRunReportsTheStepAndTheLastGoodLoss() throws {
        let model = try Fixture.model()
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 6, micro: 2, evalEvery: 4),
                                  train: Fixture.patternSequences(4), validation: Fixture.patternSequences(2))
        var events: [TrainingEvent] = []
        let summary = try trainer.run { event in
            events.append(event)
            if event.stepRecord?.step == 2 {
                // Row of token 1, which every batch uses.
                model.parameters[model.layout.embedding + 1 * Fixture.config.hiddenSize] = .infinity
            }
        }
        XCTAssertEqual(events.map(\.name), ["started", "step 1", "step 2", "diverged 3", "done"])
        XCTAssertEqual(summary.status, .diverged)
        XCTAssertEqual(summary.divergedAt, 3)
        XCTAssertEqual(summary.steps, 2)
        XCTAssertEqual(summary.finalLoss, losses(events).last)
        XCTAssertEqual(summary.tokens, 2 * 2 * Fixture.seqLen)
    }

    /// The evaluation loss is the mean over every predicted validation token, not the mean of batch means.
    func testEvaluationIsTheTokenWeightedMean() throws {
        var validation = Fixture.patternSequences(3)
        // Unequal predicted counts (8, 3, 5), so a mean of batch means would differ.
        for i in 3..<8 { validation[1].targets[i] = CrossEntropy.ignoreIndex }
        for i in 5..<8 { validation[2].targets[i] = CrossEntropy.ignoreIndex }
        let model = try Fixture.model()
        let trainer = try Trainer(model: model, options: Fixture.options(steps: 1, micro: 2),
                                  train: Fixture.patternSequences(4), validation: validation)
        let record = try trainer.evaluate()

        var lossSum = 0.0, count = 0
        for sequence in validation {
            let mean = try model.forward(tokens: sequence.tokens, targets: sequence.targets, batch: 1, seqLen: Fixture.seqLen)
            lossSum += mean * Double(sequence.predictedTokenCount())
            count += sequence.predictedTokenCount()
        }
        XCTAssertEqual(record.tokens, 16)
        XCTAssertEqual(count, 16)
        XCTAssertEqual(record.loss, lossSum / Double(count), accuracy: 1e-5 * record.loss)
        XCTAssertEqual(record.perplexity, Foundation.exp(record.loss), accuracy: 1e-9 * record.perplexity)
        XCTAssertEqual(record.step, 0)

        // evalBatches = 1: only the first micro-batch (sequences 0 and 1, 8 + 3 tokens).
        let limited = try Trainer(model: model, options: Fixture.options(steps: 1, micro: 2, evalBatches: 1),
                                  train: Fixture.patternSequences(4), validation: validation).evaluate()
        XCTAssertEqual(limited.tokens, 11)
    }
}

