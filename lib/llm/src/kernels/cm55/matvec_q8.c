/* Cortex-M55 int8 mat-vec (q8 weights) with Helium: one VMLADAVA.S8 per 16
 * codes, four rows sharing each load of x, and the per-group float
 * combination of the four rows in one vector (lane r is row r): the four
 * int32 dots converted at once, times the four rows' bf16 scales (one
 * halfword gather) times xs[g], added to the four sums. Per lane these are
 * llm_q_acc's operations in its order (scale = ws * xs, then
 * acc + isum * scale, no fused multiply-add), so outputs equal the
 * reference bit for bit; if a subnormal or an invalid operation made the
 * vector unit (flush-to-zero) differ, an FPSCR flag says so and the call is
 * redone by the reference (vmath_cm55.h). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <stddef.h>

#include "vmath_cm55.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* GCC 12's auto-increment pass turns the two 16-byte loads per row and group
 * into a pointer copy plus post-increments, and keeps the +GS step too: five
 * extra moves per group. Without it: immediate offsets and one add per row
 * (37 instructions per group of four rows at gs 32 instead of 45). */
#define NO_AUTO_INC __attribute__((optimize("no-auto-inc-dec")))

/* Rows 4 at a time for one group size GS (a constant after inlining, so the
 * dot loop unrolls); rows d - d % 4 .. d - 1 one at a time. Every pointer
 * steps forward as it is read (post-increment addressing), and row 3's
 * pointer ends at the next block's row 0, so the loops keep their state in
 * registers. */
ALWAYS_INLINE void rows_gs(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                           const float *xs, uint32_t d, uint32_t n_pad, const uint32_t GS) {
    const uint32_t ng = n_pad / GS;
    /* Halfword offsets of the scales of rows 0..3 of a block. */
    const uint32x4_t soff = vmulq_n_u32(vidupq_n_u32(0u, 1), ng);
    const int8_t *w3 = w;
    const uint16_t *s = ws; /* (d, ng) */
    for (uint32_t b = d / 4; b > 0; b--) {
        const int8_t *w0 = w3, *w1 = w0 + n_pad, *w2 = w1 + n_pad;
        w3 = w2 + n_pad;
        const int8_t *xg = xq;
        const float *xsg = xs;
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (uint32_t g = ng; g > 0; g--) {
            const float32x4_t bf = vreinterpretq_f32_u32(
                vshlq_n_u32(vldrhq_gather_shifted_offset_u32(s, soff), 16));
            const float32x4_t scale = vmulq_n_f32(bf, *xsg++);
            s++;
            int8x16_t xv = vld1q_s8(xg);
            xg += 16;
            int32_t d0 = vmladavq_s8(vld1q_s8(w0), xv), d1 = vmladavq_s8(vld1q_s8(w1), xv),
                    d2 = vmladavq_s8(vld1q_s8(w2), xv), d3 = vmladavq_s8(vld1q_s8(w3), xv);
            w0 += 16;
            w1 += 16;
            w2 += 16;
            w3 += 16;
            for (uint32_t k = 16; k < GS; k += 16) {
                xv = vld1q_s8(xg);
                xg += 16;
                d0 = vmladavaq_s8(d0, vld1q_s8(w0), xv);
                d1 = vmladavaq_s8(d1, vld1q_s8(w1), xv);
                d2 = vmladavaq_s8(d2, vld1q_s8(w2), xv);
                d3 = vmladavaq_s8(d3, vld1q_s8(w3), xv);
                w0 += 16;
                w1 += 16;
                w2 += 16;
                w3 += 16;
            }
            const int32x4_t dv = llm__vmake4(d0, d1, d2, d3);
            /* llm_q_acc per lane: acc + isum * (ws * xs). */
            acc = vaddq_f32(acc, vmulq_f32(vcvtq_f32_s32(dv), scale));
        }
        s += 3 * ng; /* rows 1..3 of the block */
        vst1q_f32(out, acc);
        out += 4;
    }
    for (uint32_t i = d - d % 4; i < d; i++) {
        const int8_t *w0 = w + (size_t)i * n_pad;
        const uint16_t *s0 = ws + (size_t)i * ng;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0;
            for (uint32_t k = 0; k < GS; k += 16) {
                d0 = vmladavaq_s8(d0, vld1q_s8(w0 + g * GS + k), vld1q_s8(xq + g * GS + k));
            }
            a0 = llm_q_acc(a0, d0, s0[g], xs[g]);
        }
        out[i - (d - d % 4)] = a0;
    }
}

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q8; rows and groups are whole
 * multiples of 16 codes, so no tail predication is needed. */
NO_AUTO_INC void llm_cm55_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    const uint32_t saved = llm__fp_flags_begin();
    switch (gs) {
    case 16: rows_gs(out, w, ws, xq, xs, d, n_pad, 16); break;
    case 32: rows_gs(out, w, ws, xq, xs, d, n_pad, 32); break;
    case 64: rows_gs(out, w, ws, xq, xs, d, n_pad, 64); break;
    case 128: rows_gs(out, w, ws, xq, xs, d, n_pad, 128); break;
    default: rows_gs(out, w, ws, xq, xs, d, n_pad, 256); break;
    }
    if (llm__fp_flags_end(saved)) llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
