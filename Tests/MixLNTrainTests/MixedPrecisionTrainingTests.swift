import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// Training with `--precision bf16` (mixed: fp32 master weights and moments) and `bf16-pure`
/// (weights and moments rounded to bf16 after every update), on the trainer fixture.
final class MixedPrecisionTrainingTests: XCTestCase {
    func options(_ precision: TrainingPrecision, steps: Int = 30) -> TrainingOptions {
        var options = Fixture.options(steps: steps, micro: 4, schedule: .cosine, warmup: 3)
        options.precision = precision
        return options
    }

    func train(_ precision: TrainingPrecision, steps: Int = 30) throws -> (Trainer, [Double]) {
        let trainer = try Trainer(model: Fixture.model(), options: options(precision, steps: steps),
                                  train: Fixture.patternSequences(6), validation: nil)
        let (_, events) = try Fixture.run(trainer)
        return (trainer, losses(events))
    }

    /// The pattern is learnt in both bf16 modes as in fp32: the last five losses average under half
    /// the first, and within 0.1 nat of the fp32 run's (they start from the same weights; bf16
    /// rounding moves each step's loss by far less, see MixedPrecisionTests).
    func testLossFallsInBothBFloat16Modes() throws {
        let (_, reference) = try train(.fp32)
        let referenceEnd = reference.suffix(5).reduce(0, +) / 5
        for precision in [TrainingPrecision.bf16, .bf16Pure] {
            let (trainer, loss) = try train(precision)
            XCTAssertEqual(trainer.model.matmulPrecision, .bf16)
            XCTAssertEqual(trainer.optimizer.roundsToBFloat16, precision == .bf16Pure)
            XCTAssertEqual(loss[0], reference[0], accuracy: 1e-2, "\(precision): the first loss is the same model's")
            let end = loss.suffix(5).reduce(0, +) / 5
            XCTAssertLessThan(end, 0.5 * loss[0], "\(precision): losses \(loss)")
            XCTAssertEqual(end, referenceEnd, accuracy: 0.1, "\(precision) vs fp32")
        }
    }

    /// bf16-pure keeps no fp32 master copy: after a few updates every weight and both moments are
    /// bf16 values; mixed bf16 keeps fp32 ones (most weights then fall between bf16 values).
    func testPureKeepsWeightsAndMomentsBFloat16Representable() throws {
        func representable(_ buffer: Buffer<Float>) -> Int {
            (0..<buffer.count).filter { buffer[$0].bitPattern & 0xFFFF == 0 }.count
        }
        let (pure, _) = try train(.bf16Pure, steps: 3)
        for (name, buffer) in [("weights", pure.model.parameters), ("exp_avg", pure.optimizer.firstMoment),
                               ("exp_avg_sq", pure.optimizer.secondMoment)] {
            XCTAssertEqual(representable(buffer), buffer.count, "bf16-pure \(name)")
        }
        let (mixed, _) = try train(.bf16, steps: 3)
        XCTAssertLessThan(representable(mixed.model.parameters), mixed.model.parameterCount / 2, "bf16 keeps fp32 master weights")
    }

    /// An update smaller than half a bf16 step of the weight is lost in bf16-pure, kept in fp32.
    func testPureLosesUpdatesBelowHalfABFloat16Step() {
        for rounds in [false, true] {
            let optimizer = AdamOptimizer<Float>(parameterCount: 1, settings: OptimizerSettings(), roundsToBFloat16: rounds)
            let p = Buffer<Float>([1]), g = Buffer<Float>([0.5])
            optimizer.step(parameters: p, gradients: g, lr: 1e-4)  // Adam's first step moves by ≈ lr; bf16 spacing below 1 is 2⁻⁸
            if rounds { XCTAssertEqual(p[0], 1) } else { XCTAssertEqual(p[0], 1 - 1e-4, accuracy: 1e-7) }
        }
    }

    /// `precision` is part of the recorded options; records written before it existed read as fp32.
    func testPrecisionIsRecordedAndDefaultsToFP32() throws {
        let options = self.options(.bf16Pure)
        let data = try JSONEncoder().encode(options)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(object["precision"] as? String, "bf16-pure")
        XCTAssertEqual(try JSONDecoder().decode(TrainingOptions.self, from: data), options)
        var old = object
        old.removeValue(forKey: "precision")
        let decoded = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(decoded.precision, .fp32)
        XCTAssertEqual(decoded.steps, options.steps)
    }
}
