import MixLNTensor

// Dimensions: N rows, I intermediate channels.

/// The gated activation of the LLaMA MLP: `out = silu(gate) ⊙ up`, with gate and up side by side
/// in one (N, 2I) buffer (one matmul computes both).
///
/// Both passes can write their result as bfloat16 bits in the same pass (`outCopy`, `dGateUpCopy`),
/// which is all a bf16 GEMM reads: the fp32 result is then optional, and no second pass rounds it.
public enum SwiGLU {
    /// - Parameters: out (N, I) or nil, outCopy (N, I) bf16 or nil (not both nil),
    ///   gateUp (N, 2I): gate in columns 0..<I, up in I..<2I
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>?, outCopy: BFloat16Buffer? = nil, gateUp: UnsafePointer<T>, rows: Int, intermediate I: Int
    ) {
        precondition(out != nil || outCopy != nil, "SwiGLU.forward needs an output")
        precondition(outCopy.map { $0.count >= rows * I } ?? true, "SwiGLU's bf16 output holds (N, I)")
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .swiglu(backward: false)) }
        let bits = outCopy?.pointer
        Parallel.forEachChunk(rows, minimumPerThread: 32) { range in
            for n in range {
                let gate = gateUp + n * 2 * I
                T.swiglu(gate: gate, up: gate + I, out: out.map { $0 + n * I }, bits: bits.map { $0 + n * I }, count: I)
            }
        }
    }

    /// Writes `dGateUp` (N, 2I) and/or its bf16 rounding `dGateUpCopy` from `dOut` (N, I) and the
    /// saved `gateUp` (N, 2I).
    ///
    /// With σ = sigmoid(g): d gate = dy·up·σ·(1 + g·(1 − σ)), d up = dy·g·σ.
    public static func backward<T: TensorScalar>(
        dGateUp: UnsafeMutablePointer<T>?, dGateUpCopy: BFloat16Buffer? = nil, dOut: UnsafePointer<T>, gateUp: UnsafePointer<T>,
        rows: Int, intermediate I: Int
    ) {
        precondition(dGateUp != nil || dGateUpCopy != nil, "SwiGLU.backward needs an output")
        precondition(dGateUpCopy.map { $0.count >= rows * 2 * I } ?? true, "SwiGLU's bf16 gradient holds (N, 2I)")
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .swiglu(backward: true)) }
        let bits = dGateUpCopy?.pointer
        Parallel.forEachChunk(rows, minimumPerThread: 32) { range in
            for n in range {
                let gate = gateUp + n * 2 * I, dGate = dGateUp.map { $0 + n * 2 * I }, dGateBits = bits.map { $0 + n * 2 * I }
                T.swigluBackward(dy: dOut + n * I, gate: gate, up: gate + I, dGate: dGate, dUp: dGate.map { $0 + I },
                                 dGateBits: dGateBits, dUpBits: dGateBits.map { $0 + I }, count: I)
            }
        }
    }
}
