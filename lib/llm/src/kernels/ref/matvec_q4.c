/* Reference int4 mat-vec: q4 weights times int8-quantized activations. */
#include <stddef.h>

#include "../kernels.h"

/* As in matvec_q8.c: one instance per group size (constant trip counts), four
 * rows per pass sharing x widened to int16; each row's codes are unpacked to
 * int16 first (a mask and a shift per 16 bytes), so the products are the
 * int16 multiply-add SIMD units do. Each row adds its groups in order through
 * llm_q4_acc. A group of gs >= 32 is gs / 32 whole llm_q4x32 units; with gs
 * 16 a unit holds two groups (its low nibbles, then its high nibbles). */

/* c(32 * n_units) = the codes of n_units llm_q4x32 units at b, in order. */
static inline void unpack_units(int16_t *c, const uint8_t *b, uint32_t n_units) {
    for (uint32_t u = 0; u < n_units; u++) {
        for (uint32_t j = 0; j < 16; j++) {
            c[32 * u + j] = (int16_t)(b[16 * u + j] & 0x0F);
            c[32 * u + 16 + j] = (int16_t)(b[16 * u + j] >> 4);
        }
    }
}

#define LLM_Q4_DOT(D, C, XW, N)                                                                \
    for (uint32_t j = 0; j < (N); j++) D += (C)[j] * (XW)[j];

#define LLM_Q4_ROWS(GS)                                                                        \
    LLM_REF_EXACT_SLP                                                                          \
    static void q4_rows_##GS(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq, \
                             const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad) { \
        const uint32_t ng = n_pad / GS, rb = n_pad / 2;                                         \
        uint32_t i = 0;                                                                        \
        for (; i + 4 <= d; i += 4) {                                                           \
            const uint8_t *w0 = w + (size_t)i * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb; \
            const uint16_t *p0 = wp + (size_t)i * ng * 2, *p1 = p0 + 2 * ng, *p2 = p1 + 2 * ng, \
                           *p3 = p2 + 2 * ng;                                                  \
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                  \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                const size_t o = (size_t)g * GS;                                               \
                int16_t xw[GS], c0[GS], c1[GS], c2[GS], c3[GS]; /* (GS) each */                \
                for (uint32_t j = 0; j < GS; j++) xw[j] = xq[o + j];                           \
                unpack_units(c0, w0 + o / 2, GS / 32);                                         \
                unpack_units(c1, w1 + o / 2, GS / 32);                                         \
                unpack_units(c2, w2 + o / 2, GS / 32);                                         \
                unpack_units(c3, w3 + o / 2, GS / 32);                                         \
                int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                        \
                for (uint32_t j = 0; j < GS; j++) {                                            \
                    d0 += c0[j] * xw[j];                                                       \
                    d1 += c1[j] * xw[j];                                                       \
                    d2 += c2[j] * xw[j];                                                       \
                    d3 += c3[j] * xw[j];                                                       \
                }                                                                              \
                a0 = llm_q4_acc(a0, d0, xsum[g], p0 + 2 * g, xs[g]);                           \
                a1 = llm_q4_acc(a1, d1, xsum[g], p1 + 2 * g, xs[g]);                           \
                a2 = llm_q4_acc(a2, d2, xsum[g], p2 + 2 * g, xs[g]);                           \
                a3 = llm_q4_acc(a3, d3, xsum[g], p3 + 2 * g, xs[g]);                           \
            }                                                                                  \
            out[i] = a0;                                                                       \
            out[i + 1] = a1;                                                                   \
            out[i + 2] = a2;                                                                   \
            out[i + 3] = a3;                                                                   \
        }                                                                                      \
        for (; i < d; i++) {                                                                   \
            const uint8_t *w0 = w + (size_t)i * rb;                                            \
            const uint16_t *p0 = wp + (size_t)i * ng * 2;                                      \
            float a0 = 0.0f;                                                                   \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                const size_t o = (size_t)g * GS;                                               \
                int16_t xw[GS], c0[GS]; /* (GS) each */                                        \
                for (uint32_t j = 0; j < GS; j++) xw[j] = xq[o + j];                           \
                unpack_units(c0, w0 + o / 2, GS / 32);                                         \
                int32_t d0 = 0;                                                                \
                LLM_Q4_DOT(d0, c0, xw, GS)                                                     \
                a0 = llm_q4_acc(a0, d0, xsum[g], p0 + 2 * g, xs[g]);                           \
            }                                                                                  \
            out[i] = a0;                                                                       \
        }                                                                                      \
    }

LLM_Q4_ROWS(32)
LLM_Q4_ROWS(64)
LLM_Q4_ROWS(128)
LLM_Q4_ROWS(256)

/* gs 16: each unit is groups 2u (low nibbles) and 2u + 1 (high nibbles). */
LLM_REF_EXACT_SLP
static void q4_rows_16(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad) {
    const uint32_t ng = n_pad / 16, rb = n_pad / 2;
    uint32_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const uint8_t *w0 = w + (size_t)i * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        const uint16_t *p0 = wp + (size_t)i * ng * 2, *p1 = p0 + 2 * ng, *p2 = p1 + 2 * ng,
                       *p3 = p2 + 2 * ng;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (uint32_t g = 0; g < ng; g += 2) {
            const size_t o = (size_t)g * 16;
            int16_t xw[32], c0[32], c1[32], c2[32], c3[32]; /* (32) groups g, g + 1 */
            for (uint32_t j = 0; j < 32; j++) xw[j] = xq[o + j];
            unpack_units(c0, w0 + o / 2, 1);
            unpack_units(c1, w1 + o / 2, 1);
            unpack_units(c2, w2 + o / 2, 1);
            unpack_units(c3, w3 + o / 2, 1);
            int32_t l0 = 0, l1 = 0, l2 = 0, l3 = 0, h0 = 0, h1 = 0, h2 = 0, h3 = 0;
            for (uint32_t j = 0; j < 16; j++) {
                l0 += c0[j] * xw[j];
                l1 += c1[j] * xw[j];
                l2 += c2[j] * xw[j];
                l3 += c3[j] * xw[j];
                h0 += c0[16 + j] * xw[16 + j];
                h1 += c1[16 + j] * xw[16 + j];
                h2 += c2[16 + j] * xw[16 + j];
                h3 += c3[16 + j] * xw[16 + j];
            }
            a0 = llm_q4_acc(llm_q4_acc(a0, l0, xsum[g], p0 + 2 * g, xs[g]), h0, xsum[g + 1],
                            p0 + 2 * g + 2, xs[g + 1]);
            a1 = llm_q4_acc(llm_q4_acc(a1, l1, xsum[g], p1 + 2 * g, xs[g]), h1, xsum[g + 1],
                            p1 + 2 * g + 2, xs[g + 1]);
            a2 = llm_q4_acc(llm_q4_acc(a2, l2, xsum[g], p2 + 2 * g, xs[g]), h2, xsum[g + 1],
                            p2 + 2 * g + 2, xs[g + 1]);
            a3 = llm_q4_acc(llm_q4_acc(a3, l3, xsum[g], p3 + 2 * g, xs[g]), h3, xsum[g + 1],
                            p3 + 2 * g + 2, xs[g + 1]);
        }
        out[i] = a0;
        out[i + 1] = a1;
        out[i + 2] = a2;
        out[i + 3] = a3;
    }
    for (; i < d; i++) {
        const uint8_t *w0 = w + (size_t)i * rb;       /* (rb) */
        const uint16_t *p0 = wp + (size_t)i * ng * 2; /* (ng, 2) */
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g += 2) {
            const size_t o = (size_t)g * 16;
            int16_t xw[32], c0[32]; /* (32) groups g, g + 1 */
            for (uint32_t j = 0; j < 32; j++) xw[j] = xq[o + j];
            unpack_units(c0, w0 + o / 2, 1);
            int32_t lo = 0, hi = 0;
            LLM_Q4_DOT(lo, c0, xw, 16)
            LLM_Q4_DOT(hi, c0 + 16, xw + 16, 16)
            a0 = llm_q4_acc(a0, lo, xsum[g], p0 + 2 * g, xs[g]);
            a0 = llm_q4_acc(a0, hi, xsum[g + 1], p0 + 2 * g + 2, xs[g + 1]);
        }
        out[i] = a0;
    }
}

/* out(d) = w(d, n_pad) @ x: w int4 codes, rows of n_pad / 2 bytes (llm_q4x32
 * units), with bf16 (scale, offset) pairs wp(d, n_pad / gs, 2); x as
 * xq(n_pad) int8 with scales xs and quant sums xsum (n_pad / gs each, from
 * llm_ref_quantize_q8). Each output sums its groups in order through
 * llm_q4_acc. gs is an allowed group size; n_pad a multiple of gs and 32. */
void llm_ref_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs) {
    switch (gs) {
    case 16: q4_rows_16(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 32: q4_rows_32(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 64: q4_rows_64(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 128: q4_rows_128(out, w, wp, xq, xs, xsum, d, n_pad); break;
    default: q4_rows_256(out, w, wp, xq, xs, xsum, d, n_pad); break;
    }
}
