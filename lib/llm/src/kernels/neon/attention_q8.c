/* AArch64 NEON single-head attention over an int8 KV cache with bf16
 * scales, bit for bit llm_ref_attention_q8:
 *   scores:  the int32 dot of the quantized query with each key row
 *            (llm__neon_dot16 per 16 codes, four rows per load of the query,
 *            the last hs % 16 codes one at a time; exact in any order),
 *            then ((float)d * ks[t]) * c as the reference scales it;
 *   softmax: the reference's;
 *   output:  each out[i] summed over t from 0.0f in order, the product
 *            (att[t] * vs[t]) * (float)v[t][i] rounded before the add, as the
 *            reference does; sixteen outputs per pass over the positions,
 *            held in four vectors.
 * Cache rows may start anywhere (odd strides): NEON loads take any address,
 * and nothing past a row's hs codes is read. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include <math.h>
#include <stddef.h>

#include "vec_neon.h"

/* qq(hs) . kt(hs) in int32; hs16 = hs rounded down to 16. */
LLM_NEON_INLINE int32_t dot_tail(int32x4_t acc, const int8_t *qq, const int8_t *kt, size_t hs16,
                                 size_t hs) {
    int32_t d = vaddvq_s32(acc);
    for (size_t i = hs16; i < hs; i++) d += (int32_t)qq[i] * kt[i];
    return d;
}

/* att(n_pos) = the scaled scores. */
static void scores(float *att, const int8_t *qq, float c, const int8_t *k, const uint16_t *ks,
                   size_t n_pos, size_t hs, size_t stride, size_t sstride) {
    const size_t hs16 = hs - hs % 16u;
    size_t t = 0;
    for (; t + 4 <= n_pos; t += 4) {
        const int8_t *k0 = k + t * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
        int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < hs16; i += 16) {
            const int8x16_t qv = vld1q_s8(qq + i);
            a0 = llm__neon_dot16(a0, vld1q_s8(k0 + i), qv);
            a1 = llm__neon_dot16(a1, vld1q_s8(k1 + i), qv);
            a2 = llm__neon_dot16(a2, vld1q_s8(k2 + i), qv);
            a3 = llm__neon_dot16(a3, vld1q_s8(k3 + i), qv);
        }
        int32x4_t d = llm__neon_isum4x4(a0, a1, a2, a3);
        if (hs16 < hs) {
            int32_t tl[4] = {0, 0, 0, 0};
            for (size_t i = hs16; i < hs; i++) {
                tl[0] += (int32_t)qq[i] * k0[i];
                tl[1] += (int32_t)qq[i] * k1[i];
                tl[2] += (int32_t)qq[i] * k2[i];
                tl[3] += (int32_t)qq[i] * k3[i];
            }
            d = vaddq_s32(d, vld1q_s32(tl));
        }
        const float32x4_t s = llm__neon_bf16x4(ks[t * sstride], ks[(t + 1) * sstride],
                                               ks[(t + 2) * sstride], ks[(t + 3) * sstride]);
        vst1q_f32(att + t, vmulq_n_f32(vmulq_f32(vcvtq_f32_s32(d), s), c));
    }
    for (; t < n_pos; t++) {
        const int8_t *kt = k + t * stride;
        int32x4_t a = vdupq_n_s32(0);
        for (size_t i = 0; i < hs16; i += 16) a = llm__neon_dot16(a, vld1q_s8(kt + i), vld1q_s8(qq + i));
        const int32_t d = dot_tail(a, qq, kt, hs16, hs);
        att[t] = ((float)d * llm_bf16_to_f32(ks[t * sstride])) * c;
    }
}

/* (float) of the 16 int8 codes at p: four vectors, in order. */
LLM_NEON_INLINE void codes_f32(float32x4_t f[4], const int8_t *p) {
    const int8x16_t b = vld1q_s8(p);
    const int16x8_t lo = vmovl_s8(vget_low_s8(b)), hi = vmovl_high_s8(b);
    f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    f[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
    f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    f[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

/* out(hs) = sum_t softmax(scores)[t] * vs[t] * v[t]; arguments and ranges
 * as llm_ref_attention_q8 (kernels.h): k, v (n_pos, stride) int8, ks, vs
 * (n_pos, sstride) bf16, qq(hs) with scale qs; n_pos >= 1, 1 <= hs <=
 * stride; att (n_pos) scratch, holds the weights on return. */
void llm_neon_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                           const uint16_t *ks, const int8_t *v, const uint16_t *vs,
                           uint32_t n_pos, uint32_t hs, uint32_t stride, uint32_t sstride,
                           float *att) {
    const float c = qs / sqrtf((float)hs);
    scores(att, qq, c, k, ks, n_pos, hs, stride, sstride);
    llm_ref_softmax(att, n_pos);
    size_t i = 0;
    for (; i + 16 <= hs; i += 16) {
        float32x4_t o0 = vdupq_n_f32(0.0f), o1 = o0, o2 = o0, o3 = o0;
        for (size_t t = 0; t < n_pos; t++) {
            const float a = att[t] * llm_bf16_to_f32(vs[t * sstride]);
            float32x4_t f[4];
            codes_f32(f, v + t * stride + i);
            o0 = vaddq_f32(o0, vmulq_n_f32(f[0], a));
            o1 = vaddq_f32(o1, vmulq_n_f32(f[1], a));
            o2 = vaddq_f32(o2, vmulq_n_f32(f[2], a));
            o3 = vaddq_f32(o3, vmulq_n_f32(f[3], a));
        }
        vst1q_f32(out + i, o0);
        vst1q_f32(out + i + 4, o1);
        vst1q_f32(out + i + 8, o2);
        vst1q_f32(out + i + 12, o3);
    }
    if (i < hs) { /* the last hs % 16 outputs, scalar, still in t order */
        for (size_t j = i; j < hs; j++) out[j] = 0.0f;
        for (size_t t = 0; t < n_pos; t++) {
            const int8_t *vt = v + t * stride;
            const float a = att[t] * llm_bf16_to_f32(vs[t * sstride]);
            for (size_t j = i; j < hs; j++) out[j] += a * (float)vt[j];
        }
    }
}

#else
typedef int llm_neon_attention_q8_unused; /* ISO C wants a declaration per file */
#endif
