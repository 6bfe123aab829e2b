/* Cortex-M55 single-head attention over a float KV cache, in Helium:
 * strided scores and the weighted sum of V rows by gathers (four positions
 * per vector), and a vector exp. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <math.h>
#include <stddef.h>

#include "vmath_cm55.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* Dot products of m (1..8, a constant after inlining) query values with
 * columns c..c+m-1 of every key row, added to att (or stored, when first).
 * base holds the byte addresses of k[t][c] for the first four positions; the
 * gathers read four rows at once (lanes are positions), so the scores come
 * out contiguous. The last n_pos % 4 positions load and store under a tail
 * predicate: rows past n_pos are never read. When last, returns mx raised to
 * the lane-wise maximum of the finished scores (mx otherwise). */
ALWAYS_INLINE float32x4_t score_pass(float *att, const float *qc, uint32x4_t base, uint32_t n_pos,
                                     uint32_t row_bytes, int m, int first, int last,
                                     float32x4_t mx) {
    /* The query values stay in core registers: vfma takes its scalar there. */
    const float q0 = qc[0], q1 = m > 1 ? qc[1] : 0.0f, q2 = m > 2 ? qc[2] : 0.0f,
                q3 = m > 3 ? qc[3] : 0.0f, q4 = m > 4 ? qc[4] : 0.0f, q5 = m > 5 ? qc[5] : 0.0f,
                q6 = m > 6 ? qc[6] : 0.0f, q7 = m > 7 ? qc[7] : 0.0f;
    const uint32_t step = 4u * row_bytes; /* four positions */
    float *a = att;
    for (uint32_t b = n_pos / 4u; b > 0; b--) {
        float32x4_t acc = vldrwq_gather_base_f32(base, 0);
        acc = first ? vmulq_n_f32(acc, q0) : vfmaq_n_f32(vld1q_f32(a), acc, q0);
        if (m > 1) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 4), q1);
        if (m > 2) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 8), q2);
        if (m > 3) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 12), q3);
        if (m > 4) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 16), q4);
        if (m > 5) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 20), q5);
        if (m > 6) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 24), q6);
        if (m > 7) acc = vfmaq_n_f32(acc, vldrwq_gather_base_f32(base, 28), q7);
        vst1q_f32(a, acc);
        if (last) mx = vmaxnmq_f32(mx, acc);
        base = vaddq_n_u32(base, step);
        a += 4;
    }
    const uint32_t tail = n_pos % 4u;
    if (tail) {
        const mve_pred16_t p = vctp32q(tail);
        float32x4_t acc = vldrwq_gather_base_z_f32(base, 0, p);
        acc = first ? vmulq_n_f32(acc, q0) : vfmaq_n_f32(vldrwq_z_f32(a, p), acc, q0);
        if (m > 1) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 4, p), q1);
        if (m > 2) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 8, p), q2);
        if (m > 3) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 12, p), q3);
        if (m > 4) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 16, p), q4);
        if (m > 5) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 20, p), q5);
        if (m > 6) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 24, p), q6);
        if (m > 7) acc = vfmaq_n_f32(acc, vldrwq_gather_base_z_f32(base, 28, p), q7);
        vstrwq_p_f32(a, acc, p);
        if (last) mx = vmaxnmq_m_f32(mx, mx, acc, p);
    }
    return mx;
}

/* One score pass over m query columns, m, first and last chosen at run time. */
static float32x4_t score_cols(float *att, const float *qc, uint32x4_t base, uint32_t n_pos,
                              uint32_t row_bytes, uint32_t m, int first, int last,
                              float32x4_t mx) {
#define PASS(M)                                                                          \
    if (first && last) return score_pass(att, qc, base, n_pos, row_bytes, M, 1, 1, mx); \
    if (first) return score_pass(att, qc, base, n_pos, row_bytes, M, 1, 0, mx);         \
    if (last) return score_pass(att, qc, base, n_pos, row_bytes, M, 0, 1, mx);          \
    return score_pass(att, qc, base, n_pos, row_bytes, M, 0, 0, mx);
    switch (m) {
    case 1: PASS(1)
    case 2: PASS(2)
    case 3: PASS(3)
    case 4: PASS(4)
    case 5: PASS(5)
    case 6: PASS(6)
    case 7: PASS(7)
    default: PASS(8)
    }
#undef PASS
}

/* att(n_pos) = k(n_pos, stride)[:, :hs] @ q(hs), unscaled; returns the largest. */
static float scores(float *att, const float *q, const float *k, uint32_t n_pos, uint32_t hs,
                    uint32_t stride) {
    const uint32_t row_bytes = stride * 4u;
    /* Byte addresses of rows 0..3; Helium addresses are 32-bit. */
    const uint32x4_t rows = vmulq_n_u32(vidupq_n_u32(0u, 1), row_bytes);
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    for (uint32_t c = 0; c < hs; c += 8u) {
        const uint32_t m = hs - c < 8u ? hs - c : 8u;
        const uint32x4_t base = vaddq_n_u32(rows, (uint32_t)(uintptr_t)(k + c));
        mx = score_cols(att, q + c, base, n_pos, row_bytes, m, c == 0, c + m == hs, mx);
    }
    return vmaxnmvq_f32(-INFINITY, mx);
}

/* att(n) = e^(c (att - mx)) in place; returns the sum of the results. The
 * argument is formed in base 2 by one multiply-add, y = c log2(e) (att - mx),
 * so the exp needs no range-reduction multiplies. */
static float exp_scaled(float *att, uint32_t n, float c, float mx) {
    const float c2 = c * 1.44269504f;
    const float32x4_t off = vdupq_n_f32(-c2 * mx);
    float32x4_t sum = vdupq_n_f32(0.0f);
    float *a = att;
    for (uint32_t b = n / 4u; b > 0; b--) {
        const float32x4_t e = llm__vexp2_neg(vfmaq_n_f32(off, vld1q_f32(a), c2));
        vst1q_f32(a, e);
        sum = vaddq_f32(sum, e);
        a += 4;
    }
    if (n % 4u) {
        const mve_pred16_t p = vctp32q(n % 4u);
        const float32x4_t e = llm__vexp2_neg(vfmaq_n_f32(off, vldrwq_z_f32(a, p), c2));
        vstrwq_p_f32(a, e, p);
        sum = vaddq_m_f32(sum, sum, e, p);
    }
    return llm__vsum(sum);
}

/* out[0..m) = sum_t w[t] v[t][0..m), m in 1..4 (a constant after inlining).
 * Lanes are positions, as in the scores: each gather reads one column of four
 * V rows (base: byte addresses of v[t][0], t = 0..3) and is multiplied by the
 * four weights, one accumulator per column; the lane sums at the end are the
 * outputs. The last n_pos % 4 positions load under a tail predicate. */
ALWAYS_INLINE void wsum_pass(float *out, const float *w, uint32x4_t base, uint32_t n_pos,
                             uint32_t row_bytes, int m) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    const uint32_t step = 4u * row_bytes;
    for (uint32_t b = n_pos / 4u; b > 0; b--) {
        const float32x4_t wv = vld1q_f32(w);
        a0 = vfmaq_f32(a0, vldrwq_gather_base_f32(base, 0), wv);
        if (m > 1) a1 = vfmaq_f32(a1, vldrwq_gather_base_f32(base, 4), wv);
        if (m > 2) a2 = vfmaq_f32(a2, vldrwq_gather_base_f32(base, 8), wv);
        if (m > 3) a3 = vfmaq_f32(a3, vldrwq_gather_base_f32(base, 12), wv);
        base = vaddq_n_u32(base, step);
        w += 4;
    }
    if (n_pos % 4u) { /* zeroed lanes add 0 * 0 */
        const mve_pred16_t p = vctp32q(n_pos % 4u);
        const float32x4_t wv = vldrwq_z_f32(w, p);
        a0 = vfmaq_f32(a0, vldrwq_gather_base_z_f32(base, 0, p), wv);
        if (m > 1) a1 = vfmaq_f32(a1, vldrwq_gather_base_z_f32(base, 4, p), wv);
        if (m > 2) a2 = vfmaq_f32(a2, vldrwq_gather_base_z_f32(base, 8, p), wv);
        if (m > 3) a3 = vfmaq_f32(a3, vldrwq_gather_base_z_f32(base, 12, p), wv);
    }
    llm__vsum4(out, a0, a1, a2, a3, vctp32q((uint32_t)m));
}

/* out(hs) = sum_t w[t] v[t][0..hs), v (n_pos, stride). */
static void wsum(float *out, const float *w, const float *v, uint32_t n_pos, uint32_t hs,
                 uint32_t stride) {
    const uint32_t row_bytes = stride * 4u;
    const uint32x4_t rows = vmulq_n_u32(vidupq_n_u32(0u, 1), row_bytes);
    for (uint32_t c = 0; c < hs; c += 4u) {
        const uint32x4_t base = vaddq_n_u32(rows, (uint32_t)(uintptr_t)(v + c));
        switch (hs - c) {
        case 1: wsum_pass(out + c, w, base, n_pos, row_bytes, 1); break;
        case 2: wsum_pass(out + c, w, base, n_pos, row_bytes, 2); break;
        case 3: wsum_pass(out + c, w, base, n_pos, row_bytes, 3); break;
        default: wsum_pass(out + c, w, base, n_pos, row_bytes, 4); break;
        }
    }
}

/* out(hs) = sum_t softmax(q . k[t] / sqrt(hs))[t] * v[t], t in 0..n_pos-1.
 * q (hs); k, v (n_pos, stride), the head's hs values at the start of each row;
 * att (n_pos) scratch: it ends holding the unnormalised weights. n_pos >= 1,
 * 1 <= hs <= stride; out must not alias the inputs. Gathers take 32-bit
 * addresses, which every Cortex-M address is.
 * The 1/sqrt(hs) scale is applied inside the exp's argument and the
 * normalisation after the weighted sum, so each is one multiply. */
void llm_cm55_attention(float *out, const float *q, const float *k, const float *v,
                        uint32_t n_pos, uint32_t hs, uint32_t stride, float *att) {
    const float mx = scores(att, q, k, n_pos, hs, stride);
    const float inv_sum = 1.0f / exp_scaled(att, n_pos, 1.0f / sqrtf((float)hs), mx);
    wsum(out, att, v, n_pos, hs, stride);
    llm__vscale(out, hs, inv_sum);
}

#else
typedef int llm_cm55_attention_unused; /* ISO C wants a declaration per file */
#endif
