import Foundation
import MixLNModel
import MixLNTensor

/// Optimizer choice and hyper-parameters (defaults: the official Adam, no weight decay).
public struct OptimizerSettings: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable { case adam, adamw }
    public var kind: Kind = .adam
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var weightDecay: Double = 0

    public init(kind: Kind = .adam, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.kind = kind
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    enum CodingKeys: String, CodingKey { case kind, beta1, beta2, epsilon = "eps", weightDecay = "weight_decay" }
}


/// Adam and AdamW as PyTorch implements them, over one flat parameter buffer.
///
/// Adam adds `weightDecay·p` to the gradient (L2, the official runs use 0); AdamW decays the
/// weights directly, `p ← p·(1 − lr·weightDecay)`, before the Adam step.
///
/// With `roundsToBFloat16` (`--precision bf16-pure`) the moments and the weights are rounded to
/// bf16 as soon as each is updated, as when all three are stored in bf16: the new moments are
/// rounded before the weight update reads them, and the weights after it.
public final class AdamOptimizer<T: TensorScalar> {
    public let settings: OptimizerSettings
    public let firstMoment: Buffer<T>   // (P)
    public let secondMoment: Buffer<T>  // (P)
    /// Whether weights and moments are kept bf16-representable (no fp32 master copy).
    public let roundsToBFloat16: Bool
    /// Updates taken so far (for bias correction).
    public private(set) var stepCount = 0

    public init(parameterCount: Int, settings: OptimizerSettings, roundsToBFloat16: Bool = false) {
        self.settings = settings
        self.roundsToBFloat16 = roundsToBFloat16
        firstMoment = Buffer(count: parameterCount)
        secondMoment = Buffer(count: parameterCount)
    }

    /// One update of `model`'s parameters from its gradients, then `model.parametersDidChange()`
    /// (its bf16 weight copy, if any, is rebuilt before the next forward).
    public func step(_ model: Transformer<T>, lr: Double) {
        step(parameters: model.parameters, gradients: model.gradients, lr: lr)
        model.parametersDidChange()
    }

    /// One update of `parameters` (P) from `gradients` (P) at learning rate `lr`. A model's
    /// parameters are updated through `step(_:lr:)`, which tells the model.
    public func step(parameters: Buffer<T>, gradients: Buffer<T>, lr: Double) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .optimizer) }
        stepCount += 1
        let b1 = T(settings.beta1), b2 = T(settings.beta2), eps = T(settings.epsilon)
        let correction1 = 1 - pow(settings.beta1, Double(stepCount))
        let correction2Root = T((1 - pow(settings.beta2, Double(stepCount))).squareRoot())
        let stepSize = T(lr / correction1)
        let l2 = settings.kind == .adam ? T(settings.weightDecay) : 0
        let decay = settings.kind == .adamw ? T(1 - lr * settings.weightDecay) : 1
        let p = parameters.pointer, g = gradients.pointer, m = firstMoment.pointer, v = secondMoment.pointer
        guard roundsToBFloat16 else {
            Parallel.forEachChunk(parameters.count, minimumPerThread: 1 << 16) { range in
                for i in range {
                    let grad = g[i] + l2 * p[i]
                    m[i] = b1 * m[i] + (1 - b1) * grad
                    v[i] = b2 * v[i] + (1 - b2) * grad * grad
                    p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() / correction2Root + eps)
                }
            }
            return
        }
        // bf16-pure: the same update in cache-sized blocks, each value rounded once it is final.
        let block = 4096
        Parallel.forEachChunk(parameters.count, minimumPerThread: 1 << 16) { range in
            for first in stride(from: range.lowerBound, to: range.upperBound, by: block) {
                let part = first..<min(first + block, range.upperBound)
                for i in part {
                    let grad = g[i] + l2 * p[i]
                    m[i] = b1 * m[i] + (1 - b1) * grad
                    v[i] = b2 * v[i] + (1 - b2) * grad * grad
                }
                T.roundInPlaceToBFloat16(m + first, count: part.count)
                T.roundInPlaceToBFloat16(v + first, count: part.count)
                for i in part {
                    p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() / correction2Root + eps)
                }
                T.roundInPlaceToBFloat16(p + first, count: part.count)
            }
        }
    }

    /// Restores the step count (resuming from a checkpoint whose moments were loaded into the buffers).
    public func restore(stepCount: Int) { self.stepCount = stepCount }
}
