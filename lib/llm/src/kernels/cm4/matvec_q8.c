/* Cortex-M4F/M7/M33 int8 mat-vec (q8 weights) with the DSP extension: per
 * word of four codes, each row's two SXTB16 and two SMLAD against the
 * activation word split once for four rows (inline assembly, four rows per
 * block; the d % 4 rows left in C with ACLE intrinsics); the per-group float step is
 * llm_q_acc in the reference's order, so outputs equal the reference bit for
 * bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <stddef.h>

#include "dsp_cm4.h"

#if !defined(__OPTIMIZE__) || !defined(__GNUC__) || defined(__clang__)
/* The fast path is GCC inline assembly needing twelve core registers;
 * unoptimised (-O0) builds keep r7 as the frame pointer and cannot give
 * them, so they and other compilers use the reference. */
void llm_cm4_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
}
#else

/* Four rows' dot products with one group of x: d_r = w_r(nw words) . x.
 * x comes pre-split, two words per word of codes (its bytes 0, 2 and 1, 3
 * as 16-bit lanes, split once per call instead of once per four rows).
 * Rows 0 and 2 are read through wa and wb, rows 1 and 3 at wa + s and
 * wb + s (s: the row stride in bytes); wa, wb and x advance past the group.
 * Per word: one LDRD of x, then per row one load, two SXTB16 and two SMLAD.
 * Inline assembly, because GCC 12 reloads each weight word for its second
 * SXTB16 and spills around the loop (about 37 instructions per word of four
 * rows against 21 here). */
#define Q8_WORD                                                                                \
    "ldrd  %[xe], %[xo], [%[x]], #8\n\t"                                                       \
    "ldr   %[t0], [%[wa], %[s]]\n\t"                                                           \
    "ldr   %[t1], [%[wa]], #4\n\t"                                                             \
    "sxtb16 %[t2], %[t1]\n\t"                                                                  \
    "smlad %[d0], %[t2], %[xe], %[d0]\n\t"                                                     \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                          \
    "smlad %[d0], %[t1], %[xo], %[d0]\n\t"                                                     \
    "sxtb16 %[t2], %[t0]\n\t"                                                                  \
    "smlad %[d1], %[t2], %[xe], %[d1]\n\t"                                                     \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                          \
    "smlad %[d1], %[t0], %[xo], %[d1]\n\t"                                                     \
    "ldr   %[t0], [%[wb], %[s]]\n\t"                                                           \
    "ldr   %[t1], [%[wb]], #4\n\t"                                                             \
    "sxtb16 %[t2], %[t1]\n\t"                                                                  \
    "smlad %[d2], %[t2], %[xe], %[d2]\n\t"                                                     \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                          \
    "smlad %[d2], %[t1], %[xo], %[d2]\n\t"                                                     \
    "sxtb16 %[t2], %[t0]\n\t"                                                                  \
    "smlad %[d3], %[t2], %[xe], %[d3]\n\t"                                                     \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                          \
    "smlad %[d3], %[t0], %[xo], %[d3]\n\t"

/* Four words (16 codes) per statement, written out rather than .rept'd:
 * GCC sizes an asm statement by its lines when it places literal pools. */
static inline __attribute__((always_inline)) void dot4(int32_t d[4], const uint32_t **wa,
                                                       const uint32_t **wb, const uint32_t **x,
                                                       uint32_t s, const unsigned nw) {
    int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    uint32_t t0, t1, t2, xe, xo;
    const uint32_t *pa = *wa, *pb = *wb, *px = *x;
#pragma GCC unroll 16
    for (unsigned k = 0; k < nw; k += 4u) {
        __asm__(Q8_WORD Q8_WORD Q8_WORD Q8_WORD
                : [d0] "+r"(d0), [d1] "+r"(d1), [d2] "+r"(d2), [d3] "+r"(d3), [wa] "+r"(pa),
                  [wb] "+r"(pb), [x] "+r"(px), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
                  [xe] "=&r"(xe), [xo] "=&r"(xo)
                : [s] "r"(s)
                : "memory"); /* reads the rows and x: ordered after their stores */
    }
    *wa = pa;
    *wb = pb;
    *x = px;
    d[0] = d0;
    d[1] = d1;
    d[2] = d2;
    d[3] = d3;
}

/* Words of x split per pass (256 codes: a whole number of groups of every
 * size); wider rows take several passes, each row's sums carried in out. */
#define CHUNK_WORDS 64u

/* One instance per group size (GS codes, GS / 4 words). w rows (d, n_pad),
 * x (n_pad), all word-aligned. */
#define CM4_Q8_ROWS(GS)                                                                        \
    static __attribute__((noinline)) void cm4_q8_rows_##GS(                                    \
        float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq, const float *xs,    \
        uint32_t d, uint32_t n_pad) {                                                          \
        const uint32_t ng = n_pad / (GS), rw = n_pad / 4u; /* groups, words per row */         \
        const uint32_t *x = (const uint32_t *)(const void *)xq;                                \
        const uint32_t *wr = (const uint32_t *)(const void *)w;                                \
        const uint32_t d4 = d - d % 4u;                                                        \
        uint32_t xsp[2u * CHUNK_WORDS] __attribute__((aligned(8))); /* (CHUNK_WORDS, 2) */     \
        for (uint32_t c0 = 0; c0 < rw && d4 > 0u; c0 += CHUNK_WORDS) {                         \
            const uint32_t cw = rw - c0 < CHUNK_WORDS ? rw - c0 : CHUNK_WORDS; /* words */     \
            for (uint32_t k = 0; k < cw; k++) {                                                \
                xsp[2u * k] = (uint32_t)llm__sx02(x[c0 + k]);                                  \
                xsp[2u * k + 1u] = (uint32_t)llm__sx13(x[c0 + k]);                             \
            }                                                                                  \
            const uint32_t g0 = c0 / ((GS) / 4u), g1 = (c0 + cw) / ((GS) / 4u);                \
            for (uint32_t i = 0; i < d4; i += 4u) {                                            \
                const uint32_t *wa = wr + (size_t)i * rw + c0, *wb = wa + 2u * rw;             \
                const uint16_t *s0 = ws + (size_t)i * ng, *s1 = s0 + ng, *s2 = s1 + ng,        \
                               *s3 = s2 + ng;                                                  \
                /* The sums so far (the reference starts each from 0.0f). */                   \
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                              \
                if (c0 > 0u) {                                                                 \
                    a0 = out[i];                                                               \
                    a1 = out[i + 1];                                                           \
                    a2 = out[i + 2];                                                           \
                    a3 = out[i + 3];                                                           \
                }                                                                              \
                const uint32_t *xg = xsp;                                                      \
                for (uint32_t g = g0; g < g1; g++) {                                           \
                    int32_t dd[4];                                                             \
                    dot4(dd, &wa, &wb, &xg, n_pad, (GS) / 4u);                                 \
                    a0 = llm__cm4_q_acc(a0, dd[0], s0[g], xs[g]);                              \
                    a1 = llm__cm4_q_acc(a1, dd[1], s1[g], xs[g]);                              \
                    a2 = llm__cm4_q_acc(a2, dd[2], s2[g], xs[g]);                              \
                    a3 = llm__cm4_q_acc(a3, dd[3], s3[g], xs[g]);                              \
                }                                                                              \
                out[i] = a0;                                                                   \
                out[i + 1] = a1;                                                               \
                out[i + 2] = a2;                                                               \
                out[i + 3] = a3;                                                               \
            }                                                                                  \
        }                                                                                      \
        for (uint32_t i = d4; i < d; i++) {                                                    \
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
                a0 = llm__cm4_q_acc(a0, d0, s0[g], xs[g]);                                     \
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

#endif /* __OPTIMIZE__ */

#else
typedef int llm_cm4_matvec_q8_unused; /* ISO C wants a declaration per file */
#endif
