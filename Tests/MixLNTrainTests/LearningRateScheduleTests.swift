import Foundation
import XCTest
import MixLNTrain

/// The schedule against the official (GaLore/Mix-LN `training_utils`) cosine-with-floor formula,
/// written out as a table of (step, expected rate).
final class LearningRateScheduleTests: XCTestCase {
    static let peak = 1e-3

    func assertRates(_ schedule: LearningRateSchedule, _ table: [(step: Int, rate: Double)],
                     file: StaticString = #filePath, line: UInt = #line) {
        for (step, rate) in table {
            XCTAssertEqual(schedule.rate(at: step), rate, accuracy: 1e-15,
                           "\(schedule.kind) step \(step)", file: file, line: line)
        }
    }

    func testCosineWithWarmup() {
        let schedule = LearningRateSchedule(kind: .cosine, peak: Self.peak, warmupSteps: 10, totalSteps: 110)
        let floor = 0.1 * Self.peak
        assertRates(schedule, [
            (0, 0),                                    // PyTorch's LambdaLR: the first update runs at 0
            (5, 0.5 * Self.peak),                      // mid-warmup: linear
            (9, 0.9 * Self.peak),
            (10, Self.peak),                           // end of warmup: the peak
            (60, Self.peak * (0.1 + 0.9 * 0.5)),       // halfway through the decay: cos(π/2) = 0
            (35, Self.peak * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi / 4)))),
            (110, floor),                              // the end: the floor
            (500, floor),                              // past the end: stays at the floor
        ])
        // The last update taken (step totalSteps − 1) is within a hair of the floor.
        let last = schedule.rate(at: 109)
        XCTAssertGreaterThan(last, floor)
        XCTAssertEqual(last, Self.peak * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * 99 / 100))), accuracy: 1e-15)
        XCTAssertLessThan(last - floor, 1e-3 * Self.peak)
    }

    func testLinearDecaysInAStraightLineToTheFloor() {
        let schedule = LearningRateSchedule(kind: .linear, peak: Self.peak, warmupSteps: 4, totalSteps: 104)
        assertRates(schedule, [
            (0, 0), (2, 0.5 * Self.peak), (4, Self.peak),
            (54, Self.peak * (0.1 + 0.9 * 0.5)),
            (79, Self.peak * (0.1 + 0.9 * 0.25)),
            (104, 0.1 * Self.peak), (200, 0.1 * Self.peak),
        ])
    }

    func testConstantHoldsThePeakAfterWarmup() {
        let schedule = LearningRateSchedule(kind: .constant, peak: Self.peak, warmupSteps: 4, totalSteps: 100)
        assertRates(schedule, [(0, 0), (1, 0.25 * Self.peak), (4, Self.peak), (50, Self.peak), (100, Self.peak), (1000, Self.peak)])
    }

    func testNoWarmupStartsAtThePeak() {
        for kind in LearningRateSchedule.Kind.allCases {
            let schedule = LearningRateSchedule(kind: kind, peak: Self.peak, warmupSteps: 0, totalSteps: 10)
            XCTAssertEqual(schedule.rate(at: 0), Self.peak, "\(kind)")
        }
    }

    func testCustomFloorAndDegenerateLengths() {
        let zeroFloor = LearningRateSchedule(kind: .cosine, peak: 2, warmupSteps: 0, totalSteps: 4, minRatio: 0)
        assertRates(zeroFloor, [(0, 2), (2, 1), (4, 0)])
        // Warmup as long as the run: no division by zero, the decay never starts.
        let allWarmup = LearningRateSchedule(kind: .cosine, peak: 1, warmupSteps: 5, totalSteps: 5)
        XCTAssertEqual(allWarmup.rate(at: 4), 0.8)
        XCTAssertTrue(allWarmup.rate(at: 5).isFinite)
    }

    func testCodableUsesTheOfficialKeys() throws {
        let schedule = LearningRateSchedule(kind: .linear, peak: 0.01, warmupSteps: 3, totalSteps: 9, minRatio: 0.2)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(schedule)) as? [String: Any]
        XCTAssertEqual(Set(json?.keys.map { $0 } ?? []), ["kind", "peak", "warmup_steps", "total_steps", "min_lr_ratio"])
        XCTAssertEqual(try JSONDecoder().decode(LearningRateSchedule.self, from: JSONEncoder().encode(schedule)), schedule)
    }
}
