/* Cortex-M4F/M7/M33 single-head attention over an int8 KV cache with bf16
 * scales (kernels_cm4.h), bit for bit llm_ref_attention_q8:
 *   scores:  the int8 dot of the quantized query with each key row, four
 *            codes per word through the DSP extension: SXTB16 splits a word
 *            into its even and odd bytes as two 16-bit lanes each, SMLAD
 *            multiplies both lanes and adds them (exact in any order:
 *            |d| <= hs * 127^2), then ((float)d * ks[t]) * c as the
 *            reference scales it;
 *   softmax: llm_cm4_softmax, equal to the reference's;
 *   output:  out[i] summed over t from 0.0f in order, a[t] * (float)v[t][i]
 *            added unfused (VMLA), two positions per pass over out so that
 *            each output is loaded and stored half as often.
 * Cache rows start anywhere (odd strides, misaligned caches): the words are
 * read with single LDRs, which Armv7-M / Armv8-M Mainline allow unaligned.
 * Heads longer than LLM_CM4_ATT_Q8_HS_MAX run the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <math.h>
#include <stddef.h>

#include "dsp_cm4.h"

/* Longest head whose widened query (hs / 4 words twice) lives on the stack. */
#define LLM_CM4_ATT_Q8_HS_MAX 256u

/* The 4 bytes at p, any alignment: one LDR that the compiler cannot pair
 * into an LDRD (which needs 4-byte alignment). */
static inline uint32_t load_u32(const int8_t *p) {
    uint32_t v;
    __asm__("ldr %0, %1" : "=r"(v) : "m"(*(const uint32_t *)(const void *)p));
    return v;
}

/* qq . kt over hs codes; qe, qo (hs / 4): the query's words split by
 * llm__sx02 / llm__sx13. */
static int32_t dot_q8(const int32_t *qe, const int32_t *qo, const int8_t *qq, const int8_t *kt,
                      uint32_t hs) {
    const uint32_t words = hs / 4u;
    int32_t d = 0;
    for (uint32_t j = 0; j < words; j++) {
        const uint32_t w = load_u32(kt + 4u * j);
        d = llm__smlad(llm__sx02(w), qe[j], d);
        d = llm__smlad(llm__sx13(w), qo[j], d);
    }
    for (uint32_t i = 4u * words; i < hs; i++) d += (int32_t)qq[i] * kt[i];
    return d;
}

void llm_cm4_attention_q8(float *restrict out, const int8_t *restrict qq, float qs,
                          const int8_t *restrict k, const uint16_t *restrict ks,
                          const int8_t *restrict v, const uint16_t *restrict vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *restrict att) {
    if (hs > LLM_CM4_ATT_Q8_HS_MAX) {
        llm_ref_attention_q8(out, qq, qs, k, ks, v, vs, n_pos, hs, stride, sstride, att);
        return;
    }
    int32_t qe[LLM_CM4_ATT_Q8_HS_MAX / 4u], qo[LLM_CM4_ATT_Q8_HS_MAX / 4u]; /* (hs / 4) */
    for (uint32_t j = 0; j < hs / 4u; j++) {
        const uint32_t w = load_u32(qq + 4u * j);
        qe[j] = llm__sx02(w);
        qo[j] = llm__sx13(w);
    }
    const float c = qs / sqrtf((float)hs);
    for (size_t t = 0; t < n_pos; t++) {
        const int32_t d = dot_q8(qe, qo, qq, k + t * stride, hs);
        att[t] = ((float)d * llm_bf16_to_f32(ks[t * sstride])) * c;
    }
    llm_cm4_softmax(att, n_pos);
    for (size_t i = 0; i < hs; i++) out[i] = 0.0f;
    size_t t = 0;
    for (; t + 2u <= n_pos; t += 2u) {
        const int8_t *v0 = v + t * stride, *v1 = v0 + stride;
        const float a0 = att[t] * llm_bf16_to_f32(vs[t * sstride]);
        const float a1 = att[t + 1u] * llm_bf16_to_f32(vs[(t + 1u) * sstride]);
        for (size_t i = 0; i < hs; i++) {
            out[i] = llm__vmla(llm__vmla(out[i], a0, (float)v0[i]), a1, (float)v1[i]);
        }
    }
    if (t < n_pos) {
        const int8_t *v0 = v + t * stride;
        const float a0 = att[t] * llm_bf16_to_f32(vs[t * sstride]);
        for (size_t i = 0; i < hs; i++) out[i] = llm__vmla(out[i], a0, (float)v0[i]);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_CM4 */
