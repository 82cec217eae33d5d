import MixLNTensor

// Dimensions: N = B·T rows, C channels.

/// A sublayer's input RMSNorm, handed to the residual add that produces its input so that both
/// run in one pass over each row (`RMSNorm.forwardAfterResidualAdd`): where the norm's results go.
/// The receiving sublayer then finds its input normalized (and rounded to bf16) already.
struct InputNormHandoff<T: TensorScalar> {
    let weight: UnsafePointer<T>        // (C) the norm's w
    let normed: UnsafeMutablePointer<T> // (N, C) u = N_in(x)·s
    let rstd: UnsafeMutablePointer<T>   // (N) 1/rms per row
    let copy: BFloat16Buffer?           // (N, C) u in bf16, for the body's GEMMs (nil in fp32)
    let scale: T                        // s, the input norm's output scale
}

extension Transformer {
    /// The input norm of a sublayer as a handoff; nil where there is none to hand over: fusion off
    /// (`fusesResidualNorm`), no input norm, or a norm other than RMSNorm (DyT).
    func inputNormHandoff(_ norms: SublayerNorms, _ acts: SublayerActivations<T>, site: NormSite?) -> InputNormHandoff<T>? {
        guard fusesResidualNorm, case .rms(let weight)? = site, let normed = acts.inputNormed, let rstd = acts.inputRstd else {
            return nil
        }
        return InputNormHandoff(weight: weights(weight, count: config.hiddenSize), normed: normed.pointer, rstd: rstd.pointer,
                                copy: acts.bodyInputCopy, scale: T(norms.inputNormScale))
    }
}
