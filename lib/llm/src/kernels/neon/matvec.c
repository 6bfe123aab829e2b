/* AArch64 NEON float matrix-vector product. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include <stddef.h>

#include "vec_neon.h"

/* s + w[j..n) . x[j..n), one column at a time (the reference's tail). */
static inline float row_tail(float s, const float *w, const float *x, size_t j, size_t n) {
    for (; j < n; j++) s += w[j] * x[j];
    return s;
}

/* out(d) = w(d, n) @ x(n), w row-major; d, n >= 1; out must not alias w or x.
 * Each row keeps eight lanes (columns j % 8) in two vectors, as the
 * reference does with LLM_LANES 8, sums them by its tree and adds the last
 * n % 8 columns in order; four rows share each load of x. */
void llm_neon_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
    const size_t nb = n - n % 8u; /* columns in whole 8-lane blocks */
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const float *w0 = w + i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        float32x4_t l0 = vdupq_n_f32(0.0f), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0,
                    h3 = l0;
        for (size_t j = 0; j < nb; j += 8) {
            const float32x4_t xl = vld1q_f32(x + j), xh = vld1q_f32(x + j + 4);
            l0 = llm__neon_mla(l0, vld1q_f32(w0 + j), xl);
            h0 = llm__neon_mla(h0, vld1q_f32(w0 + j + 4), xh);
            l1 = llm__neon_mla(l1, vld1q_f32(w1 + j), xl);
            h1 = llm__neon_mla(h1, vld1q_f32(w1 + j + 4), xh);
            l2 = llm__neon_mla(l2, vld1q_f32(w2 + j), xl);
            h2 = llm__neon_mla(h2, vld1q_f32(w2 + j + 4), xh);
            l3 = llm__neon_mla(l3, vld1q_f32(w3 + j), xl);
            h3 = llm__neon_mla(h3, vld1q_f32(w3 + j + 4), xh);
        }
        out[i] = row_tail(llm__neon_sum8(l0, h0), w0, x, nb, n);
        out[i + 1] = row_tail(llm__neon_sum8(l1, h1), w1, x, nb, n);
        out[i + 2] = row_tail(llm__neon_sum8(l2, h2), w2, x, nb, n);
        out[i + 3] = row_tail(llm__neon_sum8(l3, h3), w3, x, nb, n);
    }
    for (; i < d; i++) {
        const float *w0 = w + i * n;
        float32x4_t l0 = vdupq_n_f32(0.0f), h0 = l0;
        for (size_t j = 0; j < nb; j += 8) {
            l0 = llm__neon_mla(l0, vld1q_f32(w0 + j), vld1q_f32(x + j));
            h0 = llm__neon_mla(h0, vld1q_f32(w0 + j + 4), vld1q_f32(x + j + 4));
        }
        out[i] = row_tail(llm__neon_sum8(l0, h0), w0, x, nb, n);
    }
}

#else
typedef int llm_neon_matvec_unused; /* ISO C wants a declaration per file */
#endif
