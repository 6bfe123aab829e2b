/* AArch64 NEON int4 mat-vec (q4 weights), bit for bit llm_ref_matvec_q4:
 * each llm_q4x32 unit splits into its low nibbles (codes 0..15) and high
 * nibbles (codes 16..31) with a mask and a shift, each half an int8 vector
 * of 0..15 dotted with 16 activation quants (llm__neon_dot16: |c x| <=
 * 15 * 127, no overflow), four rows sharing each load of x; then, for four
 * rows in one vector, llm_q4_acc's steps in its order:
 * (float)isum * (scale * xs) + (float)xsum * (offset * xs), added to acc,
 * unfused. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include <stddef.h>

#include "vec_neon.h"

/* Codes 0..15 (lo) and 16..31 (hi) of the unit at b, as int8. */
#define UNPACK(b, lo, hi)                                                  \
    const uint8x16_t b##_u = vld1q_u8(b);                                  \
    const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(b##_u, vdupq_n_u8(0x0F))); \
    const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(b##_u, 4))

/* llm_q4_acc for four rows (lane r is row r): p_r the rows' (scale, offset)
 * pairs for this group. */
LLM_NEON_INLINE float32x4_t acc4(float32x4_t acc, int32x4_t isum, int32_t xsum, float xs,
                                 const uint16_t *p0, const uint16_t *p1, const uint16_t *p2,
                                 const uint16_t *p3) {
    const float32x4_t scale = vmulq_n_f32(llm__neon_bf16x4(p0[0], p1[0], p2[0], p3[0]), xs);
    const float32x4_t offset = vmulq_n_f32(llm__neon_bf16x4(p0[1], p1[1], p2[1], p3[1]), xs);
    const float32x4_t group =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(isum), scale), vmulq_n_f32(offset, (float)xsum));
    return vaddq_f32(acc, group);
}

/* out[0..4) = rows w(4, n_pad / 2 bytes) @ x, pairs p(4, ng, 2); GS >= 32 a
 * constant after inlining: a group is GS / 32 whole units. */
LLM_NEON_INLINE void rows4(float *out, const uint8_t *w, const uint16_t *p, const int8_t *xq,
                           const float *xs, const int32_t *xsum, uint32_t n_pad,
                           const uint32_t GS) {
    const uint32_t ng = n_pad / GS, rb = n_pad / 2;
    const uint8_t *w0 = w, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
    const uint16_t *p0 = p, *p1 = p0 + 2 * ng, *p2 = p1 + 2 * ng, *p3 = p2 + 2 * ng;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (uint32_t g = 0; g < ng; g++) {
        const size_t o = (size_t)g * GS;
        int32x4_t d0 = vdupq_n_s32(0), d1 = d0, d2 = d0, d3 = d0;
        for (uint32_t u = 0; u < GS; u += 32) {
            const int8x16_t xl = vld1q_s8(xq + o + u), xh = vld1q_s8(xq + o + u + 16);
            const uint8_t *b0 = w0 + (o + u) / 2, *b1 = w1 + (o + u) / 2, *b2 = w2 + (o + u) / 2,
                          *b3 = w3 + (o + u) / 2;
            UNPACK(b0, c0l, c0h);
            UNPACK(b1, c1l, c1h);
            UNPACK(b2, c2l, c2h);
            UNPACK(b3, c3l, c3h);
            d0 = llm__neon_dot16(llm__neon_dot16(d0, c0l, xl), c0h, xh);
            d1 = llm__neon_dot16(llm__neon_dot16(d1, c1l, xl), c1h, xh);
            d2 = llm__neon_dot16(llm__neon_dot16(d2, c2l, xl), c2h, xh);
            d3 = llm__neon_dot16(llm__neon_dot16(d3, c3l, xl), c3h, xh);
        }
        acc = acc4(acc, llm__neon_isum4x4(d0, d1, d2, d3), xsum[g], xs[g], p0 + 2 * g, p1 + 2 * g,
                   p2 + 2 * g, p3 + 2 * g);
    }
    vst1q_f32(out, acc);
}

/* gs 16: each unit is groups 2u (low nibbles) and 2u + 1 (high nibbles). */
static void rows4_16(float *out, const uint8_t *w, const uint16_t *p, const int8_t *xq,
                     const float *xs, const int32_t *xsum, uint32_t n_pad) {
    const uint32_t ng = n_pad / 16, rb = n_pad / 2;
    const uint8_t *w0 = w, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
    const uint16_t *p0 = p, *p1 = p0 + 2 * ng, *p2 = p1 + 2 * ng, *p3 = p2 + 2 * ng;
    float32x4_t acc = vdupq_n_f32(0.0f);
    const int32x4_t z = vdupq_n_s32(0);
    for (uint32_t g = 0; g < ng; g += 2) {
        const size_t o = (size_t)g * 16;
        const int8x16_t xl = vld1q_s8(xq + o), xh = vld1q_s8(xq + o + 16);
        const uint8_t *b0 = w0 + o / 2, *b1 = w1 + o / 2, *b2 = w2 + o / 2, *b3 = w3 + o / 2;
        UNPACK(b0, c0l, c0h);
        UNPACK(b1, c1l, c1h);
        UNPACK(b2, c2l, c2h);
        UNPACK(b3, c3l, c3h);
        const int32x4_t lo = llm__neon_isum4x4(llm__neon_dot16(z, c0l, xl), llm__neon_dot16(z, c1l, xl),
                                               llm__neon_dot16(z, c2l, xl), llm__neon_dot16(z, c3l, xl));
        const int32x4_t hi = llm__neon_isum4x4(llm__neon_dot16(z, c0h, xh), llm__neon_dot16(z, c1h, xh),
                                               llm__neon_dot16(z, c2h, xh), llm__neon_dot16(z, c3h, xh));
        acc = acc4(acc, lo, xsum[g], xs[g], p0 + 2 * g, p1 + 2 * g, p2 + 2 * g, p3 + 2 * g);
        acc = acc4(acc, hi, xsum[g + 1], xs[g + 1], p0 + 2 * g + 2, p1 + 2 * g + 2, p2 + 2 * g + 2,
                   p3 + 2 * g + 2);
    }
    vst1q_f32(out, acc);
}

/* One row (rb bytes, pairs p(ng, 2)), any allowed GS. */
static float row1(const uint8_t *w, const uint16_t *p, const int8_t *xq, const float *xs,
                  const int32_t *xsum, uint32_t n_pad, uint32_t gs) {
    const uint32_t ng = n_pad / gs;
    const int32x4_t z = vdupq_n_s32(0);
    float acc = 0.0f;
    if (gs == 16) {
        for (uint32_t g = 0; g < ng; g += 2) {
            const size_t o = (size_t)g * 16;
            const uint8_t *b = w + o / 2;
            UNPACK(b, cl, ch);
            const int32_t lo = vaddvq_s32(llm__neon_dot16(z, cl, vld1q_s8(xq + o)));
            const int32_t hi = vaddvq_s32(llm__neon_dot16(z, ch, vld1q_s8(xq + o + 16)));
            acc = llm_q4_acc(acc, lo, xsum[g], p + 2 * g, xs[g]);
            acc = llm_q4_acc(acc, hi, xsum[g + 1], p + 2 * g + 2, xs[g + 1]);
        }
        return acc;
    }
    for (uint32_t g = 0; g < ng; g++) {
        const size_t o = (size_t)g * gs;
        int32x4_t d = z;
        for (uint32_t u = 0; u < gs; u += 32) {
            const uint8_t *b = w + (o + u) / 2;
            UNPACK(b, cl, ch);
            d = llm__neon_dot16(d, cl, vld1q_s8(xq + o + u));
            d = llm__neon_dot16(d, ch, vld1q_s8(xq + o + u + 16));
        }
        acc = llm_q4_acc(acc, vaddvq_s32(d), xsum[g], p + 2 * g, xs[g]);
    }
    return acc;
}

#define ROWS_FN(GS)                                                                           \
    static void q4_rows_##GS(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq, \
                             const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad) { \
        const size_t rb = n_pad / 2, np = (size_t)(n_pad / (GS)) * 2;                        \
        uint32_t i = 0;                                                                       \
        for (; i + 4 <= d; i += 4) {                                                          \
            if ((GS) == 16) {                                                                 \
                rows4_16(out + i, w + i * rb, wp + i * np, xq, xs, xsum, n_pad);              \
            } else {                                                                          \
                rows4(out + i, w + i * rb, wp + i * np, xq, xs, xsum, n_pad, (GS));           \
            }                                                                                 \
        }                                                                                     \
        for (; i < d; i++) out[i] = row1(w + i * rb, wp + i * np, xq, xs, xsum, n_pad, (GS)); \
    }
ROWS_FN(16)
ROWS_FN(32)
ROWS_FN(64)
ROWS_FN(128)
ROWS_FN(256)
#undef ROWS_FN

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q4: gs an allowed group size,
 * n_pad a multiple of gs and of 32 (whole units). */
void llm_neon_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
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

#else
typedef int llm_neon_matvec_q4_unused; /* ISO C wants a declaration per file */
#endif
