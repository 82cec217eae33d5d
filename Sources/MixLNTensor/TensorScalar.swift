#if canImport(Accelerate)
import Accelerate
#else
import COpenBLAS
#endif
import CMixLNGemm
import CMixLNKernels
import Foundation

/// The element types the engine computes in: `Float` for training, `Double` for gradient checks.
///
/// Kernels are generic over this protocol. The operations whose speed decides a training step
/// (matrix multiply, exp, the row reductions of softmax, the Adam update) are requirements, so `Float` brings
/// its GEMMs (oneDNN, or BLAS without it; see `CMixLNGemm`) and vectorized C kernels while `Double`
/// keeps BLAS and plain, obviously-correct loops.
///
/// The bfloat16 requirements (`gemmBFloat16`, `roundToBFloat16`) are what a model in
/// `MatmulPrecision.bf16` needs: for `Float` they are oneDNN's bf16 GEMM and a vectorized rounding;
/// for `Double` the same results computed the plain way (widen, then the Double GEMM).
public protocol TensorScalar: BinaryFloatingPoint, SIMDScalar, Codable, Sendable
where Self.RawSignificand: FixedWidthInteger {
    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with `op(A)` of shape (m, k) and `op(B)` of shape (k, n),
    /// on the threads `threading` allows (the overload without it: `.shared`).
    static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int, threading: GemmThreading)
    /// Row-major `C = alpha · op(A) · op(B) + beta · C` with bfloat16 `A` and `B`: every product
    /// of two bfloat16 values is exact in fp32, and they are summed in fp32 (in `Double` for `Double`).
    /// Models reach it through `GemmOperand`'s `gemm`.
    static func gemmBFloat16(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<UInt16>, lda: Int,
        b: UnsafePointer<UInt16>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int, threading: GemmThreading)
    /// bits[i] = x[i] rounded to the nearest bfloat16 (ties to even; zeros and values below 2⁻¹²⁶
    /// become a zero of the same sign; NaN stays NaN): as the AVX-512 BF16 instruction does it.
    static func roundToBFloat16(_ x: UnsafePointer<Self>, into bits: UnsafeMutablePointer<UInt16>, count: Int)
    /// x[i] = x[i] rounded to bfloat16 as `roundToBFloat16` does (the value stays a `Self`).
    static func roundInPlaceToBFloat16(_ x: UnsafeMutablePointer<Self>, count: Int)
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    /// The hyperbolic tangent, from libm (Dynamic Tanh's norm sites).
    static func tanh(_ x: Self) -> Self
    /// `x[i] = exp(x[i])`
    static func expInPlace(_ x: UnsafeMutablePointer<Self>, count: Int)
    /// max of `x` (−∞ when empty)
    static func maximum(_ x: UnsafePointer<Self>, count: Int) -> Self
    /// Σ x[i]
    static func sum(_ x: UnsafePointer<Self>, count: Int) -> Self
    /// Σ x[i]·y[i]
    static func dot(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, count: Int) -> Self
    /// Σ x[i]·y[i] with every product and the sum in `Double` (gradient norms, cosines).
    static func dotInDouble(_ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, count: Int) -> Double
    /// Σ (a·x[i] − b·y[i])² in `Double`.
    static func scaledDifferenceSquaredInDouble(_ x: UnsafePointer<Self>, _ a: Double, _ y: UnsafePointer<Self>, _ b: Double, count: Int) -> Double
    /// x[i] *= a
    static func scale(_ x: UnsafeMutablePointer<Self>, by a: Self, count: Int)
    /// y[i] += a·x[i]
    static func axpy(_ a: Self, _ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, count: Int)
    /// out[i] = a·x[i] + y[i]  (out may alias y)
    static func scaledAdd(_ out: UnsafeMutablePointer<Self>, _ a: Self, _ x: UnsafePointer<Self>, _ y: UnsafePointer<Self>, count: Int)
    /// `out[i] = exp(x[i] − shift)` (`out` is `x` or does not overlap it); returns Σ out[i] accumulated in `Double`.
    static func expShiftedSumInDouble(_ x: UnsafePointer<Self>, minus shift: Self, into out: UnsafeMutablePointer<Self>, count: Int) -> Double
    /// For KL(softmax(a) ‖ softmax(b)) (`VectorMath.softmaxDivergence`): with e_i = exp(a_i − aMax) and
    /// d_i = a_i − b_i − shift, the `Double` sums (Σ e_i, Σ e_i·d_i, Σ e_i·(exp(−d_i) − 1 + d_i)), the
    /// last accurate for small d_i.
    static func softmaxDivergenceSums(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, aMax: Self, shift: Self,
                                      count: Int) -> (total: Double, first: Double, excess: Double)
    /// Softmax of `x` in place; returns log Σ exp of the original values.
    static func softmaxInPlace(_ x: UnsafeMutablePointer<Self>, count: Int) -> Self
    /// out[i] = bits[i] read as bfloat16 (exact: every bfloat16 is a Float and a Double).
    static func widen(bfloat16 bits: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Self>, count: Int)
    /// SwiGLU, `y[i] = gate[i]·up[i] / (1 + exp(−gate[i]))`, into `out` and/or `bits` (its bfloat16
    /// rounding, as `roundToBFloat16`), in one pass; at least one is non-nil.
    static func swiglu(gate: UnsafePointer<Self>, up: UnsafePointer<Self>, out: UnsafeMutablePointer<Self>?,
                       bits: UnsafeMutablePointer<UInt16>?, count: Int)
    /// SwiGLU's backward: with σ = sigmoid(gate[i]), `dUp = dy·gate·σ`, `dGate = dy·up·σ·(1 + gate·(1 − σ))`,
    /// into the values and/or their bfloat16 bits (each pair: at least one non-nil).
    static func swigluBackward(dy: UnsafePointer<Self>, gate: UnsafePointer<Self>, up: UnsafePointer<Self>,
                               dGate: UnsafeMutablePointer<Self>?, dUp: UnsafeMutablePointer<Self>?,
                               dGateBits: UnsafeMutablePointer<UInt16>?, dUpBits: UnsafeMutablePointer<UInt16>?, count: Int)
    /// Rotates in place `heads` vectors of 2·half values, `headStride` apart: with a, b their halves,
    /// `a' = a·cos − b·sin·sign`, `b' = b·cos + a·sin·sign` (sign −1: the inverse rotation).
    static func rotateHalves(_ x: UnsafeMutablePointer<Self>, heads: Int, headStride: Int, half: Int,
                             cos: UnsafePointer<Self>, sin: UnsafePointer<Self>, sign: Self)
    /// RMSNorm's backward of one row of `channels` values with its saved `r` = 1/rms: with g = scale·w⊙dy,
    /// `dx += r·g − x·r³·Σ(g⊙x)/C` and `dw += scale·dy⊙x·r`.
    static func rmsNormBackwardRow(dx: UnsafeMutablePointer<Self>, dw: UnsafeMutablePointer<Self>, dy: UnsafePointer<Self>,
                                   x: UnsafePointer<Self>, w: UnsafePointer<Self>, r: Self, scale: Self, channels: Int)
    /// One Adam update (`AdamStep`) of `count` parameters `p` from their gradients `g`, in place of `p`
    /// and the moments `m`, `v` (four arrays that do not overlap). With `roundingToBFloat16` the new
    /// moments are rounded to bfloat16 before the weight update reads them, and the new weights after it.
    static func adamUpdate(_ step: AdamStep<Self>, parameters p: UnsafeMutablePointer<Self>, gradients g: UnsafePointer<Self>,
                           firstMoment m: UnsafeMutablePointer<Self>, secondMoment v: UnsafeMutablePointer<Self>,
                           count: Int, roundingToBFloat16: Bool)
}

extension TensorScalar {
    /// `gemm` on `GemmThreading.shared` threads: a product that has the machine to itself.
    @inlinable public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int
    ) {
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
             b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, threading: .shared)
    }
}

extension GemmThreading {
    /// The OpenMP thread count a oneDNN call gets.
    var openMPThreads: Int32 {
        switch self {
        case .shared: return Int32(Parallel.threadCount)
        case .callingThread: return 1
        }
    }
}

@inline(__always)
private func blasTranspose(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: TensorScalar {
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threading: GemmThreading
    ) {
        mixln_gemm_f32(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                       threading.openMPThreads)
    }

    public static func gemmBFloat16(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<UInt16>, lda: Int,
        b: UnsafePointer<UInt16>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threading: GemmThreading
    ) {
        mixln_gemm_bf16(transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                        threading.openMPThreads)
    }

    @inlinable public static func roundToBFloat16(_ x: UnsafePointer<Float>, into bits: UnsafeMutablePointer<UInt16>, count: Int) {
        mixln_f32_to_bf16(bits, x, count)
    }
    @inlinable public static func roundInPlaceToBFloat16(_ x: UnsafeMutablePointer<Float>, count: Int) {
        mixln_round_to_bf16_f32(x, count)
    }

    @inlinable public static func expInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { mixln_exp_f32(x, count) }
    @inlinable public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float { mixln_max_f32(x, count) }
    @inlinable public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float { mixln_sum_f32(x, count) }
    @inlinable public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        mixln_dot_f32(x, y, count)
    }
    @inlinable public static func dotInDouble(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Double {
        mixln_dot_f32_f64(x, y, count)
    }
    @inlinable public static func scaledDifferenceSquaredInDouble(_ x: UnsafePointer<Float>, _ a: Double, _ y: UnsafePointer<Float>,
                                                                  _ b: Double, count: Int) -> Double {
        mixln_scaled_difference_sq_f32_f64(x, a, y, b, count)
    }
    @inlinable public static func scale(_ x: UnsafeMutablePointer<Float>, by a: Float, count: Int) { mixln_scale_f32(x, a, count) }
    @inlinable public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        mixln_axpy_f32(a, x, y, count)
    }
    @inlinable public static func scaledAdd(_ out: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>,
                                            _ y: UnsafePointer<Float>, count: Int) {
        mixln_scaled_add_f32(out, a, x, y, count)
    }
    @inlinable public static func expShiftedSumInDouble(_ x: UnsafePointer<Float>, minus shift: Float, into out: UnsafeMutablePointer<Float>,
                                                        count: Int) -> Double {
        mixln_exp_shifted_sum_f32_f64(x, shift, out, count)
    }
    @inlinable public static func softmaxDivergenceSums(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, aMax: Float, shift: Float,
                                                        count: Int) -> (total: Double, first: Double, excess: Double) {
        var sums = (0.0, 0.0, 0.0)
        withUnsafeMutableBytes(of: &sums) { raw in
            mixln_softmax_divergence_sums_f32_f64(a, b, aMax, shift, count, raw.baseAddress!.assumingMemoryBound(to: Double.self))
        }
        return sums
    }
    @inlinable public static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
        mixln_softmax_f32(x, count)
    }
    @inlinable public static func widen(bfloat16 bits: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Float>, count: Int) {
        mixln_bf16_to_f32(out, bits, count)
    }
    @inlinable public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>?,
                                         bits: UnsafeMutablePointer<UInt16>?, count: Int) {
        precondition(out != nil || bits != nil, "swiglu needs an output")
        mixln_swiglu_f32(out, bits, gate, up, count)
    }
    @inlinable public static func swigluBackward(dy: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                                 dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?,
                                                 dGateBits: UnsafeMutablePointer<UInt16>?, dUpBits: UnsafeMutablePointer<UInt16>?,
                                                 count: Int) {
        precondition((dGate != nil || dGateBits != nil) && (dUp != nil || dUpBits != nil), "swigluBackward needs its outputs")
        mixln_swiglu_backward_f32(dGate, dUp, dGateBits, dUpBits, dy, gate, up, count)
    }
    @inlinable public static func rotateHalves(_ x: UnsafeMutablePointer<Float>, heads: Int, headStride: Int, half: Int,
                                               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, sign: Float) {
        mixln_rope_f32(x, heads, headStride, half, cos, sin, sign)
    }
    @inlinable public static func rmsNormBackwardRow(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                                     x: UnsafePointer<Float>, w: UnsafePointer<Float>, r: Float, scale: Float, channels: Int) {
        mixln_rms_norm_backward_row_f32(dx, dw, dy, x, w, r, scale, channels)
    }
    /// The C kernel: the same fp32 operations in the same order as `Double`'s loop, eight elements at a time.
    @inlinable public static func adamUpdate(_ step: AdamStep<Float>, parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                                             firstMoment m: UnsafeMutablePointer<Float>, secondMoment v: UnsafeMutablePointer<Float>,
                                             count: Int, roundingToBFloat16: Bool) {
        let kernel = roundingToBFloat16 ? mixln_adam_bf16_f32 : mixln_adam_f32
        kernel(p, g, m, v, count, step.beta1, step.beta2, step.l2, step.decay, step.stepSize, step.correction2Root, step.epsilon)
    }
}

extension Double: TensorScalar {
    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }

    public static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threading: GemmThreading
    ) {
        guard threading == .shared else {
            return gemmOnCallingThread(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        cblas_dgemm(CblasRowMajor, blasTranspose(transposeA), blasTranspose(transposeB),
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The plain triple loop (sums in `p` order): `gemm` for `.callingThread`. `beta = 0` overwrites `C`.
    static func gemmOnCallingThread(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += (transposeA ? a[p * lda + i] : a[i * lda + p]) * (transposeB ? b[j * ldb + p] : b[p * ldb + j]) }
                c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
    }

    /// Widens the stored blocks of A and B to `Double` (exact) and runs the Double GEMM.
    public static func gemmBFloat16(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<UInt16>, lda: Int,
        b: UnsafePointer<UInt16>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int, threading: GemmThreading
    ) {
        func widened(_ x: UnsafePointer<UInt16>, ld: Int, rows: Int, cols: Int) -> [Double] {
            var out = [Double](repeating: 0, count: rows * cols)
            for r in 0..<rows { for j in 0..<cols { out[r * cols + j] = Double(Float(bitPattern: UInt32(x[r * ld + j]) << 16)) } }
            return out
        }
        let wa = widened(a, ld: lda, rows: transposeA ? k : m, cols: transposeA ? m : k)
        let wb = widened(b, ld: ldb, rows: transposeB ? n : k, cols: transposeB ? k : n)
        gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a: wa, lda: transposeA ? m : k,
             b: wb, ldb: transposeB ? k : n, beta: beta, c: c, ldc: ldc, threading: threading)
    }

    /// Through `Float` without double rounding: `x` is first rounded to `Float` to odd (truncated,
    /// with the last bit set when inexact), which keeps enough information for the bfloat16 rounding
    /// of the result to equal that of `x` itself (24 ≥ 8 + 2 bits).
    public static func roundToBFloat16(_ x: UnsafePointer<Double>, into bits: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count {
            var f = roundedToOdd(x[i])
            mixln_f32_to_bf16_portable(bits + i, &f, 1)
        }
    }

    public static func roundInPlaceToBFloat16(_ x: UnsafeMutablePointer<Double>, count: Int) {
        var bits: UInt16 = 0
        for i in 0..<count {
            roundToBFloat16(x + i, into: &bits, count: 1)
            x[i] = Double(Float(bitPattern: UInt32(bits) << 16))
        }
    }

    /// `x` as a `Float` rounded to odd: the `Float` nearest `x` toward zero, with its last bit set if
    /// that is not `x` itself. Values beyond the `Float` range give the largest `Float` (odd) of their sign.
    static func roundedToOdd(_ x: Double) -> Float {
        guard x.isFinite else { return Float(x) }
        var f = Float(x)
        guard Double(f) != x else { return f }
        if abs(Double(f)) > abs(x) { f = Float(bitPattern: f.bitPattern - 1) }  // one step toward zero
        return Float(bitPattern: f.bitPattern | 1)
    }

    public static func expInPlace(_ x: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { x[i] = Foundation.exp(x[i]) }
    }
    public static func maximum(_ x: UnsafePointer<Double>, count: Int) -> Double {
        (0..<count).reduce(-Double.infinity) { Swift.max($0, x[$1]) }
    }
    public static func sum(_ x: UnsafePointer<Double>, count: Int) -> Double { (0..<count).reduce(0) { $0 + x[$1] } }
    public static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, count: Int) -> Double {
        (0..<count).reduce(0) { $0 + x[$1] * y[$1] }
    }
    public static func dotInDouble(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, count: Int) -> Double {
        dot(x, y, count: count)
    }
    public static func scaledDifferenceSquaredInDouble(_ x: UnsafePointer<Double>, _ a: Double, _ y: UnsafePointer<Double>,
                                                       _ b: Double, count: Int) -> Double {
        (0..<count).reduce(0) { s, i in
            let d = a * x[i] - b * y[i]
            return s + d * d
        }
    }
    public static func scale(_ x: UnsafeMutablePointer<Double>, by a: Double, count: Int) {
        for i in 0..<count { x[i] *= a }
    }
    public static func axpy(_ a: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { y[i] += a * x[i] }
    }
    public static func scaledAdd(_ out: UnsafeMutablePointer<Double>, _ a: Double, _ x: UnsafePointer<Double>,
                                 _ y: UnsafePointer<Double>, count: Int) {
        for i in 0..<count { out[i] = a * x[i] + y[i] }
    }
    public static func expShiftedSumInDouble(_ x: UnsafePointer<Double>, minus shift: Double, into out: UnsafeMutablePointer<Double>,
                                             count: Int) -> Double {
        var total = 0.0
        for i in 0..<count {
            out[i] = Foundation.exp(x[i] - shift)
            total += out[i]
        }
        return total
    }
    public static func softmaxDivergenceSums(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, aMax: Double, shift: Double,
                                             count: Int) -> (total: Double, first: Double, excess: Double) {
        var sums = (total: 0.0, first: 0.0, excess: 0.0)
        for i in 0..<count {
            let e = Foundation.exp(a[i] - aMax), d = a[i] - b[i] - shift
            sums.total += e
            sums.first += e * d
            sums.excess += e * (Foundation.expm1(-d) + d)
        }
        return sums
    }
    public static func softmaxInPlace(_ x: UnsafeMutablePointer<Double>, count: Int) -> Double {
        let m = maximum(x, count: count)
        var total = 0.0
        for i in 0..<count {
            x[i] = Foundation.exp(x[i] - m)
            total += x[i]
        }
        scale(x, by: 1 / total, count: count)
        return Foundation.log(total) + m
    }
    public static func widen(bfloat16 bits: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { out[i] = Double(Float(bitPattern: UInt32(bits[i]) << 16)) }
    }
    public static func swiglu(gate: UnsafePointer<Double>, up: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>?,
                              bits: UnsafeMutablePointer<UInt16>?, count: Int) {
        precondition(out != nil || bits != nil, "swiglu needs an output")
        let y = [Double](unsafeUninitializedCapacity: count) { y, initialized in
            for i in 0..<count { y[i] = gate[i] * up[i] / (1 + Foundation.exp(-gate[i])) }
            initialized = count
        }
        out?.update(from: y, count: count)
        if let bits { roundToBFloat16(y, into: bits, count: count) }
    }
    public static func swigluBackward(dy: UnsafePointer<Double>, gate: UnsafePointer<Double>, up: UnsafePointer<Double>,
                                      dGate: UnsafeMutablePointer<Double>?, dUp: UnsafeMutablePointer<Double>?,
                                      dGateBits: UnsafeMutablePointer<UInt16>?, dUpBits: UnsafeMutablePointer<UInt16>?, count: Int) {
        precondition((dGate != nil || dGateBits != nil) && (dUp != nil || dUpBits != nil), "swigluBackward needs its outputs")
        var gradientOfGate = [Double](repeating: 0, count: count), gradientOfUp = gradientOfGate
        for i in 0..<count {
            let sigma = 1 / (1 + Foundation.exp(-gate[i])), g = gate[i]
            gradientOfUp[i] = dy[i] * g * sigma
            gradientOfGate[i] = dy[i] * up[i] * sigma * (1 + g * (1 - sigma))
        }
        dGate?.update(from: gradientOfGate, count: count)
        dUp?.update(from: gradientOfUp, count: count)
        if let dGateBits { roundToBFloat16(gradientOfGate, into: dGateBits, count: count) }
        if let dUpBits { roundToBFloat16(gradientOfUp, into: dUpBits, count: count) }
    }
    public static func rotateHalves(_ x: UnsafeMutablePointer<Double>, heads: Int, headStride: Int, half: Int,
                                    cos: UnsafePointer<Double>, sin: UnsafePointer<Double>, sign: Double) {
        for h in 0..<heads {
            let a = x + h * headStride, b = a + half
            for i in 0..<half {
                let s = sin[i] * sign, first = a[i], second = b[i]
                a[i] = first * cos[i] - second * s
                b[i] = second * cos[i] + first * s
            }
        }
    }
    public static func rmsNormBackwardRow(dx: UnsafeMutablePointer<Double>, dw: UnsafeMutablePointer<Double>, dy: UnsafePointer<Double>,
                                         x: UnsafePointer<Double>, w: UnsafePointer<Double>, r: Double, scale: Double, channels: Int) {
        var gx = 0.0
        for c in 0..<channels {
            gx += scale * w[c] * dy[c] * x[c]
            dw[c] += scale * dy[c] * x[c] * r
        }
        let k = r * r * r * gx / Double(channels)
        for c in 0..<channels { dx[c] += r * scale * w[c] * dy[c] - k * x[c] }
    }
    public static func adamUpdate(_ step: AdamStep<Double>, parameters p: UnsafeMutablePointer<Double>, gradients g: UnsafePointer<Double>,
                                  firstMoment m: UnsafeMutablePointer<Double>, secondMoment v: UnsafeMutablePointer<Double>,
                                  count: Int, roundingToBFloat16: Bool) {
        for i in 0..<count {
            let grad = g[i] + step.l2 * p[i]
            m[i] = step.beta1 * m[i] + (1 - step.beta1) * grad
            v[i] = step.beta2 * v[i] + (1 - step.beta2) * grad * grad
            if roundingToBFloat16 {
                roundInPlaceToBFloat16(m + i, count: 1)
                roundInPlaceToBFloat16(v + i, count: 1)
            }
            p[i] = p[i] * step.decay - step.stepSize * m[i] / (v[i].squareRoot() / step.correction2Root + step.epsilon)
            if roundingToBFloat16 { roundInPlaceToBFloat16(p + i, count: 1) }
        }
    }
}
