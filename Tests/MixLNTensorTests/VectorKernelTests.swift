import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport

/// The reductions and elementwise kernels of `TensorScalar` against plain Double loops.
///
/// Lengths cover empty, one element, shorter than a vector, exactly two 8-wide vectors (16, the
/// unrolled `max` body), one past it (17, the scalar tail), a mixed length (33) and a long row.
///
/// Float tolerances are the classical worst-case bounds with unit roundoff u = 2⁻²⁴:
/// a sum or dot of n terms in any order (the C code is built with -fassociative-math, so the
/// compiler may reorder) is within (n − 1)·u·Σ|termᵢ| of the exact value; a single multiply is
/// correctly rounded; y + a·x is within 2u·(|a·x| + |y|) with or without FMA contraction.
final class VectorKernelTests: XCTestCase {
    static let lengths = [0, 1, 7, 16, 17, 33, 1000]
    static let u = Double(Float.ulpOfOne) / 2

    func inputs(_ n: Int, seed: UInt64) -> [Float] { FiniteDifference.randomFloats(n, seed: seed, scale: 4) }

    // MARK: Float

    func testFloatMaximum() {
        XCTAssertEqual(Float.maximum(scratch([Float]()), count: 0), -.infinity, "max of nothing is −∞")
        for n in Self.lengths where n > 0 {
            // All negative, so a kernel that starts from 0 instead of −∞ is caught.
            let xs = inputs(n, seed: UInt64(n)).map { -abs($0) - 1 }
            XCTAssertEqual(Float.maximum(scratch(xs), count: n), xs.max()!, "n = \(n)")
            // The maximum at every position: inside a vector lane, at a lane boundary, in the tail.
            for at in Set([0, n / 2, n - 1, min(n - 1, 15), min(n - 1, 16)]) {
                var ys = xs
                ys[at] = 100
                XCTAssertEqual(Float.maximum(scratch(ys), count: n), 100, "n = \(n), max at \(at)")
            }
        }
    }

    func testFloatSum() {
        for n in Self.lengths {
            let xs = inputs(n, seed: 10 + UInt64(n))
            let exact = xs.reduce(0.0) { $0 + Double($1) }
            let bound = Double(max(n - 1, 0)) * Self.u * xs.reduce(0.0) { $0 + abs(Double($1)) }
            let got = Double(Float.sum(scratch(xs), count: n))
            XCTAssertLessThanOrEqual(abs(got - exact), bound, "n = \(n): \(got) vs \(exact)")
        }
    }

    func testFloatDot() {
        for n in Self.lengths {
            let xs = inputs(n, seed: 20 + UInt64(n)), ys = inputs(n, seed: 30 + UInt64(n))
            let terms = zip(xs, ys).map { Double($0) * Double($1) }  // exact: 24 + 24 bits fit in 53
            let exact = terms.reduce(0, +)
            let bound = Double(n) * Self.u * terms.reduce(0) { $0 + abs($1) }
            let got = Double(Float.dot(scratch(xs), scratch(ys), count: n))
            XCTAssertLessThanOrEqual(abs(got - exact), bound, "n = \(n): \(got) vs \(exact)")
        }
    }

    func testFloatScaleIsCorrectlyRounded() {
        for n in Self.lengths {
            let xs = inputs(n, seed: 40 + UInt64(n)), a: Float = -1.7
            let buffer = Buffer(xs)
            Float.scale(buffer.pointer, by: a, count: n)
            // The Double product of two Floats is exact, so rounding it once is the correctly rounded Float product.
            XCTAssertEqual(buffer.array, xs.map { Float(Double(a) * Double($0)) }, "n = \(n)")
        }
    }

    func testFloatAxpyAndScaledAdd() {
        for n in Self.lengths {
            let xs = inputs(n, seed: 50 + UInt64(n)), ys = inputs(n, seed: 60 + UInt64(n)), a: Float = 0.37
            let exact = zip(xs, ys).map { Double(a) * Double($0) + Double($1) }
            let bounds = zip(xs, ys).map { 2 * Self.u * (abs(Double(a) * Double($0)) + abs(Double($1))) }

            let axpy = Buffer(ys)
            Float.axpy(a, scratch(xs), axpy.pointer, count: n)
            let out = Buffer<Float>(count: n)
            Float.scaledAdd(out.pointer, a, scratch(xs), scratch(ys), count: n)
            let aliased = Buffer(ys)  // out may alias y
            Float.scaledAdd(aliased.pointer, a, scratch(xs), aliased.pointer, count: n)
            for (label, got) in [("axpy", axpy.array), ("scaledAdd", out.array), ("scaledAdd aliased", aliased.array)] {
                for i in 0..<n where abs(Double(got[i]) - exact[i]) > bounds[i] {
                    XCTFail("\(label) n = \(n), i = \(i): \(got[i]) vs \(exact[i])")
                    break
                }
            }
        }
    }

    /// Softmax against Double. Each probability is allowed a relative error of
    /// 4e-7 (the exp kernel) + |xᵢ − max|·u (exp's condition number times the rounding of the
    /// shifted logit) + (n + 2)·u (the sum and the division); the row sums to 1 within n·u + 1e-6;
    /// log Σ exp within the sum's relative error (d log s = ds/s) plus two ulp of the max it adds back.
    func testFloatSoftmax() {
        for n in Self.lengths where n > 0 {
            let xs = inputs(n, seed: 70 + UInt64(n)).map { $0 * 5 }  // logits spread over [−20, 20]
            let m = Double(xs.max()!)
            let exps = xs.map { Foundation.exp(Double($0) - m) }
            let total = exps.reduce(0, +)
            let buffer = Buffer(xs)
            let logSumExp = Double(Float.softmaxInPlace(buffer.pointer, count: n))
            let got = buffer.array.map(Double.init)
            let sumError = 4e-7 + Double(n + 2) * Self.u
            for i in 0..<n {
                let expected = exps[i] / total
                let allowed = (sumError + (m - Double(xs[i])) * Self.u) * expected
                if abs(got[i] - expected) > allowed {
                    XCTFail("softmax n = \(n), i = \(i): \(got[i]) vs \(expected)")
                    break
                }
            }
            XCTAssertEqual(got.reduce(0, +), 1, accuracy: Double(n) * Self.u + 1e-6, "n = \(n) sums to 1")
            XCTAssertEqual(logSumExp, Foundation.log(total) + m, accuracy: sumError + 2 * Double(Float(m).ulp),
                           "n = \(n) log Σ exp")
        }
    }

    func testFloatSoftmaxIsShiftInvariantForHugeLogits() {
        // Logits near the top of Float's exp range: without subtracting the max, exp would overflow.
        let xs: [Float] = [1000, 999, 998, -1000]
        let buffer = Buffer(xs)
        let logSumExp = Float.softmaxInPlace(buffer.pointer, count: xs.count)
        let e = [1, Foundation.exp(-1.0), Foundation.exp(-2.0), 0]
        let total = e.reduce(0, +)
        assertClose(buffer.array.map(Double.init), e.map { $0 / total }, relative: 1e-6, absolute: 1e-30, "huge logits")
        XCTAssertEqual(Double(logSumExp), 1000 + Foundation.log(total), accuracy: 1e-4)
    }

    // MARK: Double (plain loops: agreement to a few ulp of the reference sums)

    func testDoubleKernels() {
        XCTAssertEqual(Double.maximum(scratch([Double]()), count: 0), -.infinity)
        for n in Self.lengths {
            let xs = FiniteDifference.randomVector(n, seed: 80 + UInt64(n), scale: 4)
            let ys = FiniteDifference.randomVector(n, seed: 90 + UInt64(n), scale: 4)
            let scaleSum = xs.reduce(0) { $0 + abs($1) } + 1e-300
            let tolerance = 1e-14 * scaleSum
            if n > 0 {
                let negative = xs.map { -abs($0) - 1 }
                XCTAssertEqual(Double.maximum(scratch(negative), count: n), negative.max()!)
            }
            XCTAssertEqual(Double.sum(scratch(xs), count: n), xs.reduce(0, +), accuracy: tolerance)
            XCTAssertEqual(Double.dot(scratch(xs), scratch(ys), count: n),
                           zip(xs, ys).map(*).reduce(0, +), accuracy: 4 * tolerance)
            let scaled = Buffer(xs)
            Double.scale(scaled.pointer, by: -1.7, count: n)
            XCTAssertEqual(scaled.array, xs.map { -1.7 * $0 })
            let axpy = Buffer(ys)
            Double.axpy(0.37, scratch(xs), axpy.pointer, count: n)
            assertClose(axpy.array, zip(xs, ys).map { 0.37 * $0 + $1 }, relative: 1e-15, absolute: 1e-15, "axpy")
            let aliased = Buffer(ys)
            Double.scaledAdd(aliased.pointer, 0.37, scratch(xs), aliased.pointer, count: n)
            assertClose(aliased.array, zip(xs, ys).map { 0.37 * $0 + $1 }, relative: 1e-15, absolute: 1e-15, "scaledAdd")
            if n > 0 {
                let m = xs.max()!, e = xs.map { Foundation.exp($0 - m) }, total = e.reduce(0, +)
                let soft = Buffer(xs)
                let lse = Double.softmaxInPlace(soft.pointer, count: n)
                assertClose(soft.array, e.map { $0 / total }, relative: 1e-13, absolute: 1e-300, "softmax n = \(n)")
                XCTAssertEqual(soft.array.reduce(0, +), 1, accuracy: 1e-13)
                XCTAssertEqual(lse, Foundation.log(total) + m, accuracy: 1e-13)
            }
        }
    }

    func testDoubleSoftmaxWithNaNIsNaN() {
        let buffer = Buffer<Double>([0.5, .nan, -1, 2])
        XCTAssertTrue(Double.softmaxInPlace(buffer.pointer, count: 4).isNaN)
    }

    /// `VectorMath` only forwards; one call each proves the wiring (argument order included).
    func testVectorMathForwardsToTheScalarKernels() {
        let x = Buffer<Float>([1, 2, 3]), y = Buffer<Float>([4, 5, 6])
        XCTAssertEqual(VectorMath.dot(x.pointer, y.pointer, 3), 32)
        XCTAssertEqual(VectorMath.sum(x.pointer, 3), 6)
        XCTAssertEqual(VectorMath.max(x.pointer, 3), 3)
        VectorMath.axpy(2, x.pointer, y.pointer, 3)
        XCTAssertEqual(y.array, [6, 9, 12])
        VectorMath.scaledAdd(y.pointer, -1, x.pointer, y.pointer, 3)
        XCTAssertEqual(y.array, [5, 7, 9])
        VectorMath.scale(x.pointer, 0.5, 3)
        XCTAssertEqual(x.array, [0.5, 1, 1.5])
        let s = Buffer<Float>([0, 0])
        XCTAssertEqual(VectorMath.softmax(s.pointer, 2), Float(Foundation.log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(s.array, [0.5, 0.5])
    }
}
