/* Reference int8 KV cache: a bf16 scale per head and position. */
#include <math.h>
#include <stddef.h>

#include "../kernels.h"

/* dst(n_heads, hs) int8 and scale(n_heads) bf16 = src(n_heads, hs): per head
 * scale = amax / 127 rounded up to bf16, q = roundf(x / scale) via the
 * reciprocal, clamped to -127..127 (0 when amax < LLM_Q_AMAX_MIN). src
 * finite. */
LLM_REF_EXACT
void llm_ref_kv_store_q8(int8_t *dst, uint16_t *scale, const float *src, uint32_t n_heads,
                         uint32_t hs) {
    for (size_t h = 0; h < n_heads; h++) {
        const float *x = src + h * hs;
        int8_t *q = dst + h * hs;
        float amax = 0.0f;
        for (size_t i = 0; i < hs; i++) {
            const float a = fabsf(x[i]);
            amax = a > amax ? a : amax;
        }
        const uint16_t s = llm_f32_to_bf16_up(amax / 127.0f);
        const float sf = llm_bf16_to_f32(s);
        const float id = amax >= LLM_Q_AMAX_MIN ? 1.0f / sf : 0.0f;
        scale[h] = s;
        for (size_t i = 0; i < hs; i++) {
            float r = roundf(x[i] * id);
            r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
            q[i] = (int8_t)r;
        }
    }
}

/* llm_ref_attention over an int8 cache: k, v (n_pos, stride) int8 with the
 * head's hs values at the start of each row; ks, vs (n_pos, sstride) bf16
 * with the head's scale first; the query qq(hs) int8 with scale qs, as
 * llm_ref_kv_store_q8 stores one head. Scores: the int32 dot d = qq . k[t]
 * (exact: |d| <= hs * 127^2), att[t] = ((float)d * ks[t]) * (qs / sqrt(hs));
 * then softmax, out = sum_t (att[t] * vs[t]) * v[t], in float32. */
void llm_ref_attention_q8(float *restrict out, const int8_t *restrict qq, float qs,
                          const int8_t *restrict k, const uint16_t *restrict ks,
                          const int8_t *restrict v, const uint16_t *restrict vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *restrict att) {
    const float c = qs / sqrtf((float)hs);
    for (size_t t = 0; t < n_pos; t++) {
        const int8_t *kt = k + t * stride;
        int32_t d = 0;
        for (size_t i = 0; i < hs; i++) d += (int32_t)qq[i] * kt[i];
        att[t] = ((float)d * llm_bf16_to_f32(ks[t * sstride])) * c;
    }
    llm_ref_softmax(att, n_pos);
    for (size_t i = 0; i < hs; i++) out[i] = 0.0f;
    for (size_t t = 0; t < n_pos; t++) {
        const int8_t *vt = v + t * stride;
        const float a = att[t] * llm_bf16_to_f32(vs[t * sstride]);
        for (size_t i = 0; i < hs; i++) out[i] += a * (float)vt[i];
    }
}
