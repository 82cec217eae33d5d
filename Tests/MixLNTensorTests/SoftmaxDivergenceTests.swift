import Foundation
import XCTest
import MixLNTensor

/// `VectorMath.softmaxDivergence` on Float rows against KL(softmax(a) ‖ softmax(b)) computed in
/// Double from the same Float values: 1e-5 relative from nearly equal rows (KL ~1e-9, where the
/// difference of two Float-kernel log-sum-exps would be off by ~100%) to rows with nothing in common.
final class SoftmaxDivergenceTests: XCTestCase {
    /// KL in Double the direct way: Σ p (log p − log q).
    func exactKL(_ a: [Float], _ b: [Float]) -> Double {
        func logSoftmax(_ x: [Float]) -> [Double] {
            let top = Double(x.max()!), logSum = top + log(x.reduce(0.0) { $0 + exp(Double($1) - top) })
            return x.map { Double($0) - logSum }
        }
        let p = logSoftmax(a), q = logSoftmax(b)
        return zip(p, q).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) }
    }

    func kernelKL(_ a: [Float], _ b: [Float]) -> Double {
        VectorMath.softmaxDivergence(a, b, aMax: a.max()!, bMax: b.max()!, a.count)
    }

    func testNearlyEqualToVeryDifferentRows() {
        let V = 3000
        let a = (0..<V).map { Float(sin(Double($0) * 0.731) * 4 + 7) }
        for scale in [1e-4, 1e-3, 0.1, 1, 5] {  // KL from ~1e-9 (the Double reference's own rounding is ~1e-15) to ~10
            // b = a shifted by a constant (no divergence) plus a perturbation of size `scale`.
            let b = (0..<V).map { a[$0] + 2.5 + Float(cos(Double($0) * 1.37) * scale) }
            let exact = exactKL(a, b)
            XCTAssertGreaterThan(exact, 0)
            XCTAssertEqual(kernelKL(a, b), exact, accuracy: 1e-5 * exact, "perturbation \(scale)")
        }
        XCTAssertEqual(kernelKL(a, a), 0, "identical rows")
        XCTAssertEqual(kernelKL(a, a.map { $0 - 3 }), 0, accuracy: 1e-12, "rows equal up to a constant")
    }

    /// p puts almost all its mass where q has none, and q's large logits sit where p underflows to 0.
    func testUnderflowAndLargeDivergenceStayFinite() {
        let a: [Float] = [0, -120, -3, 10]
        let b: [Float] = [-40, 60, 1, -30]
        let exact = exactKL(a, b)
        XCTAssertEqual(kernelKL(a, b), exact, accuracy: 1e-5 * exact)
    }

    func testDoubleRowsAgreeWithTheDirectSum() {
        let a: [Double] = [0.3, -1.2, 2.5, 0.0, 1.1], b: [Double] = [0.1, -0.7, 2.0, 0.4, 1.6]
        let direct = exactKL(a.map(Float.init), b.map(Float.init))
        let kl = VectorMath.softmaxDivergence(a.map { Double(Float($0)) }, b.map { Double(Float($0)) }, aMax: Double(Float(2.5)), bMax: 2, 5)
        XCTAssertEqual(kl, direct, accuracy: 1e-12 * direct)
    }
}
