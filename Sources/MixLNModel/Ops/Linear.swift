import MixLNTensor

// Dimensions: N rows, C input channels, OC output channels. Weights are (OC, C) as in PyTorch.

/// Bias-free linear layer `out = inp · Wᵀ`, one GEMM per product.
///
/// The operands say the precision (`GemmOperand`): fp32 values, or bf16 copies whose products are
/// summed in fp32; outputs and the accumulated gradients are always `T`.
public enum Linear {
    /// - Parameters: out (N, OC), inp (N, C), weight (OC, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, inp: GemmOperand<T>, weight: GemmOperand<T>,
        rows: Int, inChannels: Int, outChannels: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .matmul(rows: rows, inChannels: inChannels, outChannels: outChannels, backward: false),
                               flops: 2 * Double(rows) * Double(inChannels) * Double(outChannels)) }
        T.gemm(transposeA: false, transposeB: true, m: rows, n: outChannels, k: inChannels,
               alpha: 1, a: inp, lda: inChannels, b: weight, ldb: inChannels, beta: 0, c: out, ldc: outChannels)
    }

    /// `dWeight += dOutᵀ · inp`; `dInp += dOut · W` (or `=` when `accumulateInput` is false, for a scratch buffer).
    /// - Parameters: dInp (N, C), dWeight (OC, C), dOut (N, OC), inp (N, C), weight (OC, C)
    public static func backward<T: TensorScalar>(
        dInp: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, dOut: GemmOperand<T>,
        inp: GemmOperand<T>, weight: GemmOperand<T>,
        rows: Int, inChannels: Int, outChannels: Int, accumulateInput: Bool = true
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .matmul(rows: rows, inChannels: inChannels, outChannels: outChannels, backward: true),
                               flops: 4 * Double(rows) * Double(inChannels) * Double(outChannels)) }
        T.gemm(transposeA: false, transposeB: false, m: rows, n: inChannels, k: outChannels,
               alpha: 1, a: dOut, lda: outChannels, b: weight, ldb: inChannels,
               beta: accumulateInput ? 1 : 0, c: dInp, ldc: inChannels)
        T.gemm(transposeA: true, transposeB: false, m: outChannels, n: inChannels, k: rows,
               alpha: 1, a: dOut, lda: outChannels, b: inp, ldb: inChannels, beta: 1, c: dWeight, ldc: inChannels)
    }

    /// `forward` on fp32 values.
    /// - Parameters: out (N, OC), inp (N, C), weight (OC, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, inp: UnsafePointer<T>, weight: UnsafePointer<T>,
        rows: Int, inChannels: Int, outChannels: Int
    ) {
        forward(out: out, inp: .values(inp), weight: .values(weight), rows: rows, inChannels: inChannels, outChannels: outChannels)
    }

    /// `backward` on fp32 values.
    /// - Parameters: dInp (N, C), dWeight (OC, C), dOut (N, OC), inp (N, C), weight (OC, C)
    public static func backward<T: TensorScalar>(
        dInp: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>,
        inp: UnsafePointer<T>, weight: UnsafePointer<T>,
        rows: Int, inChannels: Int, outChannels: Int, accumulateInput: Bool = true
    ) {
        backward(dInp: dInp, dWeight: dWeight, dOut: .values(dOut), inp: .values(inp), weight: .values(weight),
                 rows: rows, inChannels: inChannels, outChannels: outChannels, accumulateInput: accumulateInput)
    }
}
