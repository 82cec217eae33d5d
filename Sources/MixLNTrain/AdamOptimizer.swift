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
///
/// The update itself is `TensorScalar.adamUpdate` on each worker's share: for `Float` a vectorized
/// C kernel, for `Double` a plain loop with the same operations in the same order.
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
        let update = AdamStep<T>(
            beta1: T(settings.beta1), beta2: T(settings.beta2),
            l2: settings.kind == .adam ? T(settings.weightDecay) : 0,
            decay: settings.kind == .adamw ? T(1 - lr * settings.weightDecay) : 1,
            stepSize: T(lr / (1 - pow(settings.beta1, Double(stepCount)))),
            correction2Root: T((1 - pow(settings.beta2, Double(stepCount))).squareRoot()),
            epsilon: T(settings.epsilon))
        let p = parameters.pointer, g = gradients.pointer, m = firstMoment.pointer, v = secondMoment.pointer
        let rounds = roundsToBFloat16
        Parallel.forEachChunk(parameters.count, minimumPerThread: Self.minimumPerWorker) { range in
            let first = range.lowerBound
            T.adamUpdate(update, parameters: p + first, gradients: g + first, firstMoment: m + first, secondMoment: v + first,
                         count: range.count, roundingToBFloat16: rounds)
        }
    }

    /// The fewest parameters a worker updates: a share of 2¹⁶ (1.8 MB of fp32 p, g, m, v) takes tens of
    /// microseconds, so a smaller one is not worth waking a thread.
    public static var minimumPerWorker: Int { 1 << 16 }

    /// Restores the step count (resuming from a checkpoint whose moments were loaded into the buffers).
    public func restore(stepCount: Int) { self.stepCount = stepCount }
}
