#ifndef MIXLN_GEMM_H
#define MIXLN_GEMM_H

#include <stddef.h>
#include <stdint.h>

// The matrix products of the engine behind one C API, so that the rest of the code never sees the
// library that computes them. All matrices are row-major, cblas-style:
//   C = alpha · op(A) · op(B) + beta · C,  op(A) (m, k), op(B) (k, n), C (m, n),
// op(X) = X, or Xᵀ when trans_x is nonzero; lda, ldb, ldc are the row strides of the stored matrices.
// beta = 0 overwrites C whatever it holds.
//
// With oneDNN (Linux builds define MIXLN_HAVE_DNNL) both products go through it, on its OpenMP
// threads; without it (macOS: Accelerate) the fp32 product is cblas_sgemm and the bf16 product is
// the widened fallback below. `threads` is the number of OpenMP threads the call may use (≤ 0: the
// runtime's default); BLAS libraries keep their own setting.

/// fp32 × fp32 → fp32: oneDNN's dnnl_sgemm where available, else BLAS.
void mixln_gemm_f32(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float beta, float *c, long ldc, int threads);

/// fp32 × fp32 → fp32 through BLAS (OpenBLAS, Accelerate) always: the portable reference.
void mixln_gemm_f32_blas(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc);

/// bfloat16 × bfloat16 → fp32, products and sums in fp32: oneDNN's dnnl_gemm_bf16bf16f32 on CPUs
/// with AVX-512 BF16 (VDPBF16PS), else the widened fallback (oneDNN 2.x has no bf16 GEMM without
/// AVX-512, and with AVX-512 alone it emulates, slower than its fp32 GEMM). Both compute the fp32
/// GEMM of the bf16 values, exactly up to summation order.
void mixln_gemm_bf16(int trans_a, int trans_b, long m, long n, long k, float alpha, const uint16_t *a, long lda,
                     const uint16_t *b, long ldb, float beta, float *c, long ldc, int threads);

/// The fallback of `mixln_gemm_bf16`: A and B widened to fp32 (exact) into buffers the calling
/// thread keeps (grow-only: as large as the largest operands it has seen), then `mixln_gemm_f32`.
/// Exposed so that tests compare it with oneDNN's kernel.
void mixln_gemm_bf16_widened(int trans_a, int trans_b, long m, long n, long k, float alpha, const uint16_t *a, long lda,
                             const uint16_t *b, long ldb, float beta, float *c, long ldc, int threads);

/// Whether `mixln_gemm_bf16` runs oneDNN's bf16 kernel on this machine (1) or the widened fallback (0).
/// oneDNN's ISA limit (DNNL_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA) is taken into account.
int mixln_gemm_bf16_native(void);

/// Whether `mixln_gemm_f32` runs oneDNN (1) or BLAS (0).
int mixln_gemm_f32_uses_dnnl(void);

/// The instruction set oneDNN dispatches to on this machine ("avx512_core_bf16", "avx2", …), or
/// "none" without oneDNN.
const char *mixln_gemm_isa(void);

/// Runs `body(context, worker)` for every `worker` in 0..<workers, concurrently, on the OpenMP threads
/// oneDNN's GEMMs use (libgomp), so that our loops and the GEMMs share one pool of threads instead
/// of two pools taking turns on the same cores. The calling thread is one of the team. Inside
/// another such loop the team is the calling thread alone (OpenMP does not nest by default), and
/// every worker still runs, in order. Returns when all have finished. Requires
/// `mixln_parallel_uses_openmp()`; without OpenMP (macOS builds) it runs the workers in order.
void mixln_parallel_for(long workers, void *context, void (*body)(void *context, long worker));

/// Whether `mixln_parallel_for` runs on OpenMP threads (1: Linux builds with oneDNN) or not at all (0).
int mixln_parallel_uses_openmp(void);

#endif
