/* Reference float matrix-vector product. */
#include <stddef.h>

#include "../kernels.h"
#include "ref.h"

/* Sum of the lane partial sums, then the row's tail, in a fixed order. */
static inline float finish_row(const float acc[LLM_LANES], const float *w, const float *x,
                               size_t j, size_t n) {
    float s = llm__lane_sum(acc, LLM_LANES);
    for (; j < n; j++) s += w[j] * x[j];
    return s;
}

/* out(d) = w(d, n) @ x(n), w row-major; any d, n. Four rows share each load
 * of x; a row gets the same bits whether it falls in a 4-row block or the
 * tail. out must not alias w or x. */
void llm_ref_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
    /* size_t indices spare 64-bit hosts a widening per load. */
    const size_t nb = n - n % LLM_LANES; /* columns covered by whole lane blocks */
    size_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const float *w0 = w + i * n;
        const float *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
        float a0[LLM_LANES] = {0}, a1[LLM_LANES] = {0}, a2[LLM_LANES] = {0}, a3[LLM_LANES] = {0};
        for (size_t j = 0; j < nb; j += LLM_LANES) {
            LLM_LANE_LOOP (size_t k = 0; k < LLM_LANES; k++) {
                const float xv = x[j + k];
                a0[k] += w0[j + k] * xv;
                a1[k] += w1[j + k] * xv;
                a2[k] += w2[j + k] * xv;
                a3[k] += w3[j + k] * xv;
            }
        }
        out[i] = finish_row(a0, w0, x, nb, n);
        out[i + 1] = finish_row(a1, w1, x, nb, n);
        out[i + 2] = finish_row(a2, w2, x, nb, n);
        out[i + 3] = finish_row(a3, w3, x, nb, n);
    }
    for (; i < d; i++) {
        const float *w0 = w + i * n;
        float a0[LLM_LANES] = {0};
        for (size_t j = 0; j < nb; j += LLM_LANES) {
            LLM_LANE_LOOP (size_t k = 0; k < LLM_LANES; k++) a0[k] += w0[j + k] * x[j + k];
        }
        out[i] = finish_row(a0, w0, x, nb, n);
    }
}
