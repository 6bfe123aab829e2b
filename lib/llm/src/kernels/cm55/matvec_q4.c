/* Cortex-M55 int4 mat-vec (q4 weights) with Helium: each llm_q4x32 unit is
 * one 16-byte load, split into codes 0..15 (low nibbles) and 16..31 (high
 * nibbles) by a mask and a shift, each half one VMLADAVA.S8 against x; four
 * rows share each load of x. The per-group float combination of the four
 * rows is one vector (lane r is row r), with llm_q4_acc's operations in its
 * order per lane (scale = ws[0] * xs, offset = ws[1] * xs,
 * group = isum * scale + xsum * offset, acc + group; no fused multiply-add),
 * so outputs equal the reference bit for bit; a flushed subnormal or an
 * invalid operation raises an FPSCR flag and the call is redone by the
 * reference (vmath_cm55.h). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <stddef.h>

#include "vmath_cm55.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Without GCC 12's scheduler the group loop's vectors fit the eight Q
 * registers (it hoists the scale gathers above the dots and spills the sum):
 * 45 instructions per group of four rows at gs 32 instead of 59. */
#define NO_SCHED __attribute__((optimize("no-schedule-insns", "no-schedule-insns2")))

/* d + (low nibbles of b) . xl + (high nibbles of b) . xh. */
ALWAYS_INLINE int32_t unit_dot(int32_t d, uint8x16_t b, int8x16_t xl, int8x16_t xh) {
    d = vmladavaq_s8(d, vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), xl);
    return vmladavaq_s8(d, vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), xh);
}

/* (low nibbles of b) . xl + (high nibbles of b) . xh. */
ALWAYS_INLINE int32_t unit_dot0(uint8x16_t b, int8x16_t xl, int8x16_t xh) {
    const int32_t d = vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), xl);
    return vmladavaq_s8(d, vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), xh);
}

/* bf16 bits (zero-extended in 32-bit lanes) to float. */
ALWAYS_INLINE float32x4_t bf16x4(uint32x4_t b) {
    return vreinterpretq_f32_u32(vshlq_n_u32(b, 16));
}

/* One group of four rows: acc + isum * (scale * xs) + xsum * (offset * xs)
 * per lane, isum = {d0, d1, d2, d3}; p points at the group's (scale, offset)
 * pair of row 0, poff the halfword offsets of rows 0..3 from it. */
ALWAYS_INLINE float32x4_t acc4(float32x4_t acc, int32_t d0, int32_t d1, int32_t d2, int32_t d3,
                               const uint16_t *p, uint32x4_t poff, int32_t xsum, float xs) {
    const int32x4_t dv = llm__vmake4(d0, d1, d2, d3);
    const float32x4_t scale = vmulq_n_f32(bf16x4(vldrhq_gather_shifted_offset_u32(p, poff)), xs);
    const float32x4_t offset =
        vmulq_n_f32(bf16x4(vldrhq_gather_shifted_offset_u32(p + 1, poff)), xs);
    const float32x4_t group =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(dv), scale), vmulq_n_f32(offset, (float)xsum));
    return vaddq_f32(acc, group);
}

/* gs >= 32 (GS a constant after inlining): a group is GS / 32 whole units. */
ALWAYS_INLINE void rows_units(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                              const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                              const uint32_t GS) {
    const uint32_t ng = n_pad / GS, rb = n_pad / 2;
    const uint32x4_t poff = vmulq_n_u32(vidupq_n_u32(0u, 1), 2u * ng);
    uint32_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const uint8_t *w0 = w + (size_t)i * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        const uint16_t *p = wp + (size_t)i * ng * 2;
        const int8_t *xg = xq;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (uint32_t g = 0; g < ng; g++) {
            const int8x16_t xl0 = vld1q_s8(xg), xh0 = vld1q_s8(xg + 16);
            int32_t d0 = unit_dot0(vld1q_u8(w0), xl0, xh0), d1 = unit_dot0(vld1q_u8(w1), xl0, xh0),
                    d2 = unit_dot0(vld1q_u8(w2), xl0, xh0), d3 = unit_dot0(vld1q_u8(w3), xl0, xh0);
            for (uint32_t c = 32; c < GS; c += 32) { /* c: first code of a unit */
                const int8x16_t xl = vld1q_s8(xg + c), xh = vld1q_s8(xg + c + 16);
                d0 = unit_dot(d0, vld1q_u8(w0 + c / 2), xl, xh);
                d1 = unit_dot(d1, vld1q_u8(w1 + c / 2), xl, xh);
                d2 = unit_dot(d2, vld1q_u8(w2 + c / 2), xl, xh);
                d3 = unit_dot(d3, vld1q_u8(w3 + c / 2), xl, xh);
            }
            acc = acc4(acc, d0, d1, d2, d3, p + 2 * g, poff, xsum[g], xs[g]);
            w0 += GS / 2;
            w1 += GS / 2;
            w2 += GS / 2;
            w3 += GS / 2;
            xg += GS;
        }
        vst1q_f32(out + i, acc);
    }
    for (; i < d; i++) {
        const uint8_t *w0 = w + (size_t)i * rb;
        const uint16_t *p0 = wp + (size_t)i * ng * 2;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0;
            for (uint32_t c = g * GS; c < (g + 1) * GS; c += 32) {
                d0 = unit_dot(d0, vld1q_u8(w0 + c / 2), vld1q_s8(xq + c), vld1q_s8(xq + c + 16));
            }
            a0 = llm_q4_acc(a0, d0, xsum[g], p0 + 2 * g, xs[g]);
        }
        out[i] = a0;
    }
}

/* gs 16: unit u holds group 2u (low nibbles) and group 2u + 1 (high). */
static void rows_halves(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                        const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad) {
    const uint32_t ng = n_pad / 16, rb = n_pad / 2;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const uint32x4_t poff = vmulq_n_u32(vidupq_n_u32(0u, 1), 2u * ng);
    uint32_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const uint8_t *w0 = w + (size_t)i * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        const uint16_t *p = wp + (size_t)i * ng * 2;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (uint32_t g = 0; g < ng; g += 2) {
            const int8x16_t xl = vld1q_s8(xq + g * 16), xh = vld1q_s8(xq + g * 16 + 16);
            const uint8x16_t b0 = vld1q_u8(w0 + g * 8), b1 = vld1q_u8(w1 + g * 8),
                             b2 = vld1q_u8(w2 + g * 8), b3 = vld1q_u8(w3 + g * 8);
            acc = acc4(acc, vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b0, mask)), xl),
                       vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b1, mask)), xl),
                       vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b2, mask)), xl),
                       vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b3, mask)), xl), p + 2 * g, poff,
                       xsum[g], xs[g]);
            acc = acc4(acc, vmladavq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b0, 4)), xh),
                       vmladavq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b1, 4)), xh),
                       vmladavq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b2, 4)), xh),
                       vmladavq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b3, 4)), xh), p + 2 * g + 2,
                       poff, xsum[g + 1], xs[g + 1]);
        }
        vst1q_f32(out + i, acc);
    }
    for (; i < d; i++) {
        const uint8_t *w0 = w + (size_t)i * rb;
        const uint16_t *p0 = wp + (size_t)i * ng * 2;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g += 2) {
            const uint8x16_t b = vld1q_u8(w0 + (size_t)g * 8);
            const int32_t lo = vmladavq_s8(vreinterpretq_s8_u8(vandq_u8(b, mask)), vld1q_s8(xq + g * 16));
            const int32_t hi = vmladavq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), vld1q_s8(xq + g * 16 + 16));
            a0 = llm_q4_acc(a0, lo, xsum[g], p0 + 2 * g, xs[g]);
            a0 = llm_q4_acc(a0, hi, xsum[g + 1], p0 + 2 * g + 2, xs[g + 1]);
        }
        out[i] = a0;
    }
}

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q4. */
NO_SCHED void llm_cm55_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                        const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                        uint32_t gs) {
    const uint32_t saved = llm__fp_flags_begin();
    switch (gs) {
    case 16: rows_halves(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 32: rows_units(out, w, wp, xq, xs, xsum, d, n_pad, 32); break;
    case 64: rows_units(out, w, wp, xq, xs, xsum, d, n_pad, 64); break;
    case 128: rows_units(out, w, wp, xq, xs, xsum, d, n_pad, 128); break;
    default: rows_units(out, w, wp, xq, xs, xsum, d, n_pad, 256); break;
    }
    if (llm__fp_flags_end(saved)) llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, gs);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q4_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
