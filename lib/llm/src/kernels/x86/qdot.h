/* int8 dot-product steps shared by the x86 q8 / q4 mat-vecs and the int8
 * attention (AVX2). Every sum is exact int32: codes and quants are within
 * -127..127 (q4 codes 0..15), so a VPMADDUBSW pair sum is at most
 * 2 * 127 * 127 = 32258 and never saturates. */
#ifndef LLM_X86_QDOT_H
#define LLM_X86_QDOT_H

#include <immintrin.h>
#include <stddef.h>

#include "../kernels.h"

#define LLM_X86_TARGET __attribute__((target("avx2,fma")))

/* 8 int32 partial sums of w(32) * x(32), signed int8 both (-127..127):
 * |w| times x with w's sign, as unsigned-by-signed pairs, then pairs of
 * pairs. Lanes 0..3 hold bytes 0..15, lanes 4..7 bytes 16..31. */
LLM_X86_TARGET static inline __m256i llm_x86_dot_s8(__m256i w, __m256i x) {
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* The same for unsigned codes c(32) 0..15 times signed x(32). */
LLM_X86_TARGET static inline __m256i llm_x86_dot_u4(__m256i c, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(c, x), _mm256_set1_epi16(1));
}

/* Per 128-bit half, the sums of four rows' accumulators:
 * (r0, r1, r2, r3) of bytes 0..15 | (r0, r1, r2, r3) of bytes 16..31. */
LLM_X86_TARGET static inline __m256i llm_x86_sum4_halves(__m256i a0, __m256i a1, __m256i a2,
                                                         __m256i a3) {
    return _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
}

/* (r0, r1, r2, r3): whole sums of four rows' accumulators. */
LLM_X86_TARGET static inline __m128i llm_x86_sum4(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
    const __m256i h = llm_x86_sum4_halves(a0, a1, a2, a3);
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* bf16 bits to float for four values. */
LLM_X86_TARGET static inline __m128 llm_x86_bf16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    return _mm_castsi128_ps(_mm_set_epi32((int)((uint32_t)d << 16), (int)((uint32_t)c << 16),
                                          (int)((uint32_t)b << 16), (int)((uint32_t)a << 16)));
}

/* Ask for bytes [p, p + n) (n a multiple of 64 or less than 64) in the
 * cache: the mat-vecs read four rows in four interleaved streams, which the
 * hardware prefetcher follows badly once the matrix is outside the cache, so
 * large matrices fetch the next block of rows (contiguous) as they go. */
LLM_X86_TARGET static inline void llm_x86_prefetch(const void *p, size_t n) {
    for (size_t o = 0; o < n; o += 64) _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* Matrices of at least this many bytes (256 KB) are taken to come from
 * beyond the L2 cache: their mat-vecs prefetch the next block of rows. */
#define LLM_X86_PREFETCH_MIN_BYTES (256U * 1024U)

#endif /* LLM_X86_QDOT_H */
