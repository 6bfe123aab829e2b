/* AArch64 NEON single-head attention over a float KV cache, blocked as the
 * reference is (ref/attention.c): the same sums in the same order, in
 * vectors. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include <math.h>
#include <stddef.h>

#include "vec_neon.h"

/* att(n_pos) = k(n_pos, stride)[:, :hs] @ q(hs) / sqrt(hs). For hs % 4 == 0
 * each score is one 4-lane vector summed (x0 + x1) + (x2 + x3) (the
 * reference's LLM_SCORE_LANES 4), four positions per load of q; other head
 * sizes sum in column order, as the reference's plain loop does. */
static void scores(float *att, const float *q, const float *k, size_t n_pos, size_t hs,
                   size_t stride) {
    const float norm = sqrtf((float)hs);
    if (hs % 4u != 0) {
        for (size_t t = 0; t < n_pos; t++) {
            const float *kt = k + t * stride;
            float s = 0.0f;
            for (size_t i = 0; i < hs; i++) s += kt[i] * q[i];
            att[t] = s / norm;
        }
        return;
    }
    const float32x4_t vnorm = vdupq_n_f32(norm);
    size_t t = 0;
    for (; t + 4 <= n_pos; t += 4) {
        const float *k0 = k + t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < hs; i += 4) {
            const float32x4_t qv = vld1q_f32(q + i);
            a0 = llm__neon_mla(a0, vld1q_f32(k0 + i), qv);
            a1 = llm__neon_mla(a1, vld1q_f32(k1 + i), qv);
            a2 = llm__neon_mla(a2, vld1q_f32(k2 + i), qv);
            a3 = llm__neon_mla(a3, vld1q_f32(k3 + i), qv);
        }
        vst1q_f32(att + t, vdivq_f32(llm__neon_sum4x4(a0, a1, a2, a3), vnorm));
    }
    for (; t < n_pos; t++) {
        const float *kt = k + t * stride;
        float32x4_t a = vdupq_n_f32(0.0f);
        for (size_t i = 0; i < hs; i += 4) a = llm__neon_mla(a, vld1q_f32(kt + i), vld1q_f32(q + i));
        const float32x4_t p = vpaddq_f32(a, a);
        att[t] = (vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1)) / norm;
    }
}

/* out[i..i+8) = sum_t att[t] v[t][i..i+8): positions four at a time, each of
 * the four with its own two accumulators, the last n_pos % 4 into the
 * first, then (a0 + a1) + (a2 + a3) (the reference with LLM_LANES 8). */
static void wsum8(float *out, const float *att, const float *v, size_t n_pos, size_t stride) {
    float32x4_t l0 = vdupq_n_f32(0.0f), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
                h3 = l0;
    const size_t n4 = n_pos - n_pos % 4u;
    for (size_t t = 0; t < n4; t += 4) {
        const float *v0 = v + t * stride, *v1 = v0 + stride, *v2 = v1 + stride, *v3 = v2 + stride;
        l0 = llm__neon_mla_n(l0, vld1q_f32(v0), att[t]);
        h0 = llm__neon_mla_n(h0, vld1q_f32(v0 + 4), att[t]);
        l1 = llm__neon_mla_n(l1, vld1q_f32(v1), att[t + 1]);
        h1 = llm__neon_mla_n(h1, vld1q_f32(v1 + 4), att[t + 1]);
        l2 = llm__neon_mla_n(l2, vld1q_f32(v2), att[t + 2]);
        h2 = llm__neon_mla_n(h2, vld1q_f32(v2 + 4), att[t + 2]);
        l3 = llm__neon_mla_n(l3, vld1q_f32(v3), att[t + 3]);
        h3 = llm__neon_mla_n(h3, vld1q_f32(v3 + 4), att[t + 3]);
    }
    for (size_t t = n4; t < n_pos; t++) {
        const float *vt = v + t * stride;
        l0 = llm__neon_mla_n(l0, vld1q_f32(vt), att[t]);
        h0 = llm__neon_mla_n(h0, vld1q_f32(vt + 4), att[t]);
    }
    vst1q_f32(out, vaddq_f32(vaddq_f32(l0, l1), vaddq_f32(l2, l3)));
    vst1q_f32(out + 4, vaddq_f32(vaddq_f32(h0, h1), vaddq_f32(h2, h3)));
}

/* out(hs) = sum_t softmax(q . k[t] / sqrt(hs))[t] * v[t], t in 0..n_pos-1.
 * q (hs); k, v (n_pos, stride), the head's hs values at the start of each
 * row; att (n_pos) scratch, holds the weights on return. n_pos >= 1,
 * 1 <= hs <= stride; out must not alias the inputs. Outputs past the last
 * whole block of 8 are each one sum over t in order (the reference's
 * scalar tail), four of them per vector where they fit. */
void llm_neon_attention(float *out, const float *q, const float *k, const float *v,
                        uint32_t n_pos, uint32_t hs, uint32_t stride, float *att) {
    scores(att, q, k, n_pos, hs, stride);
    llm_ref_softmax(att, n_pos);
    size_t i = 0;
    for (; i + 8 <= hs; i += 8) wsum8(out + i, att, v + i, n_pos, stride);
    for (; i + 4 <= hs; i += 4) {
        float32x4_t a = vdupq_n_f32(0.0f);
        for (size_t t = 0; t < n_pos; t++) a = llm__neon_mla_n(a, vld1q_f32(v + t * stride + i), att[t]);
        vst1q_f32(out + i, a);
    }
    for (; i < hs; i++) {
        float acc = 0.0f;
        for (size_t t = 0; t < n_pos; t++) acc += att[t] * v[t * stride + i];
        out[i] = acc;
    }
}

#else
typedef int llm_neon_attention_unused; /* ISO C wants a declaration per file */
#endif
