/* x86-64 SwiGLU with AVX2, in the reference's operations (llm_ref_swiglu):
 * v * (1 / (1 + e^-v)) * hb2 per element, e^x as llm__expf (expf_x86.h),
 * 8 at a time: results equal the reference bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <immintrin.h>
#include <stddef.h>

#include "../ref/expf.h"
#include "expf_x86.h"

__attribute__((target("avx2,fma"))) static void swiglu_avx2(float *hb, const float *hb2,
                                                            uint32_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(hb + i);
        const __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, expf8(_mm256_xor_ps(v, sign))));
        _mm256_storeu_ps(hb + i, _mm256_mul_ps(_mm256_mul_ps(v, s), _mm256_loadu_ps(hb2 + i)));
    }
    for (; i < n; i++) {
        float val = hb[i];
        val *= (1.0f / (1.0f + llm__expf(-val)));
        hb[i] = val * hb2[i];
    }
}

void llm_x86_swiglu(float *hb, const float *hb2, uint32_t n) {
    if (llm_x86_simd()) {
        swiglu_avx2(hb, hb2, n);
    } else {
        llm_ref_swiglu(hb, hb2, n);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
