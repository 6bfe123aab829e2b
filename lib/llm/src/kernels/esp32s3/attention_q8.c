/* ESP32-S3 single-head attention over an int8 KV cache with bf16 scales
 * (kernels_esp32s3.h), for the LX7's scalar FPU: q and up to 8 outputs in
 * registers across positions. Each cache byte costs a load, a sign
 * extension and a float.s besides its multiply and add; the PIE SIMD unit
 * is integer-only and q is float, so it does not help here. The whole file
 * is compiled only for LLM_BACKEND_ESP32S3.
 *
 * Bit for bit llm_ref_attention_q8: every sum runs in the reference's order
 * (scores over i from 0, outputs over t from 0, each from 0.0f), with the
 * same separate multiplies and adds (-ffp-contract=off) and the same
 * (s * ks) / sqrt(hs); only the loads are scheduled differently. The
 * softmax is the reference's. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3

#include <math.h>
#include <stddef.h>

/* No scheduling before register allocation: hoisting all of a position's loads
 * above its multiply-adds needs more than the 16 FP registers (8 sums, the
 * weight, 8 values) and spills. */
#pragma GCC optimize("no-schedule-insns")

#define S3_INLINE static inline __attribute__((always_inline))

/* att(n_pos) = ((k(n_pos, stride) @ q(hs)) * ks[t * sstride]) / norm for a
 * constant hs <= 8: q in hs registers, two positions per pass. */
S3_INLINE void scores_qreg(float *restrict att, const float *restrict q, const int8_t *restrict k,
                           const uint16_t *restrict ks, size_t n_pos, size_t stride,
                           size_t sstride, float norm, const size_t hs) {
    float qr[8];
    _Pragma("GCC unroll 8") for (size_t i = 0; i < hs; i++) qr[i] = q[i];
    size_t t = 0;
    for (; t + 2 <= n_pos; t += 2) {
        const int8_t *k0 = k + t * stride, *k1 = k0 + stride;
        float s0 = 0.0f, s1 = 0.0f;
        _Pragma("GCC unroll 8") for (size_t i = 0; i < hs; i++) {
            s0 += qr[i] * (float)k0[i];
            s1 += qr[i] * (float)k1[i];
        }
        att[t] = (s0 * llm_bf16_to_f32(ks[t * sstride])) / norm;
        att[t + 1] = (s1 * llm_bf16_to_f32(ks[(t + 1) * sstride])) / norm;
    }
    if (t < n_pos) {
        const int8_t *kt = k + t * stride;
        float s = 0.0f;
        _Pragma("GCC unroll 8") for (size_t i = 0; i < hs; i++) s += qr[i] * (float)kt[i];
        att[t] = (s * llm_bf16_to_f32(ks[t * sstride])) / norm;
    }
}

/* The same for any hs >= 1. */
static void scores(float *restrict att, const float *restrict q, const int8_t *restrict k,
                   const uint16_t *restrict ks, size_t n_pos, size_t hs, size_t stride,
                   size_t sstride) {
    const float norm = sqrtf((float)hs);
    switch (hs) {
#define S3_CASE(n) \
    case n: scores_qreg(att, q, k, ks, n_pos, stride, sstride, norm, n); return;
    S3_CASE(1) S3_CASE(2) S3_CASE(3) S3_CASE(4) S3_CASE(5) S3_CASE(6) S3_CASE(7) S3_CASE(8)
#undef S3_CASE
    default: break;
    }
    /* hs > 8: four positions at a time, so each load of q serves four keys. */
    size_t t = 0;
    for (; t + 4 <= n_pos; t += 4) {
        const int8_t *k0 = k + t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        for (size_t i = 0; i < hs; i++) {
            const float qv = q[i];
            s0 += qv * (float)k0[i];
            s1 += qv * (float)k1[i];
            s2 += qv * (float)k2[i];
            s3 += qv * (float)k3[i];
        }
        att[t] = (s0 * llm_bf16_to_f32(ks[t * sstride])) / norm;
        att[t + 1] = (s1 * llm_bf16_to_f32(ks[(t + 1) * sstride])) / norm;
        att[t + 2] = (s2 * llm_bf16_to_f32(ks[(t + 2) * sstride])) / norm;
        att[t + 3] = (s3 * llm_bf16_to_f32(ks[(t + 3) * sstride])) / norm;
    }
    for (; t < n_pos; t++) {
        const int8_t *kt = k + t * stride;
        float s = 0.0f;
        for (size_t i = 0; i < hs; i++) s += q[i] * (float)kt[i];
        att[t] = (s * llm_bf16_to_f32(ks[t * sstride])) / norm;
    }
}

/* out(b) = sum_t (att[t] * vs[t * sstride]) * v[t](b) for a constant block
 * b <= 8 of outputs, v (n_pos, stride) int8: the b sums stay in registers
 * across all positions. */
S3_INLINE void wsum_block(float *restrict out, const float *restrict att, const int8_t *restrict v,
                          const uint16_t *restrict vs, size_t n_pos, size_t stride,
                          size_t sstride, const size_t b) {
    float o[8];
    _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) o[j] = 0.0f;
    for (size_t t = 0; t < n_pos; t++) {
        const float a = att[t] * llm_bf16_to_f32(vs[t * sstride]);
        const int8_t *vt = v + t * stride;
        _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) o[j] += a * (float)vt[j];
    }
    _Pragma("GCC unroll 8") for (size_t j = 0; j < b; j++) out[j] = o[j];
}

void llm_s3_attention_q8(float *restrict out, const float *restrict q, const int8_t *restrict k,
                         const uint16_t *restrict ks, const int8_t *restrict v,
                         const uint16_t *restrict vs, uint32_t n_pos, uint32_t hs,
                         uint32_t stride, uint32_t sstride, float *restrict att) {
    scores(att, q, k, ks, n_pos, hs, stride, sstride);
    llm_ref_softmax(att, n_pos);
    /* For hs > 8 each block of 8 outputs rescales att[t] by vs[t] again (the
     * same product each time): one multiply per position and block. */
    size_t i = 0;
    for (; i + 8 <= hs; i += 8) wsum_block(out + i, att, v + i, vs, n_pos, stride, sstride, 8);
    switch (hs - i) {
#define S3_CASE(n) \
    case n: wsum_block(out + i, att, v + i, vs, n_pos, stride, sstride, n); break;
    S3_CASE(1) S3_CASE(2) S3_CASE(3) S3_CASE(4) S3_CASE(5) S3_CASE(6) S3_CASE(7)
#undef S3_CASE
    default: break;
    }
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_s3_attention_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_ESP32S3 */
