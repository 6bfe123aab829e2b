/* Cortex-M55 int8 mat-vec (q8 weights) with Helium: one VMLADAVA.S8 per 16
 * codes, four rows sharing each load of x; the float combination per group
 * is the reference's (llm_q_acc), so outputs equal it bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <arm_mve.h>
#include <stddef.h>

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q8; rows and groups are whole
 * multiples of 16 codes, so no tail predication is needed. */
void llm_cm55_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    const uint32_t ng = n_pad / gs;
    uint32_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const int8_t *w0 = w + (size_t)i * n_pad, *w1 = w0 + n_pad, *w2 = w1 + n_pad,
                     *w3 = w2 + n_pad;
        const uint16_t *s0 = ws + (size_t)i * ng, *s1 = s0 + ng, *s2 = s1 + ng, *s3 = s2 + ng;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
            for (uint32_t j = g * gs; j < (g + 1) * gs; j += 16) {
                const int8x16_t xv = vld1q_s8(xq + j);
                d0 = vmladavaq_s8(d0, vld1q_s8(w0 + j), xv);
                d1 = vmladavaq_s8(d1, vld1q_s8(w1 + j), xv);
                d2 = vmladavaq_s8(d2, vld1q_s8(w2 + j), xv);
                d3 = vmladavaq_s8(d3, vld1q_s8(w3 + j), xv);
            }
            a0 = llm_q_acc(a0, d0, s0[g], xs[g]);
            a1 = llm_q_acc(a1, d1, s1[g], xs[g]);
            a2 = llm_q_acc(a2, d2, s2[g], xs[g]);
            a3 = llm_q_acc(a3, d3, s3[g], xs[g]);
        }
        out[i] = a0;
        out[i + 1] = a1;
        out[i + 2] = a2;
        out[i + 3] = a3;
    }
    for (; i < d; i++) {
        const int8_t *w0 = w + (size_t)i * n_pad;
        const uint16_t *s0 = ws + (size_t)i * ng;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0;
            for (uint32_t j = g * gs; j < (g + 1) * gs; j += 16) {
                d0 = vmladavaq_s8(d0, vld1q_s8(w0 + j), vld1q_s8(xq + j));
            }
            a0 = llm_q_acc(a0, d0, s0[g], xs[g]);
        }
        out[i] = a0;
    }
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
