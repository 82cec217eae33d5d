import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport

/// The vectorized `Float.expInPlace` (C `mixln_exp_f32`) against `Foundation.exp` in Double.
///
/// The kernel promises "about 2 ulp". One Float ulp is 2⁻²³ ≈ 1.19e-7 relative, so the bound
/// used here is 4e-7 relative (≈ 3.4 ulp): room for the degree-6 polynomial's truncation
/// (|r|⁷/7! ≈ 1.2e-7 at |r| = ln2/2) plus rounding in Horner's rule and the 2ⁿ scaling.
final class ExpKernelTests: XCTestCase {
    static let relativeTolerance = 4e-7

    /// `expInPlace` applied to a copy of `xs`.
    func kernelExp(_ xs: [Float]) -> [Float] {
        let buffer = Buffer<Float>(xs)
        Float.expInPlace(buffer.pointer, count: buffer.count)
        return buffer.array
    }

    func assertExpAccurate(over xs: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        let ys = kernelExp(xs)
        var worst = 0.0, worstX: Float = 0
        for (x, y) in zip(xs, ys) {
            let exact = Foundation.exp(Double(x))
            let error = abs(Double(y) - exact) / exact
            if !(error <= worst) { worst = error; worstX = x }
        }
        XCTAssertLessThanOrEqual(worst, Self.relativeTolerance,
                                 "\(label): worst relative error \(worst) at x = \(worstX)", file: file, line: line)
    }

    func testDenseGridFromMinus87To88() {
        // 175 001 points, step 1e-3: every rounding of n = round(x/ln2) and every r in [−ln2/2, ln2/2] is visited.
        let xs = (0...175_000).map { Float(-87 + Double($0) * 1e-3) }
        assertExpAccurate(over: xs, "grid [-87, 88]")
    }

    /// `expShiftedSumInDouble`: the same exponentials of x − shift, written out (in place too), and
    /// their sum in Double: log-sum-exp to ~1e-7 absolute where `softmaxInPlace`'s Float result is
    /// rounded to the ulp of its magnitude (≈1e-6 at 10).
    func testShiftedExponentialsAndTheirDoubleSum() {
        let xs = (0..<5000).map { Float(sin(Double($0) * 0.37) * 12 + 3) }
        let shift = xs.max()!
        let out = Buffer<Float>(count: xs.count)
        let sum = xs.withUnsafeBufferPointer { Float.expShiftedSumInDouble($0.baseAddress!, minus: shift, into: out.pointer, count: xs.count) }
        var exact = 0.0
        for (x, y) in zip(xs, out.array) {
            let e = Foundation.exp(Double(x - shift))
            XCTAssertEqual(Double(y), e, accuracy: Self.relativeTolerance * e)
            exact += e
        }
        XCTAssertEqual(sum, exact, accuracy: Self.relativeTolerance * exact)
        XCTAssertEqual(sum, out.array.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-12 * exact, "the sum of what was written, in Double")
        let inPlace = Buffer<Float>(xs)
        XCTAssertEqual(Float.expShiftedSumInDouble(inPlace.pointer, minus: shift, into: inPlace.pointer, count: xs.count), sum,
                       accuracy: 1e-12 * sum, "in place (the compiler may vectorize the aliased loop otherwise: another summation order)")
        XCTAssertEqual(inPlace.array, out.array)
    }

    func testSmallArgumentsAndExactOne() {
        let xs: [Float] = [0, -0.0, 1e-30, -1e-30, 1e-7, -1e-7, 0.5, -0.5, 1, -1, 0.34657359, -0.34657359]
        assertExpAccurate(over: xs, "near zero")
        XCTAssertEqual(kernelExp([0])[0], 1, "exp(0) is exactly 1")
    }

    /// The header promises a finite, accurate result up to 88.7 (FLT_MAX = e^88.7228).
    ///
    /// Fails today: for x in [88.3763, 88.7] (where round(x/ln2) = 128) `exp_one` in
    /// Sources/CMixLNKernels/kernels.c builds the scale 2^128 from exponent bits 255, which is +inf,
    /// so exp returns +inf for values up to 3.4e38 that Float can hold.
    func testTopOfTheRangeStaysFinite() {
        let xs = (0...700).map { Float(88 + Double($0) * 1e-3) }  // [88, 88.7]
        let ys = kernelExp(xs)
        for (x, y) in zip(xs, ys) where !y.isFinite {
            XCTFail("exp(\(x)) = \(y), but e^\(x) = \(Foundation.exp(Double(x))) is below Float.greatestFiniteMagnitude")
            break
        }
        assertExpAccurate(over: xs, "grid [88, 88.7]")
    }

    func testUnderflowIsExactlyZeroAndOverflowIsInfinity() {
        let low: [Float] = [-87.31, -88, -100, -1e4, -1e30, -.greatestFiniteMagnitude, -.infinity]
        XCTAssertEqual(kernelExp(low), Array(repeating: 0, count: low.count))
        // Above ln(Float.greatestFiniteMagnitude) ≈ 88.7228 the true value overflows too.
        let high: [Float] = [88.73, 89, 100, 1e30, .greatestFiniteMagnitude, .infinity]
        XCTAssertEqual(kernelExp(high), Array(repeating: .infinity, count: high.count))
    }

    func testNaNStaysNaN() {
        // Lengths past the 8-wide vector body so both the vector loop and the scalar tail see a NaN.
        var xs = [Float](repeating: 0.5, count: 19)
        xs[3] = .nan
        xs[18] = .nan
        let ys = kernelExp(xs)
        XCTAssertTrue(ys[3].isNaN, "exp(NaN) gave \(ys[3])")
        XCTAssertTrue(ys[18].isNaN, "exp(NaN) in the tail gave \(ys[18])")
    }

    /// A NaN logit must not turn into a finite, plausible-looking softmax (it would hide a divergence).
    func testSoftmaxOfARowWithNaNIsNotFinite() {
        for count in [1, 7, 16, 17, 33, 100] {
            for nanAt in Set([0, count / 2, count - 1]) {
                var xs = FiniteDifference.randomFloats(count, seed: UInt64(count), scale: 3)
                xs[nanAt] = .nan
                let buffer = Buffer<Float>(xs)
                let logSumExp = Float.softmaxInPlace(buffer.pointer, count: count)
                let rowHasNaN = buffer.array.contains { $0.isNaN }
                XCTAssertTrue(logSumExp.isNaN || rowHasNaN,
                              "count \(count), NaN at \(nanAt): log Σ exp = \(logSumExp), row \(buffer.array)")
                XCTAssertTrue(logSumExp.isNaN, "count \(count), NaN at \(nanAt): log Σ exp = \(logSumExp) should be NaN")
            }
        }
    }
}
