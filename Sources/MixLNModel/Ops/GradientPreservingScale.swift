import MixLNTensor

// Dimensions: N·C values of one activation; the gate a is a scalar.

/// GPAS, gradient-preserving activation scaling (Chen et al. 2025): `out = z − SiLU(a)·sg(z)`.
///
/// The forward scales `z` by `1 − SiLU(a)`; the stop-gradient `sg` makes the backward pass dL/dz
/// through unscaled, and gives the gate `dL/da = −SiLU'(a)·Σ dOut ⊙ z`. With a = 0 (its init) the
/// forward is the identity.
public enum GradientPreservingScale {
    /// The forward's factor `1 − SiLU(a)`.
    public static func factor<T: TensorScalar>(gate a: T) -> T { 1 - a * sigmoid(a) }

    /// Accumulates the gate's gradient, `dGate += −SiLU'(a)·scale·Σ dOut ⊙ inp`, where `inp` is the
    /// value under the stop-gradient and `scale` multiplies it on its way to `out` (a residual scale α).
    /// - Parameters: dGate (1), dOut (N·C), inp (N·C), gate (1)
    public static func backwardGate<T: TensorScalar>(
        dGate: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, inp: UnsafePointer<T>, gate: UnsafePointer<T>, count: Int, scale: T = 1
    ) {
        let a = gate[0], s = sigmoid(a)
        let siluDerivative = s * (1 + a * (1 - s))
        dGate[0] -= siluDerivative * scale * T(VectorMath.dotInDouble(dOut, inp, count))
    }

    private static func sigmoid<T: TensorScalar>(_ a: T) -> T { 1 / (1 + T.exp(-a)) }
}
