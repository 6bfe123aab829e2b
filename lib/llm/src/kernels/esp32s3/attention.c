/* ESP32-S3 single-head attention over an fp32 KV cache (kernels_esp32s3.h),
 * written for the LX7's scalar FPU: 16 FP registers and a fused madd.s. The
 * reference's lane arrays suit SIMD compilers; here every value that is
 * reused across positions lives in a register instead. The whole file is
 * compiled only for LLM_BACKEND_ESP32S3.
 *
 * Sums run in another order than the reference's, with one rounding per
 * multiply-add, and 1/sqrt(hs) is a multiply (folded into q for hs <= 8),
 * not a per-score divide (a libgcc call here): results agree with
 * llm_ref_attention to a few ulps, not bit for bit. The exp is the
 * reference's (llm__expf); the weights are left unnormalised (att holds
 * exp(s - max) on return, which the contract allows) and the hs outputs are
 * divided by their sum once, instead of n_pos divides (each a libgcc call
 * here: the LX7 has no float divide instruction). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3

#include "../ref/expf.h"

#include <math.h>
#include <stddef.h>

#define S3_INLINE static inline __attribute__((always_inline))

/* att(n_pos) = k(n_pos, stride) @ q(hs) * inv for a constant hs <= 8: q
 * times inv in hs registers, two positions per pass (two independent
 * multiply-add chains); hs loads and hs madd.s per position. */
S3_INLINE void scores_qreg(float *restrict att, const float *restrict q, const float *restrict k,
                           size_t n_pos, size_t stride, float inv, const size_t hs) {
    float qr[8];
    _Pragma("GCC unroll 8") for (size_t i = 0; i < hs; i++) qr[i] = q[i] * inv;
    size_t t = 0;
    for (; t + 2 <= n_pos; t += 2) {
        const float *k0 = k + t * stride, *k1 = k0 + stride;
        float s0 = k0[0] * qr[0], s1 = k1[0] * qr[0];
        _Pragma("GCC unroll 8") for (size_t i = 1; i < hs; i++) {
            s0 = __builtin_fmaf(k0[i], qr[i], s0);
            s1 = __builtin_fmaf(k1[i], qr[i], s1);
        }
        att[t] = s0;
        att[t + 1] = s1;
    }
    if (t < n_pos) {
        const float *kt = k + t * stride;
        float s = kt[0] * qr[0];
        _Pragma("GCC unroll 8") for (size_t i = 1; i < hs; i++) s = __builtin_fmaf(kt[i], qr[i], s);
        att[t] = s;
    }
}

/* out(b) = sum_t att[t] * v[t](b) for a constant block b <= 8 of outputs,
 * v (n_pos, stride): the b sums stay in registers across all positions, b
 * independent chains; one load of att, b loads and b madd.s per position. */
S3_INLINE void wsum_block(float *restrict out, const float *restrict att, const float *restrict v,
                          size_t n_pos, size_t stride, const size_t b) {
    float o[8];
    _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) o[j] = att[0] * v[j];
    for (size_t t = 1; t < n_pos; t++) {
        const float a = att[t];
        const float *vt = v + t * stride;
        _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) o[j] = __builtin_fmaf(a, vt[j], o[j]);
    }
    _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) out[j] = o[j];
}

/* att(n_pos) = k(n_pos, stride) @ q(hs) / sqrt(hs), any hs >= 1. */
static void scores(float *restrict att, const float *restrict q, const float *restrict k,
                   size_t n_pos, size_t hs, size_t stride) {
    const float inv = 1.0f / sqrtf((float)hs);
    switch (hs) { /* q (scaled) held in hs registers; two positions per pass */
#define S3_CASE(n) \
    case n: scores_qreg(att, q, k, n_pos, stride, inv, n); return;
    S3_CASE(1) S3_CASE(2) S3_CASE(3) S3_CASE(4) S3_CASE(5) S3_CASE(6) S3_CASE(7) S3_CASE(8)
#undef S3_CASE
    default: break;
    }
    /* hs > 8: four positions at a time, so each load of q serves four keys. */
    size_t t = 0;
    for (; t + 4 <= n_pos; t += 4) {
        const float *k0 = k + t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        for (size_t i = 0; i < hs; i++) {
            const float qv = q[i];
            s0 = __builtin_fmaf(k0[i], qv, s0);
            s1 = __builtin_fmaf(k1[i], qv, s1);
            s2 = __builtin_fmaf(k2[i], qv, s2);
            s3 = __builtin_fmaf(k3[i], qv, s3);
        }
        att[t] = s0 * inv;
        att[t + 1] = s1 * inv;
        att[t + 2] = s2 * inv;
        att[t + 3] = s3 * inv;
    }
    for (; t < n_pos; t++) {
        const float *kt = k + t * stride;
        float s = 0.0f;
        for (size_t i = 0; i < hs; i++) s = __builtin_fmaf(kt[i], q[i], s);
        att[t] = s * inv;
    }
}

/* out(hs) = sum_t att[t] * v[t], v (n_pos, stride): blocks of up to 8
 * outputs stay in registers across all positions. */
static void weighted_sum(float *restrict out, const float *restrict att, const float *restrict v,
                         size_t n_pos, size_t hs, size_t stride) {
    size_t i = 0;
    for (; i + 8 <= hs; i += 8) wsum_block(out + i, att, v + i, n_pos, stride, 8);
    switch (hs - i) {
#define S3_CASE(n) \
    case n: wsum_block(out + i, att, v + i, n_pos, stride, n); break;
    S3_CASE(1) S3_CASE(2) S3_CASE(3) S3_CASE(4) S3_CASE(5) S3_CASE(6) S3_CASE(7)
#undef S3_CASE
    default: break;
    }
}

/* att(n) = exp(att - max(att)), in place; returns their sum (>= 1: the
 * largest term is exp(0)). Two sums, so the adds do not wait on each other. */
static float exp_shifted(float *att, size_t n) {
    float mx = att[0];
    for (size_t t = 1; t < n; t++) mx = att[t] > mx ? att[t] : mx;
    float s0 = 0.0f, s1 = 0.0f;
    size_t t = 0;
    for (; t + 2 <= n; t += 2) {
        att[t] = llm__expf(att[t] - mx);
        att[t + 1] = llm__expf(att[t + 1] - mx);
        s0 += att[t];
        s1 += att[t + 1];
    }
    if (t < n) {
        att[t] = llm__expf(att[t] - mx);
        s0 += att[t];
    }
    return s0 + s1;
}

void llm_s3_attention(float *restrict out, const float *restrict q, const float *restrict k,
                      const float *restrict v, uint32_t n_pos, uint32_t hs, uint32_t stride,
                      float *restrict att) {
    scores(att, q, k, n_pos, hs, stride);
    const float sum = exp_shifted(att, n_pos);
    weighted_sum(out, att, v, n_pos, hs, stride);
    for (uint32_t i = 0; i < hs; i++) out[i] /= sum;
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_s3_attention_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_ESP32S3 */
