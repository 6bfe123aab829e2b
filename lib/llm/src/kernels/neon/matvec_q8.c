/* AArch64 NEON int8 mat-vec (q8 weights), bit for bit llm_ref_matvec_q8:
 * each group's int32 dot product per row (llm__neon_dot16 per 16 codes,
 * four rows sharing each load of x), then, for four rows in one vector (lane
 * r is row r), llm_q_acc's steps in its order: scale = ws * xs,
 * acc + (float)isum * scale, unfused. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include <stddef.h>

#include "vec_neon.h"

/* out[0..4) = rows w(4, n_pad) @ x, scales s(4, ng): GS a constant after
 * inlining (16..256), ng = n_pad / GS. */
LLM_NEON_INLINE void rows4(float *out, const int8_t *w, const uint16_t *s, const int8_t *xq,
                           const float *xs, uint32_t n_pad, const uint32_t GS) {
    const uint32_t ng = n_pad / GS;
    const int8_t *w0 = w, *w1 = w0 + n_pad, *w2 = w1 + n_pad, *w3 = w2 + n_pad;
    const uint16_t *s0 = s, *s1 = s0 + ng, *s2 = s1 + ng, *s3 = s2 + ng;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (uint32_t g = 0; g < ng; g++) {
        const size_t o = (size_t)g * GS;
        int32x4_t d0 = vdupq_n_s32(0), d1 = d0, d2 = d0, d3 = d0;
        for (uint32_t j = 0; j < GS; j += 16) {
            const int8x16_t xv = vld1q_s8(xq + o + j);
            d0 = llm__neon_dot16(d0, vld1q_s8(w0 + o + j), xv);
            d1 = llm__neon_dot16(d1, vld1q_s8(w1 + o + j), xv);
            d2 = llm__neon_dot16(d2, vld1q_s8(w2 + o + j), xv);
            d3 = llm__neon_dot16(d3, vld1q_s8(w3 + o + j), xv);
        }
        const float32x4_t isum = vcvtq_f32_s32(llm__neon_isum4x4(d0, d1, d2, d3));
        const float32x4_t scale = vmulq_n_f32(llm__neon_bf16x4(s0[g], s1[g], s2[g], s3[g]), xs[g]);
        acc = vaddq_f32(acc, vmulq_f32(isum, scale));
    }
    vst1q_f32(out, acc);
}

/* One row: w(n_pad) @ x with scales s(ng). */
LLM_NEON_INLINE float row1(const int8_t *w, const uint16_t *s, const int8_t *xq, const float *xs,
                           uint32_t n_pad, const uint32_t GS) {
    const uint32_t ng = n_pad / GS;
    float acc = 0.0f;
    for (uint32_t g = 0; g < ng; g++) {
        const size_t o = (size_t)g * GS;
        int32x4_t d = vdupq_n_s32(0);
        for (uint32_t j = 0; j < GS; j += 16) {
            d = llm__neon_dot16(d, vld1q_s8(w + o + j), vld1q_s8(xq + o + j));
        }
        acc = llm_q_acc(acc, vaddvq_s32(d), s[g], xs[g]);
    }
    return acc;
}

/* All d rows for one group size. */
#define ROWS_FN(GS)                                                                           \
    static void q8_rows_##GS(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq, \
                             const float *xs, uint32_t d, uint32_t n_pad) {                  \
        const uint32_t ng = n_pad / (GS);                                                     \
        uint32_t i = 0;                                                                       \
        for (; i + 4 <= d; i += 4) {                                                          \
            rows4(out + i, w + (size_t)i * n_pad, ws + (size_t)i * ng, xq, xs, n_pad, (GS));  \
        }                                                                                     \
        for (; i < d; i++) {                                                                  \
            out[i] = row1(w + (size_t)i * n_pad, ws + (size_t)i * ng, xq, xs, n_pad, (GS));   \
        }                                                                                     \
    }
ROWS_FN(16)
ROWS_FN(32)
ROWS_FN(64)
ROWS_FN(128)
ROWS_FN(256)
#undef ROWS_FN

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q8: gs an allowed group size,
 * n_pad a multiple of gs (so of 16: no partial vectors). */
void llm_neon_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    switch (gs) {
    case 16: q8_rows_16(out, w, ws, xq, xs, d, n_pad); break;
    case 32: q8_rows_32(out, w, ws, xq, xs, d, n_pad); break;
    case 64: q8_rows_64(out, w, ws, xq, xs, d, n_pad); break;
    case 128: q8_rows_128(out, w, ws, xq, xs, d, n_pad); break;
    default: q8_rows_256(out, w, ws, xq, xs, d, n_pad); break;
    }
}

#else
typedef int llm_neon_matvec_q8_unused; /* ISO C wants a declaration per file */
#endif
