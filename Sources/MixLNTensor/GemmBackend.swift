#if canImport(CDNNL)
import CDNNL  // links oneDNN and its OpenMP runtime, which CMixLNGemm calls
#endif
import CMixLNGemm
import CMixLNKernels

/// Which code computes the matrix products on this machine, as `mixln bench` reports it.
public enum GemmBackend {
    /// `onednn` (Linux builds) or `blas` (Accelerate, OpenBLAS): the fp32 GEMM.
    public static var fp32: String { mixln_gemm_f32_uses_dnnl() != 0 ? "onednn" : "blas" }
    /// `onednn` when oneDNN runs its bf16 GEMM natively on this CPU (AVX-512 BF16), else `widened`:
    /// the bf16 operands widened to fp32 and multiplied by the fp32 GEMM (same results up to
    /// summation order, at about fp32 speed; oneDNN's emulation on AVX-512 without BF16 is slower).
    public static var bf16: String { mixln_gemm_bf16_native() != 0 ? "onednn" : "widened" }
    /// The instruction set oneDNN dispatches to (`avx512_core_bf16`, `avx2`, …), or `none`.
    public static var isa: String { String(cString: mixln_gemm_isa()) }
    /// Whether rounding to bf16 uses the AVX-512 BF16 instruction (else a portable loop; same bits).
    public static var roundsWithAVX512BF16: Bool { mixln_f32_to_bf16_uses_avx512bf16() != 0 }
}
