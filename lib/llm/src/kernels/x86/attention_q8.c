/* x86-64 single-head attention over an int8 cache with AVX2, in the
 * reference's order of operations (llm_ref_attention_q8): each score's int32
 * dot is exact in any order (32, 16, then 8 bytes at a time, the rest one by
 * one); the float steps are the reference's, ((float)d * ks) * c, then
 * softmax; the weighted sum keeps each output's sum over positions in order,
 * eight outputs per vector, with (att[t] * vs[t]) computed once per
 * position. So results equal the reference bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <math.h>
#include <stddef.h>

#include "qdot.h"

/* qq(hs) . kt(hs), int8 both, reading no byte past hs. */
LLM_X86_TARGET static inline int32_t dot_s8(const int8_t *qq, const int8_t *kt, size_t hs) {
    __m256i a = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= hs; i += 32) {
        a = _mm256_add_epi32(a, llm_x86_dot_s8(_mm256_loadu_si256((const __m256i *)(kt + i)),
                                               _mm256_loadu_si256((const __m256i *)(qq + i))));
    }
    if (i + 16 <= hs) {
        const __m256i kv = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(kt + i)));
        const __m256i qv = _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(qq + i)));
        a = _mm256_add_epi32(a, llm_x86_dot_s8(kv, qv));
        i += 16;
    }
    if (i + 8 <= hs) {
        const __m256i kv = _mm256_zextsi128_si256(_mm_loadl_epi64((const __m128i *)(kt + i)));
        const __m256i qv = _mm256_zextsi128_si256(_mm_loadl_epi64((const __m128i *)(qq + i)));
        a = _mm256_add_epi32(a, llm_x86_dot_s8(kv, qv));
        i += 8;
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    int32_t d = _mm_cvtsi128_si32(s);
    for (; i < hs; i++) d += (int32_t)qq[i] * kt[i];
    return d;
}

LLM_X86_TARGET static void attention_q8_avx2(float *out, const int8_t *qq, float qs,
                                             const int8_t *k, const uint16_t *ks,
                                             const int8_t *v, const uint16_t *vs, size_t n_pos,
                                             size_t hs, size_t stride, size_t sstride,
                                             float *att) {
    const float c = qs / sqrtf((float)hs);
    for (size_t t = 0; t < n_pos; t++) {
        const int32_t d = dot_s8(qq, k + t * stride, hs);
        att[t] = ((float)d * llm_bf16_to_f32(ks[t * sstride])) * c;
    }
    llm_x86__softmax_avx2(att, (uint32_t)n_pos);
    /* att[t] becomes the weight of v[t]'s codes. */
    for (size_t t = 0; t < n_pos; t++) att[t] = att[t] * llm_bf16_to_f32(vs[t * sstride]);
    size_t i = 0;
    for (; i + 8 <= hs; i += 8) {
        __m256 a = _mm256_setzero_ps();
        for (size_t t = 0; t < n_pos; t++) {
            const __m128i b = _mm_loadl_epi64((const __m128i *)(v + t * stride + i));
            const __m256 vf = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
            a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(att[t]), vf));
        }
        _mm256_storeu_ps(out + i, a);
    }
    for (; i < hs; i++) {
        float a = 0.0f;
        for (size_t t = 0; t < n_pos; t++) a += att[t] * (float)v[t * stride + i];
        out[i] = a;
    }
}

void llm_x86_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                          const uint16_t *ks, const int8_t *v, const uint16_t *vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *att) {
    if (llm_x86_simd()) {
        attention_q8_avx2(out, qq, qs, k, ks, v, vs, n_pos, hs, stride, sstride, att);
    } else {
        llm_ref_attention_q8(out, qq, qs, k, ks, v, vs, n_pos, hs, stride, sstride, att);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
