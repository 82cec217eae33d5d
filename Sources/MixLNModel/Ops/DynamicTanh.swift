import MixLNTensor

// Dimensions: N rows, C channels.

/// Dynamic Tanh (Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025), a
/// norm site without statistics: `y = s · γ ⊙ tanh(α·x)`, α one learnable scalar, γ the site's
/// per-channel weight.
///
/// `s` is 1 except under LayerNorm Scaling (1/√ℓ on input norms), as for `RMSNorm`. Each row is
/// computed alone, so nothing is saved for backward beyond the input: tanh(α·x) is recomputed there.
public enum DynamicTanh {
    /// - Parameters: out (N, C), inp (N, C), weight (C) γ, alpha (1)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, inp: UnsafePointer<T>, weight: UnsafePointer<T>, alpha: UnsafePointer<T>,
        rows: Int, channels: Int, scale: T = 1
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: false)) }
        let a = alpha[0]
        Parallel.forEachChunk(rows, minimumPerThread: 64) { range in
            for n in range {
                let x = inp + n * channels, y = out + n * channels
                for c in 0..<channels { y[c] = scale * weight[c] * T.tanh(a * x[c]) }
            }
        }
    }

    /// Accumulates `dInp`, `dWeight` and `dAlpha`.
    ///
    /// With `t = tanh(α·x)` and `g = s·γ ⊙ dy`: `dx = α·g·(1 − t²)`, `dγ = s·Σₙ dy ⊙ t`,
    /// `dα = Σₙ Σ_c g·x·(1 − t²)`. dγ and dα are reduced per worker, then summed in worker order.
    /// - Parameters: dInp (N, C), dWeight (C), dAlpha (1), dOut (N, C), inp (N, C), weight (C), alpha (1)
    public static func backward<T: TensorScalar>(
        dInp: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, dAlpha: UnsafeMutablePointer<T>,
        dOut: UnsafePointer<T>, inp: UnsafePointer<T>, weight: UnsafePointer<T>, alpha: UnsafePointer<T>,
        rows: Int, channels: Int, scale: T = 1
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: true)) }
        let a = alpha[0]
        // A worker's partial holds dγ in its first C values and dα in the last: (C + 1).
        Parallel.reduceByWorker(rows, minimumPerThread: 16, width: channels + 1, { range, partial in
            for n in range {
                let x = inp + n * channels, dy = dOut + n * channels, dx = dInp + n * channels
                var da: T = 0
                for c in 0..<channels {
                    let t = T.tanh(a * x[c]), slope = 1 - t * t, g = scale * weight[c] * dy[c]
                    partial[c] += scale * dy[c] * t
                    da += g * x[c] * slope
                    dx[c] += a * g * slope
                }
                partial[channels] += da
            }
        }, combine: { partial in
            VectorMath.axpy(1, partial, dWeight, channels)
            dAlpha[0] += partial[channels]
        })
    }
}
