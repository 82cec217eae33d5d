import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport
import MixLNTrain

/// The `Float` Adam update (`TensorScalar.adamUpdate`, the C kernel `mixln_adam_f32`) over many
/// elements: against a plain `Double` reference, against the Swift loop it replaced, and split
/// over many workers. Counts are odd so that every vector loop ends in a scalar remainder.
final class AdamKernelTests: XCTestCase {
    static let settings: [OptimizerSettings] = [
        OptimizerSettings(),
        OptimizerSettings(kind: .adam, weightDecay: 0.1),
        OptimizerSettings(kind: .adamw, weightDecay: 0.1),
    ]
    /// A warm-up-like schedule, so that every step has its own step size and AdamW factor.
    static let learningRates = [1e-3, 3e-3, 1e-2, 5e-3, 2e-3]

    /// Weights in [−1, 1), moments zero, and per step gradients in [−s, s) with s from 1e-3 to 1.
    struct Problem {
        var p: [Float], m: [Float], v: [Float]
        var gradients: [[Float]]

        init(count: Int, steps: Int, seed: UInt64) {
            p = FiniteDifference.randomVector(count, seed: seed).map { Float($0) }
            m = [Float](repeating: 0, count: count)
            v = m
            gradients = (0..<steps).map { t in
                FiniteDifference.randomVector(count, seed: seed + 1 + UInt64(t), scale: pow(10, -Double(t % 4))).map { Float($0) }
            }
        }
    }

    /// Runs `AdamOptimizer<Float>` over `problem`; returns (p, m, v) after its steps.
    func runOptimizer(_ problem: Problem, _ settings: OptimizerSettings, roundsToBFloat16: Bool = false) -> (p: [Float], m: [Float], v: [Float]) {
        let optimizer = AdamOptimizer<Float>(parameterCount: problem.p.count, settings: settings, roundsToBFloat16: roundsToBFloat16)
        let p = Buffer(problem.p)
        for (t, g) in problem.gradients.enumerated() {
            optimizer.step(parameters: p, gradients: Buffer(g), lr: Self.learningRates[t % Self.learningRates.count])
        }
        return (p.array, optimizer.firstMoment.array, optimizer.secondMoment.array)
    }

    /// PyTorch's update written out in `Double`, from the same `Float` inputs and with the
    /// `Float` update's coefficients: the moments' β₁, β₂ and ε, λ rounded to `Float` (1 − β₂ of
    /// `Float(0.999)` is 1.3e-5 away from 0.001 in relative terms, a difference of inputs, not of
    /// arithmetic), the bias corrections from the `Double` β's, as `AdamOptimizer` computes them.
    func referenceAdam(_ problem: Problem, _ settings: OptimizerSettings) -> (p: [Double], m: [Double], v: [Double]) {
        func asFloat(_ x: Double) -> Double { Double(Float(x)) }
        let b1 = asFloat(settings.beta1), b2 = asFloat(settings.beta2), eps = asFloat(settings.epsilon)
        let lambda = asFloat(settings.weightDecay)
        var p = problem.p.map(Double.init), m = problem.m.map(Double.init), v = problem.v.map(Double.init)
        for (index, g) in problem.gradients.enumerated() {
            let t = Double(index + 1), lr = Self.learningRates[index % Self.learningRates.count]
            let correction1 = 1 - pow(settings.beta1, t), correction2 = 1 - pow(settings.beta2, t)
            for i in p.indices {
                var grad = Double(g[i])
                if settings.kind == .adam { grad += lambda * p[i] } else { p[i] *= 1 - lr * settings.weightDecay }
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                p[i] -= lr * (m[i] / correction1) / (v[i].squareRoot() / correction2.squareRoot() + eps)
            }
        }
        return (p, m, v)
    }

    /// Float against the Double reference to float rounding: relative 1e-6 (≈ 17 ulps, after five
    /// steps of a few roundings each). The absolute terms cover results that cancel to near zero,
    /// whose error is a few ulps of the terms that cancelled: m's terms are at most 0.1 (an ulp there
    /// is 7.5e-9), p's at most 1 (an ulp 1.2e-7).
    func testFloatMatchesADoubleReference() {
        for count in [1001, 4099] {
            let problem = Problem(count: count, steps: Self.learningRates.count, seed: UInt64(count))
            for settings in Self.settings {
                let label = "\(settings.kind) λ=\(settings.weightDecay) n=\(count)"
                let float = runOptimizer(problem, settings), double = referenceAdam(problem, settings)
                assertClose(float.m.map(Double.init), double.m, relative: 1e-6, absolute: 3e-8, "\(label) m")
                assertClose(float.v.map(Double.init), double.v, relative: 1e-6, absolute: 0, "\(label) v")
                assertClose(float.p.map(Double.init), double.p, relative: 1e-6, absolute: 3e-7, "\(label) p")
            }
        }
    }

    /// The Swift loop the kernel replaced, with bf16-pure's rounding of each value once it is final.
    func swiftLoopAdam(_ problem: Problem, _ settings: OptimizerSettings, roundsToBFloat16: Bool) -> (p: [Float], m: [Float], v: [Float]) {
        var p = problem.p, m = problem.m, v = problem.v
        func rounded(_ x: Float) -> Float {
            var x = x
            Float.roundInPlaceToBFloat16(&x, count: 1)
            return x
        }
        let b1 = Float(settings.beta1), b2 = Float(settings.beta2), eps = Float(settings.epsilon)
        for (index, g) in problem.gradients.enumerated() {
            let t = Double(index + 1), lr = Self.learningRates[index % Self.learningRates.count]
            let correction2Root = Float((1 - pow(settings.beta2, t)).squareRoot())
            let stepSize = Float(lr / (1 - pow(settings.beta1, t)))
            let l2 = settings.kind == .adam ? Float(settings.weightDecay) : 0
            let decay = settings.kind == .adamw ? Float(1 - lr * settings.weightDecay) : 1
            for i in p.indices {
                let grad = g[i] + l2 * p[i]
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                if roundsToBFloat16 { m[i] = rounded(m[i]); v[i] = rounded(v[i]) }
                p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() / correction2Root + eps)
                if roundsToBFloat16 { p[i] = rounded(p[i]) }
            }
        }
        return (p, m, v)
    }

    /// The kernel does the loop's fp32 operations in the loop's order (no FMA contraction, no
    /// reassociation), so it equals it bit for bit, in fp32 and in bf16-pure: a training run's
    /// numbers did not change with it.
    func testFloatEqualsTheSwiftLoopBitForBit() {
        let problem = Problem(count: 1001, steps: Self.learningRates.count, seed: 7)
        for settings in Self.settings {
            for rounds in [false, true] {
                let label = "\(settings.kind) λ=\(settings.weightDecay) bf16-pure=\(rounds)"
                let kernel = runOptimizer(problem, settings, roundsToBFloat16: rounds)
                let loop = swiftLoopAdam(problem, settings, roundsToBFloat16: rounds)
                assertSameBits(kernel, loop, label)
            }
        }
    }

    /// With 16 threads (as `MIXLN_THREADS=16` on a small machine) the update is split into 16
    /// shares whose bounds are not multiples of the vector width; an element-wise update must give
    /// the one-worker result exactly. A small buffer stays on one worker (`minimumPerWorker`), so
    /// the split one has 16 shares of just over 2¹⁶ (4 MB per array).
    func testManyWorkersGiveTheOneWorkerResult() {
        let saved = Parallel.threadCount
        defer { Parallel.setThreadCount(saved) }
        let settings = OptimizerSettings(kind: .adamw, weightDecay: 0.1)
        let perWorker = AdamOptimizer<Float>.minimumPerWorker
        for count in [1001, 16 * perWorker + 13] {
            let problem = Problem(count: count, steps: 2, seed: 11)
            for rounds in [false, true] {
                let label = "n=\(count) bf16-pure=\(rounds)"
                Parallel.setThreadCount(1)
                let one = runOptimizer(problem, settings, roundsToBFloat16: rounds)
                Parallel.setThreadCount(16)
                XCTAssertEqual(Parallel.workerCount(count, minimumPerThread: perWorker), count > 16 * perWorker ? 16 : 1, label)
                let many = runOptimizer(problem, settings, roundsToBFloat16: rounds)
                assertSameBits(many, one, label)
            }
        }
    }

    /// Fails unless p, m and v are bit for bit the same; names the first element that is not (a
    /// failing `XCTAssertEqual` would print arrays of a million elements).
    func assertSameBits(_ a: (p: [Float], m: [Float], v: [Float]), _ b: (p: [Float], m: [Float], v: [Float]), _ label: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        for (name, x, y) in [("p", a.p, b.p), ("m", a.m, b.m), ("v", a.v, b.v)] {
            XCTAssertEqual(x.count, y.count, "\(label) \(name): length", file: file, line: line)
            if let i = (0..<min(x.count, y.count)).first(where: { x[$0].bitPattern != y[$0].bitPattern }) {
                XCTFail("\(label) \(name)[\(i)]: \(x[i]) vs \(y[i])", file: file, line: line)
            }
        }
    }
}
