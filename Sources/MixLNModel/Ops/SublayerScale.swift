import MixLNTensor

// Dimensions: N rows, C channels, S = C (per channel) or 1 (one scalar) values of λ.

/// A sublayer output times a learnable λ before the residual add: `out = λ ⊙ inp`, λ one value per
/// channel (LayerScale) or one scalar (ReZero, SkipInit).
public enum SublayerScale {
    /// - Parameters: out (N, C), inp (N, C), scale (S)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, inp: UnsafePointer<T>, scale: UnsafePointer<T>, perChannel: Bool, rows: Int, channels C: Int
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 64) { range in
            for n in range {
                let x = inp + n * C, y = out + n * C
                if perChannel {
                    for c in 0..<C { y[c] = scale[c] * x[c] }
                } else {
                    let s = scale[0]
                    for c in 0..<C { y[c] = s * x[c] }
                }
            }
        }
    }

    /// Writes `dInp = λ ⊙ dOut` and accumulates `dScale += Σₙ dOut ⊙ inp` (summed over channels too
    /// for a scalar λ), reduced per worker and summed in worker order.
    /// - Parameters: dInp (N, C), dScale (S), dOut (N, C), inp (N, C), scale (S)
    public static func backward<T: TensorScalar>(
        dInp: UnsafeMutablePointer<T>, dScale: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, inp: UnsafePointer<T>,
        scale: UnsafePointer<T>, perChannel: Bool, rows: Int, channels C: Int
    ) {
        let S = perChannel ? C : 1
        Parallel.reduceByWorker(rows, minimumPerThread: 16, width: S, { range, ds in
            for n in range {
                let x = inp + n * C, dy = dOut + n * C, dx = dInp + n * C
                if perChannel {
                    for c in 0..<C {
                        ds[c] += dy[c] * x[c]
                        dx[c] = scale[c] * dy[c]
                    }
                } else {
                    let s = scale[0]
                    ds[0] += VectorMath.dot(dy, x, C)
                    for c in 0..<C { dx[c] = s * dy[c] }
                }
            }
        }, combine: { VectorMath.axpy(1, $0, dScale, S) })
    }
}
