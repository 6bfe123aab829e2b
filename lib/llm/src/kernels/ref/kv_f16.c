/* Reference fp16 KV cache: storing a row and single-head attention over it. */
#include <math.h>
#include <stddef.h>

#include "../kernels.h"

/* dst(n) = src(n) as IEEE half, rounded to nearest even. */
LLM_REF_EXACT
void llm_ref_kv_store_f16(uint16_t *dst, const float *src, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) dst[i] = llm_f32_to_f16(src[i]);
}

/* llm_ref_attention over an fp16 cache: k, v (n_pos, stride) half bits, the
 * head's hs values at the start of each row; att (n_pos) scratch. Scores and
 * the weighted sum run in float32, one position after another. */
void llm_ref_attention_f16(float *restrict out, const float *restrict q,
                           const uint16_t *restrict k, const uint16_t *restrict v, uint32_t n_pos,
                           uint32_t hs, uint32_t stride, float *restrict att) {
    const float norm = sqrtf((float)hs);
    for (size_t t = 0; t < n_pos; t++) {
        const uint16_t *kt = k + t * stride;
        float s = 0.0f;
        for (size_t i = 0; i < hs; i++) s += q[i] * llm_f16_to_f32(kt[i]);
        att[t] = s / norm;
    }
    llm_ref_softmax(att, n_pos);
    for (size_t i = 0; i < hs; i++) out[i] = 0.0f;
    for (size_t t = 0; t < n_pos; t++) {
        const uint16_t *vt = v + t * stride;
        const float a = att[t];
        for (size_t i = 0; i < hs; i++) out[i] += a * llm_f16_to_f32(vt[i]);
    }
}
