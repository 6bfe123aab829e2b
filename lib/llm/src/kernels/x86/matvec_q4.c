/* x86-64 int4 mat-vec (q4 weights) with AVX2: each llm_q4x32 unit (16
 * bytes) becomes its 32 codes in order, low nibbles then high nibbles,
 * multiplied by 32 activation quants as unsigned-by-signed byte pairs; four
 * rows share each load of x. Each group's four int32 dots (exact) are then
 * combined as llm_q4_acc does, lane r being row r, groups in order, with no
 * fused multiply-add: outputs equal the reference bit for bit. With gs 16 a
 * unit's halves are groups 2u and 2u + 1. Rows past d in the last block
 * repeat the last row and are not stored. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <stddef.h>

#include "qdot.h"

/* The 32 codes of the unit at b: codes 0..15 | codes 16..31. */
LLM_X86_TARGET static inline __m256i unpack_unit(const uint8_t *b) {
    const __m128i v = _mm_loadu_si128((const __m128i *)b);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* acc(4 rows) = llm_q4_acc(acc, isum, xsum, p_r + 2g, xs) per lane. */
LLM_X86_TARGET static inline __m128 q4_acc4(__m128 acc, __m128i isum, int32_t xsum,
                                            const uint16_t *const p[4], uint32_t g, float xs) {
    const __m128 x = _mm_set1_ps(xs);
    const size_t s = 2 * (size_t)g;
    const __m128 scale = _mm_mul_ps(llm_x86_bf16x4(p[0][s], p[1][s], p[2][s], p[3][s]), x);
    const __m128 offset =
        _mm_mul_ps(llm_x86_bf16x4(p[0][s + 1], p[1][s + 1], p[2][s + 1], p[3][s + 1]), x);
    const __m128 group = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(isum), scale),
                                    _mm_mul_ps(_mm_set1_ps((float)xsum), offset));
    return _mm_add_ps(acc, group);
}

LLM_X86_TARGET static void matvec_q4_avx2(float *out, const uint8_t *w, const uint16_t *wp,
                                          const int8_t *xq, const float *xs,
                                          const int32_t *xsum, uint32_t d, uint32_t n_pad,
                                          uint32_t gs) {
    const uint32_t ng = n_pad / gs;
    const size_t rb = n_pad / 2;
    /* The next block's bytes to fetch per group (0: small matrix). */
    const size_t pf_block = (size_t)d * rb >= LLM_X86_PREFETCH_MIN_BYTES ? 2 * (size_t)gs : 0;
    for (uint32_t i = 0; i < d; i += 4) {
        const int more = i + 8 <= d;                          /* a whole next block */
        const uint8_t *next = more ? w + (size_t)(i + 4) * rb : w; /* (4, rb) */
        const size_t pf = more ? pf_block : 0;
        const uint8_t *r[4];
        const uint16_t *p[4];
        for (uint32_t k = 0; k < 4; k++) {
            const size_t row = i + k < d ? i + k : d - 1;
            r[k] = w + row * rb;
            p[k] = wp + row * ng * 2;
        }
        __m128 acc = _mm_setzero_ps();
        if (gs == 16) { /* one unit per two groups, one group per 128-bit half */
            for (uint32_t g = 0; g < ng; g += 2) {
                const size_t o = (size_t)g * 16;
                const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + o));
                __m256i a[4];
                for (int k = 0; k < 4; k++) a[k] = llm_x86_dot_u4(unpack_unit(r[k] + o / 2), x);
                llm_x86_prefetch(next + 2 * o, 2 * pf);
                const __m256i h = llm_x86_sum4_halves(a[0], a[1], a[2], a[3]);
                acc = q4_acc4(acc, _mm256_castsi256_si128(h), xsum[g], p, g, xs[g]);
                acc = q4_acc4(acc, _mm256_extracti128_si256(h, 1), xsum[g + 1], p, g + 1,
                              xs[g + 1]);
            }
        } else {
            for (uint32_t g = 0; g < ng; g++) {
                const size_t o0 = (size_t)g * gs;
                __m256i a[4];
                for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_si256();
                llm_x86_prefetch(next + 2 * o0, pf);
                for (size_t o = o0; o < o0 + gs; o += 32) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + o));
                    for (int k = 0; k < 4; k++) {
                        a[k] = _mm256_add_epi32(a[k], llm_x86_dot_u4(unpack_unit(r[k] + o / 2), x));
                    }
                }
                acc = q4_acc4(acc, llm_x86_sum4(a[0], a[1], a[2], a[3]), xsum[g], p, g, xs[g]);
            }
        }
        float o4[4];
        _mm_storeu_ps(o4, acc);
        for (uint32_t k = 0; k < 4 && i + k < d; k++) out[i + k] = o4[k];
    }
}

void llm_x86_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs) {
    if (llm_x86_simd()) {
        matvec_q4_avx2(out, w, wp, xq, xs, xsum, d, n_pad, gs);
    } else {
        llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, gs);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
