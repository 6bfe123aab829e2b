/* llm__expf (ref/expf.h) for 8 floats with AVX2, step for step: its masks
 * on the bits, its Cody-Waite split and degree-7 polynomial, each a multiply
 * then an add (no fused multiply-add), so every lane equals llm__expf's
 * result bit for bit. */
#ifndef LLM_X86_EXPF_H
#define LLM_X86_EXPF_H

#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline __m256 expf8(__m256 x) {
    const __m256i u = _mm256_castps_si256(x);
    const __m256i mag = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    const __m256i neg = _mm256_srai_epi32(u, 31);
    const __m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7f800000));
    const __m256i under = _mm256_and_si256(neg, _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x42aeac50)));
    const __m256i over = _mm256_andnot_si256(
        _mm256_or_si256(neg, nan), _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x42b0c0a5)));
    const __m256i out_of_range = _mm256_or_si256(_mm256_or_si256(under, over), nan);
    const __m256 xc = _mm256_castsi256_ps(_mm256_andnot_si256(out_of_range, u));
    const __m256 t = _mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f));
    const __m256 half = _mm256_or_ps(_mm256_set1_ps(0.5f),
                                     _mm256_and_ps(t, _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u))));
    const __m256i n = _mm256_cvttps_epi32(_mm256_add_ps(t, half));
    const __m256 fn = _mm256_cvtepi32_ps(n);
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(xc, _mm256_mul_ps(fn, _mm256_set1_ps(0.693359375f))),
                                   _mm256_mul_ps(fn, _mm256_set1_ps(-2.12194440e-4f)));
    static const float c[7] = {1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f,
                               0.5f,          1.0f,          1.0f};
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    for (int k = 0; k < 7; k++) p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c[k]));
    const __m256 scale = _mm256_castsi256_ps(
        _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
    const __m256i yb = _mm256_castps_si256(_mm256_mul_ps(p, scale));
    const __m256i keep = _mm256_andnot_si256(out_of_range, yb);
    const __m256i inf = _mm256_and_si256(over, _mm256_set1_epi32(0x7f800000));
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_or_si256(keep, inf), _mm256_and_si256(u, nan)));
}

#endif /* LLM_X86_EXPF_H */
