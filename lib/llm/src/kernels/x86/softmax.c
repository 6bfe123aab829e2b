/* x86-64 softmax with AVX2, in the reference's operations (llm_ref_softmax,
 * LLM_LANES 8; llm__expf): the maximum taken in 8 lanes, then across them
 * from x[0] as the reference does; e^(x - max) by llm__expf's exact steps, 8
 * at a time (its masks on the bits, its Cody-Waite split and degree-7
 * polynomial, each a multiply then an add); the sum in 8 lanes as the tree
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

TARGET void llm_x86__softmax_avx2(float *x, uint32_t n) {
    /* Maximum: 8 lanes from x[0], then across them, then the tail. */
    __m256 mv = _mm256_set1_ps(x[0]);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(_mm256_loadu_ps(x + i), mv);
    float mx[8];
    _mm256_storeu_ps(mx, mv);
    float m = x[0];
    for (int k = 0; k < 8; k++) m = mx[k] > m ? mx[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;

    const __m256 mb = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
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

void llm_x86_softmax(float *x, uint32_t n) {
    if (llm_x86_simd()) {
        llm_x86__softmax_avx2(x, n);
    } else {
        llm_ref_softmax(x, n);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
