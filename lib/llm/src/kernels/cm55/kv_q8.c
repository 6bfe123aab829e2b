/* Cortex-M55 attention over an int8 KV cache with Helium: keys and values
 * are loaded four at a time widened to int32 (VLDRB.S32), converted to float
 * and multiply-accumulated; a bf16 scale per position as in the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <math.h>
#include <stddef.h>

#include "vmath_cm55.h"

/* As llm_ref_attention_q8: k, v (n_pos, stride) int8, ks, vs (n_pos,
 * sstride) bf16; att (n_pos) scratch. Sums differ from the reference only in
 * order and fused multiply-adds. */
void llm_cm55_attention_q8(float *out, const float *q, const int8_t *k, const uint16_t *ks,
                           const int8_t *v, const uint16_t *vs, uint32_t n_pos, uint32_t hs,
                           uint32_t stride, uint32_t sstride, float *att) {
    const float norm = sqrtf((float)hs);
    for (size_t t = 0; t < n_pos; t++) {
        const int8_t *kt = k + t * stride;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (uint32_t i = 0; i < hs; i += 4) {
            const mve_pred16_t p = vctp32q(hs - i);
            const float32x4_t kv = vcvtq_f32_s32(vldrbq_z_s32(kt + i, p));
            acc = vfmaq_m_f32(acc, kv, vldrwq_z_f32(q + i, p), p);
        }
        att[t] = (llm__vsum(acc) * llm_bf16_to_f32(ks[t * sstride])) / norm;
    }
    llm_k_softmax(att, n_pos);
    for (uint32_t i = 0; i < hs; i += 4) {
        const mve_pred16_t p = vctp32q(hs - i);
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (size_t t = 0; t < n_pos; t++) {
            const float a = att[t] * llm_bf16_to_f32(vs[t * sstride]);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(vldrbq_z_s32(v + t * stride + i, p)), a);
        }
        vstrwq_p_f32(out + i, acc, p);
    }
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_kv_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
