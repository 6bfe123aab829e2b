/* Cortex-M4F/M7/M33 int8 mat-vec (q8 weights) with the DSP extension: per
 * word of four codes, each row's two SXTB16 and two SMLAD against the
 * activation word split once for four rows; the per-group float step is
 * llm_q_acc in the reference's order, so outputs equal the reference bit for
 * bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <stddef.h>

#include "dsp_cm4.h"

/* One instance per group size (GS codes, GS / 4 words), so the word loop has
 * a constant trip count. w rows (d, n_pad), x (n_pad), all word-aligned. */
#define CM4_Q8_ROWS(GS)                                                                        \
    static void cm4_q8_rows_##GS(float *out, const int8_t *w, const uint16_t *ws,              \
                                 const int8_t *xq, const float *xs, uint32_t d,                \
                                 uint32_t n_pad) {                                             \
        const uint32_t ng = n_pad / (GS), rw = n_pad / 4u; /* groups, words per row */         \
        const uint32_t *x = (const uint32_t *)(const void *)xq;                                \
        const uint32_t *wr = (const uint32_t *)(const void *)w;                                \
        uint32_t i = 0;                                                                        \
        for (; i + 4u <= d; i += 4u) {                                                         \
            const uint32_t *w0 = wr + (size_t)i * rw, *w1 = w0 + rw, *w2 = w1 + rw,            \
                           *w3 = w2 + rw;                                                      \
            const uint16_t *s0 = ws + (size_t)i * ng, *s1 = s0 + ng, *s2 = s1 + ng,            \
                           *s3 = s2 + ng;                                                      \
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                  \
            const uint32_t *xg = x;                                                            \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                        \
                for (uint32_t k = 0; k < (GS) / 4u; k++) {                                     \
                    const uint32_t xv = xg[k];                                                 \
                    const int32_t xe = llm__sx02(xv), xo = llm__sx13(xv);                      \
                    const uint32_t v0 = w0[k], v1 = w1[k], v2 = w2[k], v3 = w3[k];             \
                    d0 = llm__smlad(llm__sx02(v0), xe, d0);                                    \
                    d0 = llm__smlad(llm__sx13(v0), xo, d0);                                    \
                    d1 = llm__smlad(llm__sx02(v1), xe, d1);                                    \
                    d1 = llm__smlad(llm__sx13(v1), xo, d1);                                    \
                    d2 = llm__smlad(llm__sx02(v2), xe, d2);                                    \
                    d2 = llm__smlad(llm__sx13(v2), xo, d2);                                    \
                    d3 = llm__smlad(llm__sx02(v3), xe, d3);                                    \
                    d3 = llm__smlad(llm__sx13(v3), xo, d3);                                    \
                }                                                                              \
                xg += (GS) / 4u;                                                               \
                w0 += (GS) / 4u;                                                               \
                w1 += (GS) / 4u;                                                               \
                w2 += (GS) / 4u;                                                               \
                w3 += (GS) / 4u;                                                               \
                a0 = llm_q_acc(a0, d0, s0[g], xs[g]);                                          \
                a1 = llm_q_acc(a1, d1, s1[g], xs[g]);                                          \
                a2 = llm_q_acc(a2, d2, s2[g], xs[g]);                                          \
                a3 = llm_q_acc(a3, d3, s3[g], xs[g]);                                          \
            }                                                                                  \
            out[i] = a0;                                                                       \
            out[i + 1] = a1;                                                                   \
            out[i + 2] = a2;                                                                   \
            out[i + 3] = a3;                                                                   \
        }                                                                                      \
        for (; i < d; i++) {                                                                   \
            const uint32_t *w0 = wr + (size_t)i * rw;                                          \
            const uint16_t *s0 = ws + (size_t)i * ng;                                          \
            float a0 = 0.0f;                                                                   \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                int32_t d0 = 0;                                                                \
                for (uint32_t k = 0; k < (GS) / 4u; k++) {                                     \
                    const uint32_t xv = x[g * ((GS) / 4u) + k], v0 = w0[g * ((GS) / 4u) + k];  \
                    d0 = llm__smlad(llm__sx02(v0), llm__sx02(xv), d0);                         \
                    d0 = llm__smlad(llm__sx13(v0), llm__sx13(xv), d0);                         \
                }                                                                              \
                a0 = llm_q_acc(a0, d0, s0[g], xs[g]);                                          \
            }                                                                                  \
            out[i] = a0;                                                                       \
        }                                                                                      \
    }

CM4_Q8_ROWS(16)
CM4_Q8_ROWS(32)
CM4_Q8_ROWS(64)
CM4_Q8_ROWS(128)
CM4_Q8_ROWS(256)

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q8 (gs an allowed group size,
 * n_pad a multiple of gs). Rows are n_pad bytes, a multiple of 16, so with
 * w and xq word-aligned every row is; otherwise the reference runs. */
void llm_cm4_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    if (!LLM__ALIGNED4(w) || !LLM__ALIGNED4(xq)) {
        llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
        return;
    }
    switch (gs) {
    case 16: cm4_q8_rows_16(out, w, ws, xq, xs, d, n_pad); break;
    case 32: cm4_q8_rows_32(out, w, ws, xq, xs, d, n_pad); break;
    case 64: cm4_q8_rows_64(out, w, ws, xq, xs, d, n_pad); break;
    case 128: cm4_q8_rows_128(out, w, ws, xq, xs, d, n_pad); break;
    default: cm4_q8_rows_256(out, w, ws, xq, xs, d, n_pad); break;
    }
}

#else
typedef int llm_cm4_matvec_q8_unused; /* ISO C wants a declaration per file */
#endif
