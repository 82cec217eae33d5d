#ifndef MIXLN_KERNELS_H
#define MIXLN_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Vectorized fp32 kernels for the hot elementwise and reduction loops.
// Written as plain loops that the C compiler vectorizes (-O3, -ffast-math for the reductions).

/// x[i] = exp(x[i]); about 2 ulp; below -87.3 gives 0, above 88.72 gives +inf; NaN stays NaN.
void mixln_exp_f32(float *x, size_t n);
/// max over x (-inf for n = 0).
float mixln_max_f32(const float *x, size_t n);
/// sum of x.
float mixln_sum_f32(const float *x, size_t n);
/// sum of x[i] * y[i].
float mixln_dot_f32(const float *x, const float *y, size_t n);
/// sum of x[i] * y[i], each product and the sum in double (no fp32 overflow or cancellation).
double mixln_dot_f32_f64(const float *x, const float *y, size_t n);
/// sum of (a * x[i] - b * y[i])^2 in double: with a = 1/|x|, b = 1/|y| the squared distance of the unit vectors.
double mixln_scaled_difference_sq_f32_f64(const float *x, double a, const float *y, double b, size_t n);
/// x[i] *= a.
void mixln_scale_f32(float *x, float a, size_t n);
/// y[i] += a * x[i].
void mixln_axpy_f32(float a, const float *x, float *y, size_t n);
/// x[i] += a.
void mixln_add_scalar_f32(float *x, float a, size_t n);
/// out[i] = a * x[i] + y[i]  (out may alias y).
void mixln_scaled_add_f32(float *out, float a, const float *x, const float *y, size_t n);
/// out[i] = exp(x[i] - shift) (out is x, or does not overlap it); returns the sum of out in double.
/// With shift = max(x): the unnormalized softmax and log(sum) + shift = log-sum-exp without fp32 rounding.
double mixln_exp_shifted_sum_f32_f64(const float *x, float shift, float *out, size_t n);
/// For KL(softmax(a) || softmax(b)) without cancellation: with e_i = exp(a_i - a_max) and
/// d_i = a_i - b_i - c (c = a_max - b_max keeps every exponential at most 1), writes the double sums
/// sums[0] = sum e_i, sums[1] = sum e_i d_i, sums[2] = sum e_i (exp(-d_i) - 1 + d_i),
/// the last by its Taylor series where |d_i| < 0.5 (each term accurate relative to its own small size).
void mixln_softmax_divergence_sums_f32_f64(const float *a, const float *b, float a_max, float c, size_t n, double sums[3]);
/// In place softmax of x; returns log(sum(exp(x))) of the original row.
float mixln_softmax_f32(float *x, size_t n);
/// out[i] = the float whose top 16 bits are bits[i] and low 16 bits zero (bfloat16 widening; exact).
void mixln_bf16_to_f32(float *out, const uint16_t *bits, size_t n);

// bfloat16 conversion, as the AVX-512 BF16 instruction VCVTNEPS2BF16 does it, so that results do not
// depend on the CPU: round to nearest even; zeros and subnormals become a zero of the same sign
// (bfloat16 has fp32's exponent range, so only values below 2^-126 are lost); ±infinity stays;
// NaN stays NaN (quieted: the top 16 bits with the quiet bit set); finite values that round above
// the largest bfloat16 become infinity.

/// out[i] = bfloat16 bits of x[i]. Uses VCVTNEPS2BF16 when the CPU has AVX-512 BF16 (checked at
/// run time), else the portable loop; both give the same bits.
void mixln_f32_to_bf16(uint16_t *out, const float *x, size_t n);
/// The portable loop of `mixln_f32_to_bf16` (exposed so tests compare it with the instruction).
void mixln_f32_to_bf16_portable(uint16_t *out, const float *x, size_t n);
/// Whether `mixln_f32_to_bf16` uses the AVX-512 BF16 instruction on this machine.
int mixln_f32_to_bf16_uses_avx512bf16(void);
/// x[i] = x[i] rounded to the nearest bfloat16 (as `mixln_f32_to_bf16`, then widened).
void mixln_round_to_bf16_f32(float *x, size_t n);

// Fused elementwise kernels. Where they take both an fp32 output and a bfloat16 one, either may be
// NULL: the bfloat16 bits are those `mixln_f32_to_bf16` gives for the fp32 result, written in the
// same pass (a bf16 GEMM that reads only the bits needs no fp32 buffer and no second pass).

/// SwiGLU: y[i] = gate[i] * up[i] / (1 + exp(-gate[i])) = silu(gate[i]) * up[i], into out and/or out_bf16.
void mixln_swiglu_f32(float *out, uint16_t *out_bf16, const float *gate, const float *up, size_t n);
/// SwiGLU backward: with s = sigmoid(gate[i]), d_up = dy * gate * s and d_gate = dy * up * s * (1 + gate * (1 - s)),
/// into d_gate / d_up and/or their bits.
void mixln_swiglu_backward_f32(float *d_gate, float *d_up, uint16_t *d_gate_bf16, uint16_t *d_up_bf16,
                               const float *dy, const float *gate, const float *up, size_t n);
/// Rotary embedding of `heads` head vectors of size 2 * half at x, x + head_stride, ...: with a, b
/// the two halves, a' = a * cos - b * sin * sign, b' = b * cos + a * sin * sign (sign -1: the inverse
/// rotation, RoPE's backward), in place.
void mixln_rope_f32(float *x, size_t heads, size_t head_stride, size_t half, const float *cos, const float *sin, float sign);
/// RMSNorm backward of one row of c channels with its saved r = 1/rms: with g = scale * w * dy,
/// dx[i] += r * g[i] - x[i] * r^3 * sum(g * x) / c and dw[i] += scale * dy[i] * x[i] * r.
void mixln_rms_norm_backward_row_f32(float *restrict dx, float *restrict dw, const float *restrict dy, const float *restrict x,
                                     const float *restrict w, float r, float scale, size_t c);

// Adam and AdamW as PyTorch computes them, over n parameters p with gradients g and moments m, v:
//   grad = g + l2·p;  m = b1·m + (1 − b1)·grad;  v = b2·v + (1 − b2)·grad·grad;
//   p = p·decay − step_size·m / (sqrt(v) / correction2_root + eps)
// Adam: l2 = weight decay, decay = 1; AdamW: l2 = 0, decay = 1 − lr·weight decay. At step t,
// step_size = lr / (1 − b1^t) and correction2_root = sqrt(1 − b2^t). Every element's operations are
// done in this order with fp32 roundings (no FMA contraction, no reassociation), so the result does
// not depend on the vector width. The four arrays must not overlap.

/// One Adam update in place of p, m and v.
void mixln_adam_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                    float b1, float b2, float l2, float decay, float step_size, float correction2_root, float eps);
/// The same update for weights and moments stored in bfloat16 (`--precision bf16-pure`): the new m and v
/// are rounded to bfloat16 (as `mixln_round_to_bf16_f32`) before the weight update reads them, and the
/// new p after it.
void mixln_adam_bf16_f32(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                         float b1, float b2, float l2, float decay, float step_size, float correction2_root, float eps);

#endif
