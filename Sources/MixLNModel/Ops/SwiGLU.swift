import MixLNTensor

// Dimensions: N rows, I intermediate channels.

/// The gated activation of the LLaMA MLP: `out = silu(gate) ⊙ up`, with gate and up side by side
/// in one (N, 2I) buffer (one matmul computes both).
public enum SwiGLU {
    /// - Parameters: out (N, I), gateUp (N, 2I): gate in columns 0..<I, up in I..<2I
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, gateUp: UnsafePointer<T>, rows: Int, intermediate: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .swiglu(backward: false)) }
        Parallel.forEachChunk(rows, minimumPerThread: 32) { range in
            for n in range {
                let gate = gateUp + n * 2 * intermediate, up = gate + intermediate, y = out + n * intermediate
                // y ← exp(−gate), then silu(gate)·up = gate·up / (1 + exp(−gate))
                for i in 0..<intermediate { y[i] = -gate[i] }
                T.expInPlace(y, count: intermediate)
                for i in 0..<intermediate { y[i] = gate[i] * up[i] / (1 + y[i]) }
            }
        }
    }

    /// Writes `dGateUp` (N, 2I) from `dOut` (N, I) and the saved `gateUp` (N, 2I).
    ///
    /// With σ = sigmoid(g): d gate = dy·up·σ·(1 + g·(1 − σ)), d up = dy·g·σ.
    public static func backward<T: TensorScalar>(
        dGateUp: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, gateUp: UnsafePointer<T>,
        rows: Int, intermediate: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .swiglu(backward: true)) }
        Parallel.forEachChunk(rows, minimumPerThread: 32) { range in
            for n in range {
                let gate = gateUp + n * 2 * intermediate, up = gate + intermediate
                let dGate = dGateUp + n * 2 * intermediate, dUp = dGate + intermediate
                let dy = dOut + n * intermediate
                for i in 0..<intermediate { dGate[i] = -gate[i] }
                T.expInPlace(dGate, count: intermediate)
                for i in 0..<intermediate {
                    let sigma = 1 / (1 + dGate[i])
                    let g = gate[i]
                    dUp[i] = dy[i] * g * sigma
                    dGate[i] = dy[i] * up[i] * sigma * (1 + g * (1 - sigma))
                }
            }
        }
    }
}
