/* x86-64 single-head attention over a float cache with AVX2, in the
 * reference's order of operations (llm_ref_attention with LLM_LANES 8 and
 * 4 score lanes): each score is 4 lanes summed over the head in steps of 4,
 * a multiply then an add, the lanes as (0+1)+(2+3), divided by sqrt(hs);
 * eight positions share one pass (two per 256-bit vector). The weighted sum
 * of v keeps per 8 outputs four accumulators over positions t = 4m + r, the
 * leftover positions added to the first, combined as (0+1)+(2+3); outputs
 * past the last whole 8 are summed over t one at a time (4 lanes at once
 * where 4 remain). So results equal the reference bit for bit. Head sizes
 * not a multiple of 4 (the reference's plain loop) go to the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#include "../ref/ref.h"

#if LLM_LANES != 8
#error "the x86 fp32 kernels reproduce the reference's 8-lane sums (LLM_LANES 8, the x86-64 default)"
#endif

#define TARGET __attribute__((target("avx2,fma")))

/* att(n_pos) = k(n_pos, stride) @ q(hs) / sqrt(hs); hs % 4 == 0. */
TARGET static void scores(float *att, const float *q, const float *k, size_t n_pos, size_t hs,
                          size_t stride) {
    const float norm = sqrtf((float)hs);
    const __m256 nv = _mm256_set1_ps(norm);
    /* h lanes come out as positions (0 2 4 6 | 1 3 5 7). */
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t t = 0;
    for (; t + 8 <= n_pos; t += 8) {
        const float *k0 = k + t * stride;
        __m256 a[4]; /* a[m]: positions 2m (low half), 2m + 1 (high half) */
        for (int m = 0; m < 4; m++) a[m] = _mm256_setzero_ps();
        for (size_t i = 0; i < hs; i += 4) {
            const __m256 qv = _mm256_broadcast_ps((const __m128 *)(q + i));
            for (int m = 0; m < 4; m++) {
                const float *kr = k0 + 2 * m * stride + i;
                const __m256 kv = _mm256_loadu2_m128(kr + stride, kr);
                a[m] = _mm256_add_ps(a[m], _mm256_mul_ps(kv, qv));
            }
        }
        /* (t0: 01 23, t2: 01 23 | t1: .., t3: ..), then ((01)+(23)) per position. */
        const __m256 h =
            _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
        _mm256_storeu_ps(att + t, _mm256_div_ps(_mm256_permutevar8x32_ps(h, order), nv));
    }
    for (; t < n_pos; t++) {
        const float *kt = k + t * stride;
        __m128 a = _mm_setzero_ps();
        for (size_t i = 0; i < hs; i += 4) {
            a = _mm_add_ps(a, _mm_mul_ps(_mm_loadu_ps(kt + i), _mm_loadu_ps(q + i)));
        }
        const __m128 h = _mm_hadd_ps(_mm_hadd_ps(a, a), a);
        att[t] = _mm_cvtss_f32(h) / norm;
    }
}

/* out(hs) = sum_t att[t] * v[t]; v (n_pos, stride). */
TARGET static void weigh(float *out, const float *att, const float *v, size_t n_pos, size_t hs,
                         size_t stride) {
    const size_t n4 = n_pos - n_pos % 4;
    size_t i = 0;
    for (; i + 8 <= hs; i += 8) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t t = 0; t < n4; t += 4) {
            const float *v0 = v + t * stride + i;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(att[t]), _mm256_loadu_ps(v0)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_set1_ps(att[t + 1]),
                                                 _mm256_loadu_ps(v0 + stride)));
            a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_set1_ps(att[t + 2]),
                                                 _mm256_loadu_ps(v0 + 2 * stride)));
            a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_set1_ps(att[t + 3]),
                                                 _mm256_loadu_ps(v0 + 3 * stride)));
        }
        for (size_t t = n4; t < n_pos; t++) {
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(att[t]),
                                                 _mm256_loadu_ps(v + t * stride + i)));
        }
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
    for (; i + 4 <= hs; i += 4) {
        __m128 a = _mm_setzero_ps();
        for (size_t t = 0; t < n_pos; t++) {
            a = _mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(att[t]), _mm_loadu_ps(v + t * stride + i)));
        }
        _mm_storeu_ps(out + i, a);
    }
    for (; i < hs; i++) {
        float acc = 0.0f;
        for (size_t t = 0; t < n_pos; t++) acc += att[t] * v[t * stride + i];
        out[i] = acc;
    }
}

void llm_x86_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att) {
    if (!llm_x86_simd() || hs % 4 != 0) {
        llm_ref_attention(out, q, k, v, n_pos, hs, stride, att);
        return;
    }
    scores(att, q, k, n_pos, hs, stride);
    llm_x86__softmax_avx2(att, n_pos);
    weigh(out, att, v, n_pos, hs, stride);
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
