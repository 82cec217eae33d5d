/// The scalars of one Adam or AdamW update as PyTorch computes it, for `TensorScalar.adamUpdate`:
///
///     grad = g + l2·p
///     m ← β₁·m + (1 − β₁)·grad,   v ← β₂·v + (1 − β₂)·grad·grad
///     p ← p·decay − stepSize·m / (√v / correction2Root + ε)
///
/// Adam folds its weight decay λ into the gradient (`l2 = λ`, `decay = 1`); AdamW decays the weights
/// directly (`l2 = 0`, `decay = 1 − lr·λ`). The bias corrections of step t are in `stepSize` and
/// `correction2Root`, so one value serves every element of that step.
public struct AdamStep<T: TensorScalar>: Sendable {
    public var beta1: T
    public var beta2: T
    /// Adam's weight decay, added to the gradient as `l2·p` (0 for AdamW).
    public var l2: T
    /// AdamW's weight factor `1 − lr·λ` (1 for Adam).
    public var decay: T
    /// `lr / (1 − β₁ᵗ)` at step t.
    public var stepSize: T
    /// `√(1 − β₂ᵗ)` at step t.
    public var correction2Root: T
    public var epsilon: T

    public init(beta1: T, beta2: T, l2: T, decay: T, stepSize: T, correction2Root: T, epsilon: T) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.l2 = l2
        self.decay = decay
        self.stepSize = stepSize
        self.correction2Root = correction2Root
        self.epsilon = epsilon
    }
}
