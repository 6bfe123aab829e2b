/* Cortex-M55 attention over an int8 KV cache with Helium, laid out as the
 * fp32 kernel (attention.c): lanes are positions, so each byte gather reads
 * one column of four cache rows (widened to int32 and converted), the scores
 * come out contiguous and the weighted sum needs no lane reductions until
 * the end. Each position's key scale multiplies its score in the last
 * column pass; its value scale is folded into the softmax weights. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <math.h>
#include <stddef.h>

#include "vmath_cm55.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Without GCC 12's scheduler the weighted sum's four accumulators, offsets,
 * weights and one temporary fit the eight Q registers (scheduled, it spills
 * an accumulator to the stack: 3 more instructions per four positions). */
#define NO_SCHED __attribute__((optimize("no-schedule-insns", "no-schedule-insns2")))

/* Column c[0] of four cache rows at byte offsets off from c, as floats. */
ALWAYS_INLINE float32x4_t col(const int8_t *c, uint32x4_t off) {
    return vcvtq_f32_s32(vldrbq_gather_offset_s32(c, off));
}

/* The same for the lanes of p (the others 0). */
ALWAYS_INLINE float32x4_t col_z(const int8_t *c, uint32x4_t off, mve_pred16_t p) {
    return vcvtq_f32_s32(vldrbq_gather_offset_z_s32(c, off, p));
}

/* Column c[0] of four cache rows at byte offsets off from c, as int32. */
ALWAYS_INLINE int32x4_t col_i(const int8_t *c, uint32x4_t off) {
    return vldrbq_gather_offset_s32(c, off);
}

/* The same for the lanes of p (the others 0). */
ALWAYS_INLINE int32x4_t col_iz(const int8_t *c, uint32x4_t off, mve_pred16_t p) {
    return vldrbq_gather_offset_z_s32(c, off, p);
}

/* Columns c..c+m-1 (m 1..4, a constant after inlining) of the integer
 * scores of every position: d[t] (+)= sum_j qq[j] k[t][j], kc = k + c, kept
 * as int32 in att's words (exact); stored when first, added otherwise. When
 * last, each becomes the float (float)d[t] * ks[t * sstride], and mx is
 * raised to the lane-wise maximum. Rows past n_pos are never read: the last
 * n_pos % 4 positions go under a tail predicate. */
ALWAYS_INLINE float32x4_t score_pass(float *att, const int8_t *qc, const int8_t *kc,
                                     const uint16_t *ks, uint32_t n_pos, uint32_t stride,
                                     uint32_t sstride, int m, int first, int last,
                                     float32x4_t mx) {
    const int32_t q0 = qc[0], q1 = m > 1 ? qc[1] : 0, q2 = m > 2 ? qc[2] : 0,
                  q3 = m > 3 ? qc[3] : 0;
    uint32x4_t off = vmulq_n_u32(vidupq_n_u32(0u, 1), stride);   /* rows t..t+3, bytes */
    uint32x4_t soff = vmulq_n_u32(vidupq_n_u32(0u, 1), sstride); /* their scales, halfwords */
    const uint32_t step = 4u * stride, sstep = 4u * sstride;
    int32_t *a = (int32_t *)att;
    for (uint32_t b = n_pos / 4u; b > 0; b--) {
        int32x4_t acc = col_i(kc, off);
        acc = first ? vmulq_n_s32(acc, q0) : vmlaq_n_s32(vld1q_s32(a), acc, q0);
        if (m > 1) acc = vmlaq_n_s32(acc, col_i(kc + 1, off), q1);
        if (m > 2) acc = vmlaq_n_s32(acc, col_i(kc + 2, off), q2);
        if (m > 3) acc = vmlaq_n_s32(acc, col_i(kc + 3, off), q3);
        if (last) {
            const float32x4_t sc = vmulq_f32(
                vcvtq_f32_s32(acc), llm__vbf16(vldrhq_gather_shifted_offset_u32(ks, soff)));
            soff = vaddq_n_u32(soff, sstep);
            mx = vmaxnmq_f32(mx, sc);
            vst1q_f32((float *)a, sc);
        } else {
            vst1q_s32(a, acc);
        }
        off = vaddq_n_u32(off, step);
        a += 4;
    }
    const uint32_t tail = n_pos % 4u;
    if (tail) {
        const mve_pred16_t p = vctp32q(tail);
        int32x4_t acc = col_iz(kc, off, p);
        acc = first ? vmulq_n_s32(acc, q0) : vmlaq_n_s32(vldrwq_z_s32(a, p), acc, q0);
        if (m > 1) acc = vmlaq_n_s32(acc, col_iz(kc + 1, off, p), q1);
        if (m > 2) acc = vmlaq_n_s32(acc, col_iz(kc + 2, off, p), q2);
        if (m > 3) acc = vmlaq_n_s32(acc, col_iz(kc + 3, off, p), q3);
        if (last) {
            const float32x4_t sc = vmulq_f32(
                vcvtq_f32_s32(acc),
                llm__vbf16(vldrhq_gather_shifted_offset_z_u32(ks, soff, p)));
            mx = vmaxnmq_m_f32(mx, mx, sc, p);
            vstrwq_p_f32((float *)a, sc, p);
        } else {
            vstrwq_p_s32(a, acc, p);
        }
    }
    return mx;
}

/* One score pass over m query columns, m, first and last chosen at run time. */
static float32x4_t score_cols(float *att, const int8_t *qc, const int8_t *kc, const uint16_t *ks,
                              uint32_t n_pos, uint32_t stride, uint32_t sstride, uint32_t m,
                              int first, int last, float32x4_t mx) {
#define PASS(M)                                                                                \
    if (first && last) return score_pass(att, qc, kc, ks, n_pos, stride, sstride, M, 1, 1, mx); \
    if (first) return score_pass(att, qc, kc, ks, n_pos, stride, sstride, M, 1, 0, mx);         \
    if (last) return score_pass(att, qc, kc, ks, n_pos, stride, sstride, M, 0, 1, mx);          \
    return score_pass(att, qc, kc, ks, n_pos, stride, sstride, M, 0, 0, mx);
    switch (m) {
    case 1: PASS(1)
    case 2: PASS(2)
    case 3: PASS(3)
    default: PASS(4)
    }
#undef PASS
}

/* att(n) = e^(c (att - mx)) * vs[t * sstride] in place; returns the sum of
 * the exponentials alone (the softmax denominator). The argument is formed
 * in base 2 by one multiply-add, as in attention.c. */
static float exp_weights(float *att, uint32_t n, float c, float mx, const uint16_t *vs,
                         uint32_t sstride) {
    const float c2 = c * 1.44269504f;
    const float32x4_t off = vdupq_n_f32(-c2 * mx);
    uint32x4_t soff = vmulq_n_u32(vidupq_n_u32(0u, 1), sstride);
    const uint32_t sstep = 4u * sstride;
    float32x4_t sum = vdupq_n_f32(0.0f);
    float *a = att;
    for (uint32_t b = n / 4u; b > 0; b--) {
        const float32x4_t e = llm__vexp2_neg(vfmaq_n_f32(off, vld1q_f32(a), c2));
        sum = vaddq_f32(sum, e);
        vst1q_f32(a, vmulq_f32(e, llm__vbf16(vldrhq_gather_shifted_offset_u32(vs, soff))));
        soff = vaddq_n_u32(soff, sstep);
        a += 4;
    }
    if (n % 4u) {
        const mve_pred16_t p = vctp32q(n % 4u);
        const float32x4_t e = llm__vexp2_neg(vfmaq_n_f32(off, vldrwq_z_f32(a, p), c2));
        sum = vaddq_m_f32(sum, sum, e, p);
        const float32x4_t vsf = llm__vbf16(vldrhq_gather_shifted_offset_z_u32(vs, soff, p));
        vstrwq_p_f32(a, vmulq_f32(e, vsf), p);
    }
    return llm__vsum(sum);
}

/* out[0..m) = sum_t w[t] v[t][0..m), m in 1..4 (a constant after inlining),
 * vc = v + c: one accumulator per column, lanes are positions, lane sums at
 * the end. */
ALWAYS_INLINE void wsum_pass(float *out, const float *w, const int8_t *vc, uint32_t n_pos,
                             uint32_t stride, int m) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    uint32x4_t off = vmulq_n_u32(vidupq_n_u32(0u, 1), stride);
    const uint32_t step = 4u * stride;
    for (uint32_t b = n_pos / 4u; b > 0; b--) {
        const float32x4_t wv = vld1q_f32(w);
        a0 = vfmaq_f32(a0, col(vc, off), wv);
        if (m > 1) a1 = vfmaq_f32(a1, col(vc + 1, off), wv);
        if (m > 2) a2 = vfmaq_f32(a2, col(vc + 2, off), wv);
        if (m > 3) a3 = vfmaq_f32(a3, col(vc + 3, off), wv);
        off = vaddq_n_u32(off, step);
        w += 4;
    }
    if (n_pos % 4u) { /* zeroed lanes add 0 * 0 */
        const mve_pred16_t p = vctp32q(n_pos % 4u);
        const float32x4_t wv = vldrwq_z_f32(w, p);
        a0 = vfmaq_f32(a0, col_z(vc, off, p), wv);
        if (m > 1) a1 = vfmaq_f32(a1, col_z(vc + 1, off, p), wv);
        if (m > 2) a2 = vfmaq_f32(a2, col_z(vc + 2, off, p), wv);
        if (m > 3) a3 = vfmaq_f32(a3, col_z(vc + 3, off, p), wv);
    }
    llm__vsum4(out, a0, a1, a2, a3, vctp32q((uint32_t)m));
}

/* As llm_ref_attention_q8: qq(hs) int8 with scale qs, k, v (n_pos, stride)
 * int8, ks, vs (n_pos, sstride) bf16; att (n_pos) scratch: it ends holding
 * the unnormalised weights times the value scales. n_pos >= 1,
 * 1 <= hs <= stride. The integer scores are exact; qs / sqrt(hs) is applied
 * inside the exp's argument and the normalisation after the weighted sum, so
 * each is one multiply; sums differ from the reference in order and fused
 * multiply-adds only. */
NO_SCHED void llm_cm55_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                                    const uint16_t *ks, const int8_t *v, const uint16_t *vs,
                                    uint32_t n_pos, uint32_t hs, uint32_t stride,
                                    uint32_t sstride, float *att) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    for (uint32_t c = 0; c < hs; c += 4u) {
        const uint32_t m = hs - c < 4u ? hs - c : 4u;
        mx = score_cols(att, qq + c, k + c, ks, n_pos, stride, sstride, m, c == 0, c + m == hs, mx);
    }
    const float mxs = vmaxnmvq_f32(-INFINITY, mx);
    const float inv_sum =
        1.0f / exp_weights(att, n_pos, qs / sqrtf((float)hs), mxs, vs, sstride);
    for (uint32_t c = 0; c < hs; c += 4u) {
        switch (hs - c) {
        case 1: wsum_pass(out + c, att, v + c, n_pos, stride, 1); break;
        case 2: wsum_pass(out + c, att, v + c, n_pos, stride, 2); break;
        case 3: wsum_pass(out + c, att, v + c, n_pos, stride, 3); break;
        default: wsum_pass(out + c, att, v + c, n_pos, stride, 4); break;
        }
    }
    llm__vscale(out, hs, inv_sum);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_kv_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
