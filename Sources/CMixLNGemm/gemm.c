#include "mixln_gemm.h"
#include "mixln_kernels.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__APPLE__)
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif

#ifdef MIXLN_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

// oneDNN exports this row-major, cblas-style bf16 × bf16 → fp32 GEMM (the one its matmul primitive
// and PyTorch's bf16 matmul reach) but its public header does not declare it. The bf16 arguments
// are `dnnl::impl::bfloat16_t`, a struct holding one uint16_t: the same in memory as the bits.
dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                    float alpha, const uint16_t *A, dnnl_dim_t lda, const uint16_t *B, dnnl_dim_t ldb,
                                    float beta, float *C, dnnl_dim_t ldc);

// libgomp, the OpenMP runtime Debian's oneDNN is built with: the thread count is per calling thread.
void omp_set_num_threads(int n);
int omp_get_max_threads(void);

// oneDNN reads the calling thread's OpenMP thread count on each call; set it only when it changes.
static void use_threads(int threads) {
    if (threads > 0 && omp_get_max_threads() != threads) omp_set_num_threads(threads);
}

static void check(dnnl_status_t status, const char *what) {
    if (status == dnnl_success) return;
    fprintf(stderr, "mixln: %s failed with oneDNN status %d\n", what, (int)status);
    abort();
}
#endif

void mixln_gemm_f32_blas(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                         const float *b, long ldb, float beta, float *c, long ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void mixln_gemm_f32(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                    const float *b, long ldb, float beta, float *c, long ldc, int threads) {
    if (m <= 0 || n <= 0) return;
#ifdef MIXLN_HAVE_DNNL
    use_threads(threads);
    check(dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), "dnnl_sgemm");
#else
    (void)threads;
    mixln_gemm_f32_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

int mixln_gemm_f32_uses_dnnl(void) {
#ifdef MIXLN_HAVE_DNNL
    return 1;
#else
    return 0;
#endif
}

/// A grow-only fp32 buffer of the calling thread, kept for its lifetime: the fallback's widened
/// operands, so that repeated GEMMs neither allocate nor fault in fresh pages.
typedef struct { float *data; size_t capacity; } scratch_t;
static _Thread_local scratch_t scratch_a, scratch_b;

static float *reserve(scratch_t *s, size_t count) {
    if (count > s->capacity) {
        free(s->data);
        s->data = malloc((count > 0 ? count : 1) * sizeof(float));
        if (!s->data) {
            fprintf(stderr, "mixln: out of memory widening a bf16 matrix of %zu values\n", count);
            abort();
        }
        s->capacity = count;
    }
    return s->data;
}

/// The stored block of op(X) = (r, s) widened to a packed fp32 matrix (ld = its column count) in `s`.
static float *widened(scratch_t *scratch, const uint16_t *x, long ld, int trans, long r, long s) {
    long rows = trans ? s : r, cols = trans ? r : s;
    float *out = reserve(scratch, (size_t)(rows * cols));
    for (long i = 0; i < rows; i++) mixln_bf16_to_f32(out + i * cols, x + i * ld, (size_t)cols);
    return out;
}

void mixln_gemm_bf16_widened(int trans_a, int trans_b, long m, long n, long k, float alpha, const uint16_t *a, long lda,
                             const uint16_t *b, long ldb, float beta, float *c, long ldc, int threads) {
    if (m <= 0 || n <= 0) return;
    float *wa = widened(&scratch_a, a, lda, trans_a, m, k), *wb = widened(&scratch_b, b, ldb, trans_b, k, n);
    mixln_gemm_f32(trans_a, trans_b, m, n, k, alpha, wa, trans_a ? m : k, wb, trans_b ? k : n, beta, c, ldc, threads);
}

#ifdef MIXLN_HAVE_DNNL
// -1 unknown, 0 the widened fallback, 1 oneDNN's bf16 kernel. oneDNN 2.x has a bf16 GEMM only on
// AVX-512 CPUs (elsewhere it answers dnnl_unimplemented), and without AVX-512 BF16 it emulates the
// bf16 dot products: measured 2.4x slower than its fp32 GEMM on the same CPU (oneDNN limited to
// avx512_core), while widening costs a few percent. So its kernel is used only where the ISA it
// dispatches to includes AVX-512 BF16 (avx512_core_bf16, avx512_core_amx: each ISA value
// contains the bits of those below it). Racing first calls all compute the same answer.
static atomic_int bf16_native = -1;

int mixln_gemm_bf16_native(void) {
    int native = atomic_load_explicit(&bf16_native, memory_order_relaxed);
    if (native < 0) {
        uint16_t one = 0x3F80;
        float out = 0;
        dnnl_status_t status = dnnl_gemm_bf16bf16f32('N', 'N', 1, 1, 1, 1.0f, &one, 1, &one, 1, 0.0f, &out, 1);
        if (status != dnnl_unimplemented) check(status, "dnnl_gemm_bf16bf16f32");
        unsigned isa = (unsigned)dnnl_get_effective_cpu_isa(), bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
        native = status == dnnl_success && (isa & bf16) == bf16;
        atomic_store_explicit(&bf16_native, native, memory_order_relaxed);
    }
    return native;
}
#else
int mixln_gemm_bf16_native(void) { return 0; }
#endif

void mixln_gemm_bf16(int trans_a, int trans_b, long m, long n, long k, float alpha, const uint16_t *a, long lda,
                     const uint16_t *b, long ldb, float beta, float *c, long ldc, int threads) {
    if (m <= 0 || n <= 0) return;
#ifdef MIXLN_HAVE_DNNL
    if (mixln_gemm_bf16_native()) {
        use_threads(threads);
        check(dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc),
              "dnnl_gemm_bf16bf16f32");
        return;
    }
#endif
    mixln_gemm_bf16_widened(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
}

#ifdef MIXLN_HAVE_DNNL
// libgomp's entry for `#pragma omp parallel` (what GCC emits for it): calls fn(data) on each thread
// of a team of num_threads (0: the default count), the caller included, and returns when all have.
// Called directly so that this file needs no OpenMP compiler flag (clang's -fopenmp would bring
// LLVM's runtime, a second pool next to the libgomp oneDNN is built with).
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);

typedef struct {
    long workers;
    void *context;
    void (*body)(void *context, long worker);
} parallel_job;

// One team member's share: workers me, me + team, …; a team smaller than asked for (a nested
// region gets one thread) still runs every worker.
static void run_share(void *data) {
    const parallel_job *job = data;
    long team = omp_get_num_threads(), me = omp_get_thread_num();
    for (long w = me; w < job->workers; w += team) job->body(job->context, w);
}
#endif

void mixln_parallel_for(long workers, void *context, void (*body)(void *context, long worker)) {
    if (workers <= 0) return;
#ifdef MIXLN_HAVE_DNNL
    if (workers > 1) {
        parallel_job job = {workers, context, body};
        GOMP_parallel(run_share, &job, (unsigned)workers, 0);
        return;
    }
#endif
    for (long w = 0; w < workers; w++) body(context, w);
}

int mixln_parallel_uses_openmp(void) {
#ifdef MIXLN_HAVE_DNNL
    return 1;
#else
    return 0;
#endif
}

const char *mixln_gemm_isa(void) {
#ifdef MIXLN_HAVE_DNNL
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
#else
    return "none";
#endif
}
