import MixLNTensor

// Dimensions: N rows, C channels.

/// RMSNorm with an optional output scale: `y = s · w ⊙ x / √(mean(x²) + ε)`.
///
/// `s` is 1 except under LayerNorm Scaling, where it is 1/√ℓ.
public enum RMSNorm {
    /// - Parameters: out (N, C), rstd (N) saved for backward, inp (N, C), weight (C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>, inp: UnsafePointer<T>,
        weight: UnsafePointer<T>, rows: Int, channels: Int, eps: T, scale: T = 1
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: false)) }
        Parallel.forEachChunk(rows, minimumPerThread: 64) { range in
            for n in range {
                let x = inp + n * channels, y = out + n * channels
                let meanSquare = VectorMath.dot(x, x, channels) / T(channels)
                let r = 1 / (meanSquare + eps).squareRoot()
                rstd[n] = r
                let rs = r * scale
                for c in 0..<channels { y[c] = x[c] * rs * weight[c] }
            }
        }
    }

    /// Accumulates `dInp` and `dWeight`.
    ///
    /// With `g = s·w⊙dy`: `dx = r·(g − x·r²·Σ(g⊙x)/C)`, `dw = s·Σₙ dy⊙x·r`.
    /// - Parameters: dInp (N, C), dWeight (C), dOut (N, C), inp (N, C), weight (C), rstd (N)
    public static func backward<T: TensorScalar>(
        dInp: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>,
        inp: UnsafePointer<T>, weight: UnsafePointer<T>, rstd: UnsafePointer<T>,
        rows: Int, channels: Int, scale: T = 1
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: true)) }
        // dInp rows are independent; dWeight is reduced per worker, then summed in worker order.
        Parallel.reduceByWorker(rows, minimumPerThread: 16, width: channels, { range, dw in
            for n in range {
                T.rmsNormBackwardRow(dx: dInp + n * channels, dw: dw, dy: dOut + n * channels, x: inp + n * channels,
                                     w: weight, r: rstd[n], scale: scale, channels: channels)
            }
        }, combine: { VectorMath.axpy(1, $0, dWeight, channels) })
    }
}
