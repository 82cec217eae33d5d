#include "mixln_kernels.h"
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// exp(x) = 2^n · exp(r), x = n·ln2 + r, |r| ≤ ln2/2; exp(r) by a degree-6 Taylor polynomial (Horner).
// 2^n is applied by adding n to the exponent bits of the polynomial, so n = 128 with p < 1 (x up to
// ln(FLT_MAX) ≈ 88.72) stays finite; below −87.3 the result is 0 (never a wrong subnormal).
static inline float exp_one(float x) {
    float clamped = x < -87.3f ? -87.3f : (x > 88.72f ? 88.72f : x);
    // round to nearest with the 1.5·2^23 trick (vectorizes without a rounding call)
    float n = (clamped * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = clamped - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits;
    memcpy(&bits, &p, sizeof bits);
    bits += (int32_t)n << 23;
    float result;
    memcpy(&result, &bits, sizeof result);
    result = x < -87.3f ? 0.0f : result;
    return x > 88.72f ? INFINITY : result;
}

void mixln_exp_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = exp_one(x[i]);
}

float mixln_max_f32(const float *x, size_t n) {
    size_t i = 0;
    float m = -INFINITY;
#ifdef __AVX2__
    __m256 a = _mm256_set1_ps(-INFINITY), b = a;
    for (; i + 16 <= n; i += 16) {
        a = _mm256_max_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_max_ps(b, _mm256_loadu_ps(x + i + 8));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(a, b));
    for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
#endif
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

float mixln_sum_f32(const float *x, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    return s;
}

float mixln_dot_f32(const float *x, const float *y, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

double mixln_dot_f32_f64(const float *x, const float *y, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}

double mixln_scaled_difference_sq_f32_f64(const float *x, double a, const float *y, double b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a * (double)x[i] - b * (double)y[i];
        s += d * d;
    }
    return s;
}

void mixln_scale_f32(float *x, float a, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

void mixln_axpy_f32(float a, const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

void mixln_add_scalar_f32(float *x, float a, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += a;
}

void mixln_scaled_add_f32(float *out, float a, const float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a * x[i] + y[i];
}

// In place and out of place as two loops: one loop on pointers that may alias would get a runtime
// overlap check, which the in-place call always fails, and run scalar.
double mixln_exp_shifted_sum_f32_f64(const float *x, float shift, float *out, size_t n) {
    double s = 0;
    if (out == x) {
        for (size_t i = 0; i < n; i++) {
            float e = exp_one(out[i] - shift);
            out[i] = e;
            s += (double)e;
        }
        return s;
    }
    const float *restrict in = x;
    float *restrict o = out;
    for (size_t i = 0; i < n; i++) {
        float e = exp_one(in[i] - shift);
        o[i] = e;
        s += (double)e;
    }
    return s;
}

// exp(u) - 1 - u = u^2 (1/2! + u/3! + ... + u^8/10!) for |u| < 0.5: the next term is < 1e-10 of the sum.
static inline float exp_excess_small(float u) {
    float p = 1.0f / 3628800.0f;
    p = p * u + 1.0f / 362880.0f;
    p = p * u + 1.0f / 40320.0f;
    p = p * u + 1.0f / 5040.0f;
    p = p * u + 1.0f / 720.0f;
    p = p * u + 1.0f / 120.0f;
    p = p * u + 1.0f / 24.0f;
    p = p * u + 1.0f / 6.0f;
    p = p * u + 0.5f;
    return p * u * u;
}

void mixln_softmax_divergence_sums_f32_f64(const float *a, const float *b, float a_max, float c, size_t n, double sums[3]) {
    double total = 0, first = 0, excess = 0;
    for (size_t i = 0; i < n; i++) {
        float e = exp_one(a[i] - a_max);
        double d = ((double)a[i] - (double)b[i]) - (double)c;  // exact in double however it is associated
        float small = e * exp_excess_small((float)-d);
        // e (exp(-d) - 1 + d) with e exp(-d) = exp(b_i - a_max + c): finite where e underflows and exp(-d) would not be
        float large = exp_one((float)((double)b[i] - (double)a_max + (double)c)) - e + e * (float)d;
        total += e;
        first += (double)e * d;
        excess += (double)(fabs(d) < 0.5 ? small : large);
    }
    sums[0] = total;
    sums[1] = first;
    sums[2] = excess;
}

float mixln_softmax_f32(float *x, size_t n) {
    float m = mixln_max_f32(x, n);
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        float e = exp_one(x[i] - m);
        x[i] = e;
        s += e;
    }
    mixln_scale_f32(x, 1.0f / s, n);
    return logf(s) + m;
}

void mixln_bf16_to_f32(float *out, const uint16_t *bits, size_t n) {
    uint32_t *o = (uint32_t *)out;
    for (size_t i = 0; i < n; i++) o[i] = (uint32_t)bits[i] << 16;
}

// One float's bfloat16 bits, exactly as VCVTNEPS2BF16 computes them (see the header). Branch-free,
// so the loops below vectorize.
static inline uint16_t bf16_bits(float value) {
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    uint32_t magnitude = x & 0x7FFFFFFFu;
    uint32_t rounded = (x + 0x7FFFu + ((x >> 16) & 1u)) >> 16;  // nearest even; carries into the exponent
    uint32_t quietNaN = (x >> 16) | 0x40u;
    uint32_t signedZero = (x >> 16) & 0x8000u;
    uint32_t result = magnitude > 0x7F800000u ? quietNaN : rounded;
    result = magnitude < 0x00800000u ? signedZero : result;
    return (uint16_t)result;
}

void mixln_f32_to_bf16_portable(uint16_t *out, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = bf16_bits(x[i]);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bf16")))
static void f32_to_bf16_avx512(uint16_t *out, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)r);
    }
    for (; i < n; i++) out[i] = bf16_bits(x[i]);
}

int mixln_f32_to_bf16_uses_avx512bf16(void) {
    // The CPU's features, read once (racing first calls compute the same value).
    static atomic_int supported = -1;
    int value = atomic_load_explicit(&supported, memory_order_relaxed);
    if (value < 0) {
        value = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f");
        atomic_store_explicit(&supported, value, memory_order_relaxed);
    }
    return value;
}
#else
int mixln_f32_to_bf16_uses_avx512bf16(void) { return 0; }
#endif

void mixln_f32_to_bf16(uint16_t *out, const float *x, size_t n) {
#if defined(__x86_64__)
    if (mixln_f32_to_bf16_uses_avx512bf16()) {
        f32_to_bf16_avx512(out, x, n);
        return;
    }
#endif
    mixln_f32_to_bf16_portable(out, x, n);
}

void mixln_round_to_bf16_f32(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t widened = (uint32_t)bf16_bits(x[i]) << 16;
        memcpy(x + i, &widened, sizeof widened);
    }
}

// Values per block of the fused kernels: their fp32 results wait here when only the bits are kept.
enum { FUSED_BLOCK = 256 };

// One block of SwiGLU (restrict only binds on parameters, so each block is a function of its own).
static void swiglu_block(float *restrict y, const float *restrict g, const float *restrict u, size_t m) {
    for (size_t i = 0; i < m; i++) y[i] = exp_one(-g[i]);
    for (size_t i = 0; i < m; i++) y[i] = g[i] * u[i] / (1.0f + y[i]);
}

void mixln_swiglu_f32(float *out, uint16_t *out_bf16, const float *gate, const float *up, size_t n) {
    float block[FUSED_BLOCK];
    for (size_t start = 0; start < n; start += FUSED_BLOCK) {
        size_t m = n - start < FUSED_BLOCK ? n - start : FUSED_BLOCK;
        float *y = out ? out + start : block;
        swiglu_block(y, gate + start, up + start, m);
        if (out_bf16) mixln_f32_to_bf16(out_bf16 + start, y, m);
    }
}

static void swiglu_backward_block(float *restrict dg, float *restrict du, const float *restrict d,
                                  const float *restrict g, const float *restrict u, size_t m) {
    for (size_t i = 0; i < m; i++) dg[i] = exp_one(-g[i]);
    for (size_t i = 0; i < m; i++) {
        float sigma = 1.0f / (1.0f + dg[i]);
        du[i] = d[i] * g[i] * sigma;
        dg[i] = d[i] * u[i] * sigma * (1.0f + g[i] * (1.0f - sigma));
    }
}

void mixln_swiglu_backward_f32(float *d_gate, float *d_up, uint16_t *d_gate_bf16, uint16_t *d_up_bf16,
                               const float *dy, const float *gate, const float *up, size_t n) {
    float gate_block[FUSED_BLOCK], up_block[FUSED_BLOCK];
    for (size_t start = 0; start < n; start += FUSED_BLOCK) {
        size_t m = n - start < FUSED_BLOCK ? n - start : FUSED_BLOCK;
        float *dg = d_gate ? d_gate + start : gate_block, *du = d_up ? d_up + start : up_block;
        swiglu_backward_block(dg, du, dy + start, gate + start, up + start, m);
        if (d_gate_bf16) mixln_f32_to_bf16(d_gate_bf16 + start, dg, m);
        if (d_up_bf16) mixln_f32_to_bf16(d_up_bf16 + start, du, m);
    }
}

static void rope_head(float *restrict a, float *restrict b, const float *restrict cos, const float *restrict sin,
                      float sign, size_t half) {
    for (size_t i = 0; i < half; i++) {
        float s = sin[i] * sign, c = cos[i], first = a[i], second = b[i];
        a[i] = first * c - second * s;
        b[i] = second * c + first * s;
    }
}

void mixln_rope_f32(float *x, size_t heads, size_t head_stride, size_t half, const float *cos, const float *sin, float sign) {
    for (size_t h = 0; h < heads; h++) rope_head(x + h * head_stride, x + h * head_stride + half, cos, sin, sign, half);
}

void mixln_rms_norm_backward_row_f32(float *restrict dx, float *restrict dw, const float *restrict dy, const float *restrict x,
                                     const float *restrict w, float r, float scale, size_t c) {
    float gx = 0;
    for (size_t i = 0; i < c; i++) {
        float sdy = scale * dy[i];
        gx += sdy * w[i] * x[i];
        dw[i] += sdy * x[i] * r;
    }
    float k = r * r * r * gx / (float)c, rs = r * scale;
    for (size_t i = 0; i < c; i++) dx[i] += rs * w[i] * dy[i] - k * x[i];
}

static inline float bf16_rounded(float x) {
    uint32_t widened = (uint32_t)bf16_bits(x) << 16;
    float result;
    memcpy(&result, &widened, sizeof result);
    return result;
}

// The Adam update of the header, element by element; `rounds_to_bf16` is a constant at both call
// sites, so each gets its own branch-free loop. The pragma keeps every element's operations as
// written (no FMA contraction, no reassociation under -fassociative-math): the result is that of
// the plain Swift loop it replaced, bit for bit.
static inline void adam_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                            float b1, float b2, float l2, float decay, float step_size, float correction2_root, float eps,
                            int rounds_to_bf16) {
#pragma clang fp contract(off) reassociate(off)
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] + l2 * p[i];
        float m_new = b1 * m[i] + (1 - b1) * grad;
        float v_new = b2 * v[i] + (1 - b2) * grad * grad;
        if (rounds_to_bf16) {
            m_new = bf16_rounded(m_new);
            v_new = bf16_rounded(v_new);
        }
        float p_new = p[i] * decay - step_size * m_new / (sqrtf(v_new) / correction2_root + eps);
        m[i] = m_new;
        v[i] = v_new;
        p[i] = rounds_to_bf16 ? bf16_rounded(p_new) : p_new;
    }
}

void mixln_adam_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                    float b1, float b2, float l2, float decay, float step_size, float correction2_root, float eps) {
    adam_f32(p, g, m, v, n, b1, b2, l2, decay, step_size, correction2_root, eps, 0);
}

void mixln_adam_bf16_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                         float b1, float b2, float l2, float decay, float step_size, float correction2_root, float eps) {
    adam_f32(p, g, m, v, n, b1, b2, l2, decay, step_size, correction2_root, eps, 1);
}
