/* Reference int8 mat-vec: q8 weights times int8-quantized activations. */
#include <stddef.h>

#include "../kernels.h"

/* One instance per group size, so every inner loop has a constant trip
 * count: compilers unroll and vectorize it with no tail. Four rows share each
 * load of x, widened to int16 first: int8 x int16 products summed into int32
 * are the pattern SIMD multiply-add instructions (SSE2 pmaddwd, NEON, Helium)
 * are matched to. Each row still sums its groups in order through llm_q_acc,
 * so a row's bits do not depend on the rows around it; integer sums are
 * exact in any order. */
#define LLM_Q8_ROWS(GS)                                                                        \
    LLM_REF_EXACT_SLP                                                                          \
    static void q8_rows_##GS(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq, \
                             const float *xs, uint32_t d, uint32_t n_pad) {                   \
        const uint32_t ng = n_pad / GS;                                                        \
        uint32_t i = 0;                                                                        \
        for (; i + 4 <= d; i += 4) {                                                           \
            const int8_t *w0 = w + (size_t)i * n_pad, *w1 = w0 + n_pad, *w2 = w1 + n_pad,      \
                         *w3 = w2 + n_pad;                                                     \
            const uint16_t *s0 = ws + (size_t)i * ng, *s1 = s0 + ng, *s2 = s1 + ng,            \
                           *s3 = s2 + ng;                                                      \
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;                                  \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                const size_t o = (size_t)g * GS;                                               \
                int16_t xw[GS]; /* (GS) this group of x */                                     \
                for (uint32_t j = 0; j < GS; j++) xw[j] = xq[o + j];                           \
                int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                        \
                for (uint32_t j = 0; j < GS; j++) {                                            \
                    d0 += (int16_t)w0[o + j] * xw[j];                                          \
                    d1 += (int16_t)w1[o + j] * xw[j];                                          \
                    d2 += (int16_t)w2[o + j] * xw[j];                                          \
                    d3 += (int16_t)w3[o + j] * xw[j];                                          \
                }                                                                              \
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
            const int8_t *w0 = w + (size_t)i * n_pad;                                          \
            const uint16_t *s0 = ws + (size_t)i * ng;                                          \
            float a0 = 0.0f;                                                                   \
            for (uint32_t g = 0; g < ng; g++) {                                                \
                const size_t o = (size_t)g * GS;                                               \
                int32_t d0 = 0;                                                                \
                for (uint32_t j = 0; j < GS; j++) d0 += w0[o + j] * (int32_t)xq[o + j];        \
                a0 = llm_q_acc(a0, d0, s0[g], xs[g]);                                          \
            }                                                                                  \
            out[i] = a0;                                                                       \
        }                                                                                      \
    }

LLM_Q8_ROWS(16)
LLM_Q8_ROWS(32)
LLM_Q8_ROWS(64)
LLM_Q8_ROWS(128)
LLM_Q8_ROWS(256)

/* out(d) = w(d, n_pad) @ x: w int8 rows with bf16 scales ws(d, n_pad / gs),
 * x as xq(n_pad) int8 with scales xs(n_pad / gs) (llm_ref_quantize_q8).
 * Each output sums its groups in order through llm_q_acc. gs is an allowed
 * group size (llm_q_group_ok), n_pad a multiple of gs; out must not alias
 * the inputs. */
void llm_ref_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    switch (gs) {
    case 16: q8_rows_16(out, w, ws, xq, xs, d, n_pad); break;
    case 32: q8_rows_32(out, w, ws, xq, xs, d, n_pad); break;
    case 64: q8_rows_64(out, w, ws, xq, xs, d, n_pad); break;
    case 128: q8_rows_128(out, w, ws, xq, xs, d, n_pad); break;
    default: q8_rows_256(out, w, ws, xq, xs, d, n_pad); break;
    }
}
