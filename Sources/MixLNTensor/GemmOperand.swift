/// A row-major matrix as a GEMM reads it: `T` values, or bfloat16 bits. Its row stride is passed
/// beside it, as in BLAS.
///
/// Where the operands of a product come from decides how it is computed: two `.values` run the
/// fp32 GEMM, two `.bfloat16` the bf16 one (fp32 accumulation). A model in `MatmulPrecision.bf16`
/// holds a bf16 copy of every matrix its GEMMs read; the initializers below pick the copy when
/// there is one, so code that builds operands has a single path for both precisions.
public enum GemmOperand<T: TensorScalar> {
    case values(UnsafePointer<T>)
    case bfloat16(UnsafePointer<UInt16>)

    /// `x` as the GEMM reads it: `x` itself when `copy` is nil, else `x` (count values) rounded
    /// into `copy` now — once, for every product that reads it until `x` changes.
    public init(_ x: UnsafePointer<T>, count: Int, roundingInto copy: BFloat16Buffer?) {
        guard let copy else { self = .values(x); return }
        copy.round(x, count: count)
        self = .bfloat16(copy.pointer)
    }

    /// `x` as the GEMM reads it: `x` itself when `copy` is nil, else `copy`, which holds `x`
    /// rounded earlier (an activation saved by the forward, read again by the backward).
    public init(_ x: UnsafePointer<T>, savedIn copy: BFloat16Buffer?) {
        self = copy.map { .bfloat16($0.pointer) } ?? .values(x)
    }

    /// Whether the products that read this operand run in bf16.
    public var isBFloat16: Bool {
        if case .bfloat16 = self { return true }
        return false
    }

    /// The same storage `n` elements on: a column block or a sub-matrix.
    public func advanced(by n: Int) -> GemmOperand {
        switch self {
        case .values(let p): return .values(p + n)
        case .bfloat16(let p): return .bfloat16(p + n)
        }
    }
}

extension TensorScalar {
    /// Row-major `C = alpha · op(A) · op(B) + beta · C` on operands of one precision: the fp32
    /// GEMM for `.values`, the bf16 one (fp32 accumulation, `C` in `T`) for `.bfloat16`, on the threads
    /// `threading` allows.
    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: GemmOperand<Self>, lda: Int, b: GemmOperand<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int, threading: GemmThreading = .shared
    ) {
        switch (a, b) {
        case let (.values(a), .values(b)):
            gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                 b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threading: threading)
        case let (.bfloat16(a), .bfloat16(b)):
            gemmBFloat16(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                         b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threading: threading)
        default:
            preconditionFailure("a GEMM mixes an fp32 and a bf16 operand")
        }
    }
}
