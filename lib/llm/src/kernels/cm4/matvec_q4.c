/* Cortex-M4F/M7/M33 int4 mat-vec (q4 weights) with the DSP extension. A
 * word of a llm_q4x32 unit holds codes 4k..4k+3 in its low nibbles and
 * 16+4k..16+4k+3 in its high nibbles: one mask (and one shifted mask) gives
 * four codes per byte, UXTB16 puts codes 0 and 2 / 1 and 3 into 16-bit lanes,
 * and SMLAD multiplies them with the activation word split the same way.
 * The per-group float step is llm_q4_acc in the reference's order: outputs
 * equal the reference bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <stddef.h>

#include "dsp_cm4.h"

#define NIB 0x0F0F0F0Fu

/* d + the dot product of one unit's word k of codes (nibbles of v, low for
 * lo, high for hi) with the activation words xl (codes 4k..) and xh
 * (codes 16+4k..); xl/xh pre-split into (bytes 0, 2) and (bytes 1, 3). */
static inline int32_t unit_word(int32_t d, uint32_t v, int32_t xle, int32_t xlo, int32_t xhe,
                                int32_t xho) {
    const uint32_t lo = v & NIB, hi = (v >> 4) & NIB;
    d = llm__smlad(llm__ux02(lo), xle, d);
    d = llm__smlad(llm__ux13(lo), xlo, d);
    d = llm__smlad(llm__ux02(hi), xhe, d);
    return llm__smlad(llm__ux13(hi), xho, d);
}

/* Groups of GS >= 32 codes (GS / 32 whole units), four rows per pass; w rows
 * of rw words (n_pad / 8), x of n_pad bytes, word-aligned. */
#define CM4_Q4_ROWS(GS)                                                                        \
    static void cm4_q4_rows_##GS(float *out, const uint8_t *w, const uint16_t *wp,             \
                                 const int8_t *xq, const float *xs, const int32_t *xsum,       \
                                 uint32_t d, uint32_t n_pad) {                                 \
        const uint32_t ng = n_pad / (GS), rw = n_pad / 8u;                                     \
        const uint32_t *x = (const uint32_t *)(const void *)xq;                                \
        const uint32_t *wr = (const uint32_t *)(const void *)w;                                \
        uint32_t i = 0;                                                                        \
        for (; i + 4u <= d; i += 4u) {                                                         \
            const uint32_t *w0 = wr + (size_t)i * rw;                                          \
            const uint16_t *p0 = wp + (size_t)i * ng * 2u, *p1 = p0 + 2u * ng,                 \
                           *p2 = p1 + 2u * ng, *p3 = p2 + 2u * ng;                             \
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                  \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                        \
                for (uint32_t u = 0; u < (GS) / 32u; u++) {                                    \
                    const uint32_t *xu = x + (g * ((GS) / 32u) + u) * 8u; /* (8) words */      \
                    const uint32_t *wu = w0 + (g * ((GS) / 32u) + u) * 4u; /* (4) words */     \
                    for (uint32_t k = 0; k < 4u; k++) {                                        \
                        const uint32_t xl = xu[k], xh = xu[4u + k];                            \
                        const int32_t xle = llm__sx02(xl), xlo = llm__sx13(xl);                \
                        const int32_t xhe = llm__sx02(xh), xho = llm__sx13(xh);                \
                        d0 = unit_word(d0, wu[k], xle, xlo, xhe, xho);                         \
                        d1 = unit_word(d1, wu[rw + k], xle, xlo, xhe, xho);                    \
                        d2 = unit_word(d2, wu[2u * rw + k], xle, xlo, xhe, xho);               \
                        d3 = unit_word(d3, wu[3u * rw + k], xle, xlo, xhe, xho);               \
                    }                                                                          \
                }                                                                              \
                a0 = llm__cm4_q4_acc(a0, d0, xsum[g], p0 + 2u * g, xs[g]);                     \
                a1 = llm__cm4_q4_acc(a1, d1, xsum[g], p1 + 2u * g, xs[g]);                     \
                a2 = llm__cm4_q4_acc(a2, d2, xsum[g], p2 + 2u * g, xs[g]);                     \
                a3 = llm__cm4_q4_acc(a3, d3, xsum[g], p3 + 2u * g, xs[g]);                     \
            }                                                                                  \
            out[i] = a0;                                                                       \
            out[i + 1] = a1;                                                                   \
            out[i + 2] = a2;                                                                   \
            out[i + 3] = a3;                                                                   \
        }                                                                                      \
        for (; i < d; i++) {                                                                   \
            const uint32_t *w0 = wr + (size_t)i * rw;                                          \
            const uint16_t *p0 = wp + (size_t)i * ng * 2u;                                     \
            float a0 = 0.0f;                                                                   \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                int32_t d0 = 0;                                                                \
                for (uint32_t u = 0; u < (GS) / 32u; u++) {                                    \
                    const uint32_t *xu = x + (g * ((GS) / 32u) + u) * 8u;                      \
                    const uint32_t *wu = w0 + (g * ((GS) / 32u) + u) * 4u;                     \
                    for (uint32_t k = 0; k < 4u; k++) {                                        \
                        const uint32_t xl = xu[k], xh = xu[4u + k];                            \
                        d0 = unit_word(d0, wu[k], llm__sx02(xl), llm__sx13(xl), llm__sx02(xh), \
                                       llm__sx13(xh));                                         \
                    }                                                                          \
                }                                                                              \
                a0 = llm__cm4_q4_acc(a0, d0, xsum[g], p0 + 2u * g, xs[g]);                     \
            }                                                                                  \
            out[i] = a0;                                                                       \
        }                                                                                      \
    }

CM4_Q4_ROWS(32)
CM4_Q4_ROWS(64)
CM4_Q4_ROWS(128)
CM4_Q4_ROWS(256)

/* gs 16: unit u holds group 2u in its low nibbles and 2u + 1 in its high
 * nibbles; one row at a time, each unit's two sums kept apart. */
static void cm4_q4_rows_16(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                           const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad) {
    const uint32_t ng = n_pad / 16u, rw = n_pad / 8u;
    const uint32_t *x = (const uint32_t *)(const void *)xq;
    const uint32_t *wr = (const uint32_t *)(const void *)w;
    for (uint32_t i = 0; i < d; i++) {
        const uint32_t *w0 = wr + (size_t)i * rw;      /* (rw) */
        const uint16_t *p0 = wp + (size_t)i * ng * 2u; /* (ng, 2) */
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g += 2u) {
            const uint32_t *xu = x + g * 4u, *wu = w0 + g * 2u; /* (8), (4) words */
            int32_t lo = 0, hi = 0;
            for (uint32_t k = 0; k < 4u; k++) {
                const uint32_t v = wu[k], l = v & NIB, h = (v >> 4) & NIB;
                const uint32_t xl = xu[k], xh = xu[4u + k];
                lo = llm__smlad(llm__ux02(l), llm__sx02(xl), lo);
                lo = llm__smlad(llm__ux13(l), llm__sx13(xl), lo);
                hi = llm__smlad(llm__ux02(h), llm__sx02(xh), hi);
                hi = llm__smlad(llm__ux13(h), llm__sx13(xh), hi);
            }
            a0 = llm__cm4_q4_acc(a0, lo, xsum[g], p0 + 2u * g, xs[g]);
            a0 = llm__cm4_q4_acc(a0, hi, xsum[g + 1u], p0 + 2u * g + 2u, xs[g + 1u]);
        }
        out[i] = a0;
    }
}

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q4 (n_pad a multiple of gs and
 * 32, so rows are whole 16-byte units); misaligned w or xq take the
 * reference. */
void llm_cm4_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs) {
    if (!LLM__ALIGNED4(w) || !LLM__ALIGNED4(xq)) {
        llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, gs);
        return;
    }
    switch (gs) {
    case 16: cm4_q4_rows_16(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 32: cm4_q4_rows_32(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 64: cm4_q4_rows_64(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 128: cm4_q4_rows_128(out, w, wp, xq, xs, xsum, d, n_pad); break;
    default: cm4_q4_rows_256(out, w, wp, xq, xs, xsum, d, n_pad); break;
    }
}

#else
typedef int llm_cm4_matvec_q4_unused; /* ISO C wants a declaration per file */
#endif
