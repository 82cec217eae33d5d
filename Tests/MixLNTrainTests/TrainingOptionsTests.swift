import XCTest
import MixLNModel
import MixLNTrain

/// Option checks: each bad value is rejected with a message that names the option.
final class TrainingOptionsTests: XCTestCase {
    func testValidateRejectsBadValuesNamingTheOption() {
        let good = Fixture.options(steps: 10, micro: 2, total: 4)
        XCTAssertNoThrow(try good.validate())
        func with(_ change: (inout TrainingOptions) -> Void) -> TrainingOptions {
            var options = good
            change(&options)
            return options
        }
        let table: [(TrainingOptions, String)] = [
            (with { $0.steps = 0 }, "--steps"),
            (with { $0.steps = -3 }, "--steps"),
            (with { $0.microBatchSize = 0 }, "--batch-size"),
            (with { $0.totalBatchSize = 5 }, "--total-batch-size"),
            (with { $0.totalBatchSize = 1 }, "--total-batch-size"),
            (with { $0.seqLen = 1 }, "--seq-len"),
            (with { $0.schedule.peak = 0 }, "--lr"),
            (with { $0.schedule.peak = -1e-3 }, "--lr"),
            (with { $0.schedule.peak = .nan }, "--lr"),
            (with { $0.schedule.peak = .infinity }, "--lr"),
            (with { $0.schedule.warmupSteps = -1 }, "--warmup"),
            (with { $0.schedule.minRatio = 1.5 }, "--min-lr-ratio"),
            (with { $0.clipGradNorm = 0 }, "--clip"),
            (with { $0.evalEvery = -1 }, "--eval-every"),
        ]
        for (options, option) in table {
            XCTAssertThrowsError(try options.validate(), option) { error in
                guard case TrainingError.invalidOption(let message) = error else { return XCTFail("\(option): \(error)") }
                XCTAssertTrue(message.contains(option), "'\(message)' should name \(option)")
            }
        }
    }

    func testAccumulationStepsAndDefaultTotal() {
        XCTAssertEqual(Fixture.options(steps: 1, micro: 2, total: 8).accumulationSteps, 4)
        XCTAssertEqual(Fixture.options(steps: 1, micro: 3).totalBatchSize, 3, "total defaults to the micro-batch")
    }

    func testTrainerRejectsSequencesLongerThanTheModel() throws {
        var options = Fixture.options(steps: 1, micro: 2)
        options.seqLen = Fixture.config.maxSequenceLength + 1
        XCTAssertThrowsError(try Trainer(model: Fixture.model(), options: options,
                                         train: Fixture.patternSequences(2), validation: nil)) { error in
            XCTAssertEqual(error as? ModelError, .sequenceTooLong(requested: 17, maximum: 16))
        }
    }

    func testTrainerRejectsEmptyTrainingData() throws {
        XCTAssertThrowsError(try Trainer(model: Fixture.model(), options: Fixture.options(steps: 1, micro: 2),
                                         train: [], validation: nil)) { error in
            guard case TrainingError.noTrainingData = error else { return XCTFail("\(error)") }
        }
    }

    func testTrainerValidatesOptionsFirst() throws {
        XCTAssertThrowsError(try Trainer(model: Fixture.model(), options: Fixture.options(steps: 0, micro: 2),
                                         train: [], validation: nil)) { error in
            guard case TrainingError.invalidOption = error else { return XCTFail("\(error)") }
        }
    }

    func testCodableUsesSnakeCaseKeysAndRoundTrips() throws {
        let options = Fixture.options(steps: 7, micro: 2, total: 4, clip: 1, evalEvery: 3, evalBatches: 2, seed: 9)
        let data = try JSONEncoder().encode(options)
        let keys = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?.keys.sorted() ?? []
        XCTAssertEqual(keys, ["batch_size", "clip_grad_norm", "eval_batches", "eval_every", "optimizer", "precision", "save_every",
                              "schedule", "seed", "seq_len", "steps", "total_batch_size"])
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: data), options)
    }
}
