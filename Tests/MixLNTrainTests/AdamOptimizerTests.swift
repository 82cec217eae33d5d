import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport
import MixLNTrain

/// `AdamOptimizer` against PyTorch's `torch.optim.Adam`/`AdamW` update, worked by hand:
///
///     g ← g + λ·p                      (Adam's L2 term; AdamW instead does p ← p·(1 − lr·λ) first)
///     m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
///     p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// ε is deliberately large (1e-3) so that putting it inside the square root, or adding it to the
/// uncorrected √v, would change the answer at the fourth digit; the tolerance is 1e-12 (Double).
final class AdamOptimizerTests: XCTestCase {
    static let p0: [Double] = [1, -2, 0.5]
    static let g1: [Double] = [0.1, -0.2, 0.3]
    static let g2: [Double] = [0.05, 0.4, -0.1]
    static let lr = 0.01, eps = 1e-3

    func run(_ settings: OptimizerSettings, gradients: [[Double]]) -> [[Double]] {
        let optimizer = AdamOptimizer<Double>(parameterCount: 3, settings: settings)
        let p = Buffer(Self.p0)
        return gradients.map { g in
            let gradients = Buffer(g)
            optimizer.step(parameters: p, gradients: gradients, lr: Self.lr)
            return p.array
        }
    }

    func testTwoStepsMatchPyTorchByHand() {
        let after = run(OptimizerSettings(epsilon: Self.eps), gradients: [Self.g1, Self.g2])
        // Step 1: m̂ = g, v̂ = g², so p₁ = p₀ − lr·g/(|g| + ε).
        let p1 = [1 - 0.01 * 0.1 / (0.1 + 1e-3), -2 + 0.01 * 0.2 / (0.2 + 1e-3), 0.5 - 0.01 * 0.3 / (0.3 + 1e-3)]
        assertClose(after[0], p1, relative: 1e-12, absolute: 1e-15, "step 1")
        // Step 2, element 0: m = 0.9·0.01 + 0.1·0.05 = 0.014, v = 0.999·1e-5 + 0.001·0.0025 = 1.249e-5,
        // 1 − β₁² = 0.19, 1 − β₂² = 0.001999.
        func step2(_ p1: Double, _ g1: Double, _ g2: Double) -> Double {
            let m = 0.9 * (0.1 * g1) + 0.1 * g2
            let v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2
            return p1 - (0.01 / 0.19) * m / (v.squareRoot() / 0.001999.squareRoot() + 1e-3)
        }
        let p2 = (0..<3).map { step2(p1[$0], Self.g1[$0], Self.g2[$0]) }
        XCTAssertEqual(p2[0], p1[0] - (0.01 / 0.19) * 0.014 / ((1.249e-5 / 0.001999).squareRoot() + 1e-3), accuracy: 1e-15)
        assertClose(after[1], p2, relative: 1e-12, absolute: 1e-15, "step 2")
    }

    func testMomentsAndStepCount() {
        let optimizer = AdamOptimizer<Double>(parameterCount: 3, settings: OptimizerSettings())
        optimizer.step(parameters: Buffer(Self.p0), gradients: Buffer(Self.g1), lr: Self.lr)
        XCTAssertEqual(optimizer.stepCount, 1)
        assertClose(optimizer.firstMoment.array, Self.g1.map { 0.1 * $0 }, relative: 1e-12, absolute: 0, "m")
        assertClose(optimizer.secondMoment.array, Self.g1.map { 0.001 * $0 * $0 }, relative: 1e-12, absolute: 0, "v")
    }

    /// Adam's weight decay is L2: λ·p joins the gradient before the moments.
    func testAdamWeightDecayIsL2() {
        let λ = 0.1
        let after = run(OptimizerSettings(kind: .adam, epsilon: Self.eps, weightDecay: λ), gradients: [Self.g1])
        let expected = (0..<3).map { i -> Double in
            let g = Self.g1[i] + λ * Self.p0[i]
            return Self.p0[i] - Self.lr * g / (abs(g) + Self.eps)
        }
        assertClose(after[0], expected, relative: 1e-12, absolute: 1e-15, "adam + L2")
    }

    /// AdamW decays the weights directly, p·(1 − lr·λ), and leaves the moments to the gradient alone.
    func testAdamWDecayIsDecoupled() {
        let λ = 0.1
        let after = run(OptimizerSettings(kind: .adamw, epsilon: Self.eps, weightDecay: λ), gradients: [Self.g1])
        let expected = (0..<3).map { i in
            Self.p0[i] * (1 - Self.lr * λ) - Self.lr * Self.g1[i] / (abs(Self.g1[i]) + Self.eps)
        }
        assertClose(after[0], expected, relative: 1e-12, absolute: 1e-15, "adamw")
    }

    /// The frozen padding row relies on this: zero gradient, zero state → the parameter does not move,
    /// even while its neighbours are updated, with or without weight decay when the value is 0.
    func testZeroGradientWithZeroStateLeavesTheParameterAlone() {
        for settings in [OptimizerSettings(), OptimizerSettings(kind: .adam, weightDecay: 0.1),
                         OptimizerSettings(kind: .adamw, weightDecay: 0.1)] {
            let optimizer = AdamOptimizer<Float>(parameterCount: 4, settings: settings)
            let p = Buffer<Float>([0.5, 0, 0, -1])
            let wd = settings.weightDecay > 0
            for _ in 0..<5 {
                optimizer.step(parameters: p, gradients: Buffer<Float>([0.3, 0, 0, 0]), lr: 0.01)
            }
            XCTAssertNotEqual(p[0], 0.5, "\(settings.kind): the parameter with a gradient moves")
            XCTAssertEqual(p[1], 0, "\(settings.kind): a zero parameter with zero gradient stays exactly 0")
            XCTAssertEqual(p[2], 0)
            if !wd { XCTAssertEqual(p[3], -1, "no decay: a zero gradient leaves any value alone") }
        }
    }

    func testFloatMatchesDouble() {
        let settings = OptimizerSettings(kind: .adamw, weightDecay: 0.01)
        let double = AdamOptimizer<Double>(parameterCount: 3, settings: settings)
        let float = AdamOptimizer<Float>(parameterCount: 3, settings: settings)
        let pd = Buffer(Self.p0), pf = Buffer(Self.p0.map { Float($0) })
        for g in [Self.g1, Self.g2, Self.g1] {
            double.step(parameters: pd, gradients: Buffer(g), lr: Self.lr)
            float.step(parameters: pf, gradients: Buffer(g.map { Float($0) }), lr: Self.lr)
        }
        assertClose(pf.array.map(Double.init), pd.array, relative: 1e-6, absolute: 1e-7, "Float vs Double")
    }

    func testRestoreSetsTheBiasCorrectionStep() {
        let optimizer = AdamOptimizer<Double>(parameterCount: 3, settings: OptimizerSettings())
        optimizer.restore(stepCount: 7)
        XCTAssertEqual(optimizer.stepCount, 7)
    }
}
