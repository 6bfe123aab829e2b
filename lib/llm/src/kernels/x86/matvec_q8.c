/* x86-64 int8 mat-vec (q8 weights) with AVX2: four rows share each 32-byte
 * load of the activation quants; each group's four int32 dots (exact) are
 * then combined as llm_q_acc does, lane r being row r: scale = ws * xs,
 * acc + (float)isum * scale, a multiply then an add, groups in order. So
 * outputs equal the reference bit for bit. Rows past d in the last block
 * repeat the last row and are not stored. Large matrices prefetch the next
 * 4-row block. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <stddef.h>

#include "qdot.h"

/* acc(4 rows) = llm_q_acc(acc, isum, s_r[g], xs) per lane. */
LLM_X86_TARGET static inline __m128 q_acc4(__m128 acc, __m128i isum, const uint16_t *const s[4],
                                           uint32_t g, float xs) {
    const __m128 scale =
        _mm_mul_ps(llm_x86_bf16x4(s[0][g], s[1][g], s[2][g], s[3][g]), _mm_set1_ps(xs));
    return _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(isum), scale));
}

LLM_X86_TARGET static void matvec_q8_avx2(float *out, const int8_t *w, const uint16_t *ws,
                                          const int8_t *xq, const float *xs, uint32_t d,
                                          uint32_t n_pad, uint32_t gs) {
    const uint32_t ng = n_pad / gs;
    /* The next block's bytes to fetch per group (0: small matrix). */
    const size_t pf_block = (size_t)d * n_pad >= LLM_X86_PREFETCH_MIN_BYTES ? 4 * (size_t)gs : 0;
    for (uint32_t i = 0; i < d; i += 4) {
        const int more = i + 8 <= d;                          /* a whole next block */
        const int8_t *next = more ? w + (size_t)(i + 4) * n_pad : w; /* (4, n_pad) */
        const size_t pf = more ? pf_block : 0;
        const int8_t *r[4];
        const uint16_t *s[4];
        for (uint32_t k = 0; k < 4; k++) {
            const size_t row = i + k < d ? i + k : d - 1;
            r[k] = w + row * n_pad;
            s[k] = ws + row * ng;
        }
        __m128 acc = _mm_setzero_ps();
        uint32_t g = 0;
        if (gs == 16) { /* two groups per 32 bytes: one per 128-bit half */
            for (; g + 2 <= ng; g += 2) {
                const size_t o = (size_t)g * 16;
                const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + o));
                __m256i a[4];
                for (int k = 0; k < 4; k++) {
                    a[k] = llm_x86_dot_s8(_mm256_loadu_si256((const __m256i *)(r[k] + o)), x);
                }
                llm_x86_prefetch(next + 4 * o, 2 * pf);
                const __m256i h = llm_x86_sum4_halves(a[0], a[1], a[2], a[3]);
                acc = q_acc4(acc, _mm256_castsi256_si128(h), s, g, xs[g]);
                acc = q_acc4(acc, _mm256_extracti128_si256(h, 1), s, g + 1, xs[g + 1]);
            }
            if (g < ng) { /* an odd last group: 16 bytes, upper half zero */
                const size_t o = (size_t)g * 16;
                const __m256i x =
                    _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(xq + o)));
                __m256i a[4];
                for (int k = 0; k < 4; k++) {
                    const __m256i wv =
                        _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(r[k] + o)));
                    a[k] = llm_x86_dot_s8(wv, x);
                }
                acc = q_acc4(acc, llm_x86_sum4(a[0], a[1], a[2], a[3]), s, g, xs[g]);
            }
        } else {
            for (; g < ng; g++) {
                const size_t o0 = (size_t)g * gs;
                __m256i a[4];
                for (int k = 0; k < 4; k++) a[k] = _mm256_setzero_si256();
                llm_x86_prefetch(next + 4 * o0, pf);
                for (size_t o = o0; o < o0 + gs; o += 32) {
                    const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + o));
                    for (int k = 0; k < 4; k++) {
                        const __m256i wv = _mm256_loadu_si256((const __m256i *)(r[k] + o));
                        a[k] = _mm256_add_epi32(a[k], llm_x86_dot_s8(wv, x));
                    }
                }
                acc = q_acc4(acc, llm_x86_sum4(a[0], a[1], a[2], a[3]), s, g, xs[g]);
            }
        }
        float o4[4];
        _mm_storeu_ps(o4, acc);
        for (uint32_t k = 0; k < 4 && i + k < d; k++) out[i + k] = o4[k];
    }
}

void llm_x86_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    if (llm_x86_simd()) {
        matvec_q8_avx2(out, w, ws, xq, xs, d, n_pad, gs);
    } else {
        llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
