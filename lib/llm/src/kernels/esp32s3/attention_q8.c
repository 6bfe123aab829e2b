/* ESP32-S3 single-head attention over an int8 KV cache with bf16 scales
 * (kernels_esp32s3.h). The scores are int8 x int8 dots of the quantized
 * query with each key row: our PIE kernel (pie_dots.S) computes them
 * exactly, a whole head per call. The weighted sum of the value rows has
 * float weights (the softmax), so it runs on the LX7's scalar FPU with up to
 * 8 outputs in registers across positions. The whole file is compiled only
 * for LLM_BACKEND_ESP32S3.
 *
 * Bit for bit llm_ref_attention_q8: the integer dots are exact in any
 * order, each score is scaled as the reference does ((float)d * ks) * c,
 * the softmax is the reference's, and the weighted sums run in its order
 * (outputs over t from 0, each from 0.0f) with the same separate multiplies
 * and adds (-ffp-contract=off). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3

#include <math.h>
#include <stddef.h>

#include "../ref/bitcast.h"

/* No scheduling before register allocation: hoisting all of a position's loads
 * above its multiply-adds needs more than the 16 FP registers (8 sums, the
 * weight, 8 values) and spills. */
#pragma GCC optimize("no-schedule-insns")

#define S3_INLINE static inline __attribute__((always_inline))

/* Longest head the PIE path takes: its zero-padded query (at most 17
 * vectors) lives on the stack. */
#define S3_ATT_PIE_HS 256U

/* Integer dots d[t] = qq . k[t] (n_pos rows, stride bytes apart), stored as
 * int32 bits in att's words. */
#if LLM_S3_PIE
/* Each row is read as the 16-byte vectors that hold its hs bytes: a row
 * starting o bytes past a 16-byte boundary meets the query placed o bytes
 * into a zeroed buffer, so the bytes around it multiply by 0 and nothing
 * outside those vectors is read. Rows t and t + P start at the same offset,
 * P = 16 / gcd(stride, 16): one pass per offset class, P = 1 for every
 * cache whose kv_dim is a multiple of 16. */
static void dots(float *att, const int8_t *qq, const int8_t *k, size_t n_pos, size_t hs,
                 size_t stride) {
    int8_t qv[(S3_ATT_PIE_HS + 32U) & ~15U] __attribute__((aligned(16)));
    size_t period = 16;
    while (period > 1 && (stride * period / 2) % 16 == 0) period /= 2;
    int32_t tmp[64];
    for (size_t r = 0; r < period && r < n_pos; r++) {
        const int8_t *row = k + r * stride;
        const size_t o = (uintptr_t)row & 15U, nb = (o + hs + 15) / 16;
        for (size_t i = 0; i < nb * 16; i++) qv[i] = 0;
        for (size_t i = 0; i < hs; i++) qv[o + i] = qq[i];
        const int8_t *base = row - o;
        const size_t n = (n_pos - r + period - 1) / period, step = period * stride;
        if (period == 1) {
            llm_s3_pie_dots_s8((int32_t *)(void *)att, base, qv, (uint32_t)n, (uint32_t)nb,
                               (uint32_t)step);
            continue;
        }
        for (size_t j0 = 0; j0 < n; j0 += 64) {
            const size_t m = n - j0 < 64 ? n - j0 : 64;
            llm_s3_pie_dots_s8(tmp, base + j0 * step, qv, (uint32_t)m, (uint32_t)nb,
                               (uint32_t)step);
            for (size_t j = 0; j < m; j++) {
                LLM_BITCOPY(&att[r + (j0 + j) * period], &tmp[j], sizeof(int32_t));
            }
        }
    }
}
#endif

static void dots_c(float *att, const int8_t *qq, const int8_t *k, size_t n_pos, size_t hs,
                   size_t stride) {
    for (size_t t = 0; t < n_pos; t++) {
        const int8_t *kt = k + t * stride;
        int32_t d = 0;
        for (size_t i = 0; i < hs; i++) d += (int32_t)qq[i] * kt[i];
        LLM_BITCOPY(&att[t], &d, sizeof d);
    }
}

/* att(n_pos) = ((float)(qq . k[t]) * ks[t * sstride]) * c. */
static void scores(float *att, const int8_t *qq, float c, const int8_t *k, const uint16_t *ks,
                   size_t n_pos, size_t hs, size_t stride, size_t sstride) {
#if LLM_S3_PIE
    if (hs <= S3_ATT_PIE_HS) {
        dots(att, qq, k, n_pos, hs, stride);
    } else
#endif
    {
        dots_c(att, qq, k, n_pos, hs, stride);
    }
    for (size_t t = 0; t < n_pos; t++) {
        int32_t d;
        LLM_BITCOPY(&d, &att[t], sizeof d);
        att[t] = ((float)d * llm_bf16_to_f32(ks[t * sstride])) * c;
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

void llm_s3_attention_q8(float *restrict out, const int8_t *restrict qq, float qs,
                         const int8_t *restrict k, const uint16_t *restrict ks,
                         const int8_t *restrict v, const uint16_t *restrict vs, uint32_t n_pos,
                         uint32_t hs, uint32_t stride, uint32_t sstride, float *restrict att) {
    scores(att, qq, qs / sqrtf((float)hs), k, ks, n_pos, hs, stride, sstride);
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
