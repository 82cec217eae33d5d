import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport

/// `RandomSource`: the xoshiro256** stream, its SplitMix64 seeding, the samplers and the saved state.
final class RandomSourceTests: XCTestCase {
    /// The reference xoshiro256** (Blackman & Vigna) from state {1, 2, 3, 4}.
    func testKnownAnswerFromTheReferenceImplementation() {
        var rng = RandomSource(seed: 0)
        rng.state = [1, 2, 3, 4]
        XCTAssertEqual((0..<4).map { _ in rng.next() }, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240])
    }

    /// Seeding is SplitMix64: seed 0 gives the reference SplitMix64 outputs as the four state words.
    func testSeedingIsSplitMix64() {
        XCTAssertEqual(RandomSource(seed: 0).state,
                       [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
    }

    func testSameSeedSameStreamDifferentSeedDifferentStream() {
        var a = RandomSource(seed: 42), b = RandomSource(seed: 42), c = RandomSource(seed: 43)
        let streamA = (0..<100).map { _ in a.next() }
        XCTAssertEqual(streamA, (0..<100).map { _ in b.next() })
        let streamC = (0..<100).map { _ in c.next() }
        XCTAssertNotEqual(streamA, streamC)
        XCTAssertEqual(Set(streamA).intersection(streamC), [], "two seeds should not share values")
    }

    /// A checkpoint saves the state as JSON; the decoded generator must continue the identical stream.
    func testCodableRoundTripContinuesTheStream() throws {
        var original = RandomSource(seed: 0xDEAD_BEEF)
        for _ in 0..<17 { _ = original.next() }
        _ = original.nextNormal()
        XCTAssertTrue(original.state.contains { $0 > 1 << 53 }, "the test needs words too big for a Double to hold exactly")
        let data = try JSONEncoder().encode(original)
        var restored = try JSONDecoder().decode(RandomSource.self, from: data)
        XCTAssertEqual(restored, original)
        XCTAssertEqual((0..<50).map { _ in restored.next() }, (0..<50).map { _ in original.next() })
    }

    func testUniformIsInTheHalfOpenUnitInterval() {
        var rng = RandomSource(seed: 1)
        let n = 100_000
        var sum = 0.0
        for _ in 0..<n {
            let x = rng.nextUniform()
            XCTAssertTrue((0..<1).contains(x), "\(x) outside [0, 1)")
            sum += x
        }
        // Mean of U(0, 1) is 1/2 with standard deviation 1/√12; 5 standard errors.
        XCTAssertEqual(sum / Double(n), 0.5, accuracy: 5 / (12.0 * Double(n)).squareRoot())
    }

    /// Mean, variance and the mass within one standard deviation of 100k normal draws, each within
    /// 5 standard errors: mean 1/√n, variance √(2/n), P(|z| < 1) = 0.6827 with √(p(1−p)/n).
    func testNormalMomentsOver100kDraws() {
        var rng = RandomSource(seed: 2)
        let n = 100_000
        let xs = (0..<n).map { _ in rng.nextNormal() }
        XCTAssertTrue(xs.allSatisfy(\.isFinite))
        let mean = xs.reduce(0, +) / Double(n)
        let variance = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)
        let withinOne = Double(xs.filter { abs($0) < 1 }.count) / Double(n)
        let N = Double(n)
        XCTAssertEqual(mean, 0, accuracy: 5 / N.squareRoot())
        XCTAssertEqual(variance, 1, accuracy: 5 * (2 / N).squareRoot())
        XCTAssertEqual(withinOne, 0.682_689, accuracy: 5 * (0.6827 * 0.3173 / N).squareRoot())
    }

    /// `fillNormal` writes `T(nextNormal() · std)`: the same stream, scaled, then rounded to T.
    func testFillNormalScalesTheStream() {
        let n = 50_000, std = 0.02
        var filler = RandomSource(seed: 3), reference = RandomSource(seed: 3)
        let buffer = Buffer<Float>(count: n)
        filler.fillNormal(buffer.pointer, count: n, std: std)
        let values = buffer.array
        XCTAssertEqual(values, (0..<n).map { _ in Float(reference.nextNormal() * std) })
        XCTAssertEqual(filler, reference, "fillNormal draws exactly one normal per value")
        let sampleStd = (values.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)).squareRoot()
        // Relative standard error of a sample std is 1/√(2n); 5 of them.
        XCTAssertEqual(sampleStd, std, accuracy: std * 5 / (2 * Double(n)).squareRoot())
    }
}
