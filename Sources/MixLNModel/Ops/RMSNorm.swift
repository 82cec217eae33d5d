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
                rstd[n] = normalizeRow(out: out + n * channels, inp: inp + n * channels, weight: weight,
                                       channels: channels, eps: eps, scale: scale)
            }
        }
    }

    /// One row of `forward`: writes `y` and returns its `r` = 1/rms.
    /// - Parameters: y (C), x (C), weight (C)
    @inline(__always)
    static func normalizeRow<T: TensorScalar>(out y: UnsafeMutablePointer<T>, inp x: UnsafePointer<T>, weight: UnsafePointer<T>,
                                              channels: Int, eps: T, scale: T) -> T {
        let meanSquare = VectorMath.dot(x, x, channels) / T(channels)
        let r = 1 / (meanSquare + eps).squareRoot()
        let rs = r * scale
        for c in 0..<channels { y[c] = x[c] * rs * weight[c] }
        return r
    }

    /// The residual add and the RMSNorm that reads its result, in one pass over each row (the
    /// row stays in cache): `sum = a·skip + update`, then `forward` of `sum` into `out` and `rstd`,
    /// and where `bits` is given, `out` rounded to bfloat16 for the GEMM that reads it. Equal to
    /// `VectorMath.scaledAdd`, `forward` and `BFloat16Buffer.round` one after the other.
    /// - Parameters: sum (N, C), out (N, C), bits (N, C), rstd (N), skip (N, C), update (N, C), weight (C)
    public static func forwardAfterResidualAdd<T: TensorScalar>(
        sum: UnsafeMutablePointer<T>, out: UnsafeMutablePointer<T>, bits: UnsafeMutablePointer<UInt16>?,
        rstd: UnsafeMutablePointer<T>, skip: UnsafePointer<T>, skipScale a: T, update: UnsafePointer<T>,
        weight: UnsafePointer<T>, rows: Int, channels: Int, eps: T, scale: T = 1
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .residualNorm) }
        Parallel.forEachChunk(rows, minimumPerThread: 64) { range in
            for n in range {
                let row = n * channels
                T.scaledAdd(sum + row, a, skip + row, update + row, count: channels)
                rstd[n] = normalizeRow(out: out + row, inp: sum + row, weight: weight, channels: channels, eps: eps, scale: scale)
                if let bits { T.roundToBFloat16(out + row, into: bits + row, count: channels) }
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
