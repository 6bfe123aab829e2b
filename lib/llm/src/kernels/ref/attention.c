/* Reference single-head causal attention over a float KV cache. */
#include <math.h>
#include <stddef.h>

#include "../kernels.h"
#include "ref.h"

/* att(n_pos) = k(n_pos, stride) @ q(hs) / sqrt(hs). */
static void scores(float *restrict att, const float *restrict q, const float *restrict k,
                   size_t n_pos, size_t hs, size_t stride) {
    const float norm = sqrtf((float)hs);
    if (hs % LLM_SCORE_LANES != 0) { /* rare head sizes (6, 10, ...): plain loop */
        for (size_t t = 0; t < n_pos; t++) {
            const float *kt = k + t * stride;
            float s = 0.0f;
            for (size_t i = 0; i < hs; i++) s += kt[i] * q[i];
            att[t] = s / norm;
        }
        return;
    }
    /* Four positions at a time, so each load of q serves four keys. */
    size_t t = 0;
    for (; t + 4 <= n_pos; t += 4) {
        const float *k0 = k + t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        float a0[LLM_SCORE_LANES] = {0}, a1[LLM_SCORE_LANES] = {0}, a2[LLM_SCORE_LANES] = {0},
              a3[LLM_SCORE_LANES] = {0};
        for (size_t i = 0; i < hs; i += LLM_SCORE_LANES) {
            LLM_LANE_LOOP (size_t j = 0; j < LLM_SCORE_LANES; j++) {
                const float qv = q[i + j];
                a0[j] += k0[i + j] * qv;
                a1[j] += k1[i + j] * qv;
                a2[j] += k2[i + j] * qv;
                a3[j] += k3[i + j] * qv;
            }
        }
        const float s[4] = {llm__lane_sum(a0, LLM_SCORE_LANES), llm__lane_sum(a1, LLM_SCORE_LANES),
                            llm__lane_sum(a2, LLM_SCORE_LANES), llm__lane_sum(a3, LLM_SCORE_LANES)};
        for (size_t r = 0; r < 4; r++) att[t + r] = s[r] / norm;
    }
    for (; t < n_pos; t++) {
        const float *kt = k + t * stride;
        float a[LLM_SCORE_LANES] = {0};
        for (size_t i = 0; i < hs; i += LLM_SCORE_LANES) {
            LLM_LANE_LOOP (size_t j = 0; j < LLM_SCORE_LANES; j++) a[j] += kt[i + j] * q[i + j];
        }
        att[t] = llm__lane_sum(a, LLM_SCORE_LANES) / norm;
    }
}

/* out(hs) = sum_t softmax(q . k[t] / sqrt(hs))[t] * v[t], t in 0..n_pos-1.
 * q (hs); k, v (n_pos, stride), the head's hs values at the start of each
 * row; att (n_pos) scratch, holds the weights on return. n_pos >= 1,
 * hs >= 1; out must not alias the inputs. */
void llm_ref_attention(float *restrict out, const float *restrict q,
                       const float *restrict k, const float *restrict v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *restrict att) {
    scores(att, q, k, n_pos, hs, stride);
    llm_ref_softmax(att, n_pos);
    /* Each block of LLM_LANES outputs stays in registers across positions;
     * four positions at a time, each with its own accumulators, so the adds
     * do not wait on each other. */
    uint32_t i = 0;
    const size_t n4 = n_pos - n_pos % 4;
    for (; i + LLM_LANES <= hs; i += LLM_LANES) {
        float a0[LLM_LANES] = {0}, a1[LLM_LANES] = {0}, a2[LLM_LANES] = {0}, a3[LLM_LANES] = {0};
        for (size_t t = 0; t < n4; t += 4) {
            const float *v0 = v + t * stride + i, *v1 = v0 + stride, *v2 = v1 + stride,
                        *v3 = v2 + stride;
            const float s0 = att[t], s1 = att[t + 1], s2 = att[t + 2], s3 = att[t + 3];
            LLM_LANE_LOOP (size_t j = 0; j < LLM_LANES; j++) {
                a0[j] += s0 * v0[j];
                a1[j] += s1 * v1[j];
                a2[j] += s2 * v2[j];
                a3[j] += s3 * v3[j];
            }
        }
        for (size_t t = n4; t < n_pos; t++) {
            const float *vt = v + t * stride + i;
            LLM_LANE_LOOP (size_t j = 0; j < LLM_LANES; j++) a0[j] += att[t] * vt[j];
        }
        LLM_LANE_LOOP (size_t j = 0; j < LLM_LANES; j++) {
            out[i + j] = (a0[j] + a1[j]) + (a2[j] + a3[j]);
        }
    }
    for (; i < hs; i++) {
        float acc = 0.0f;
        for (size_t t = 0; t < n_pos; t++) acc += att[t] * v[t * stride + i];
        out[i] = acc;
    }
}
