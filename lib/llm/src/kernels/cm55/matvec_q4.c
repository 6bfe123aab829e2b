/* Cortex-M55 int4 mat-vec (q4 weights) with Helium: each llm_q4x32 unit is
 * one 16-byte load, split into codes 0..15 (low nibbles) and 16..31 (high
 * nibbles) by a mask and a shift, each half one VMLADAVA.S8 against x; four
 * rows share each load of x. The float combination per group is the
 * reference's (llm_q4_acc), so outputs equal it bit for bit. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <arm_mve.h>
#include <stddef.h>

/* d + (low nibbles of b) . xl + (high nibbles of b) . xh. */
static inline int32_t unit_dot(int32_t d, uint8x16_t b, int8x16_t xl, int8x16_t xh) {
    d = vmladavaq_s8(d, vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), xl);
    return vmladavaq_s8(d, vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), xh);
}

/* gs >= 32: a group is gs / 32 whole units. */
static void rows_units(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs) {
    const uint32_t ng = n_pad / gs, rb = n_pad / 2;
    uint32_t i = 0;
    for (; i + 4 <= d; i += 4) {
        const uint8_t *w0 = w + (size_t)i * rb, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
        const uint16_t *p0 = wp + (size_t)i * ng * 2, *p1 = p0 + 2 * ng, *p2 = p1 + 2 * ng,
                       *p3 = p2 + 2 * ng;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
            for (uint32_t c = g * gs; c < (g + 1) * gs; c += 32) { /* c: first code of a unit */
                const int8x16_t xl = vld1q_s8(xq + c), xh = vld1q_s8(xq + c + 16);
                d0 = unit_dot(d0, vld1q_u8(w0 + c / 2), xl, xh);
                d1 = unit_dot(d1, vld1q_u8(w1 + c / 2), xl, xh);
                d2 = unit_dot(d2, vld1q_u8(w2 + c / 2), xl, xh);
                d3 = unit_dot(d3, vld1q_u8(w3 + c / 2), xl, xh);
            }
            a0 = llm_q4_acc(a0, d0, xsum[g], p0 + 2 * g, xs[g]);
            a1 = llm_q4_acc(a1, d1, xsum[g], p1 + 2 * g, xs[g]);
            a2 = llm_q4_acc(a2, d2, xsum[g], p2 + 2 * g, xs[g]);
            a3 = llm_q4_acc(a3, d3, xsum[g], p3 + 2 * g, xs[g]);
        }
        out[i] = a0;
        out[i + 1] = a1;
        out[i + 2] = a2;
        out[i + 3] = a3;
    }
    for (; i < d; i++) {
        const uint8_t *w0 = w + (size_t)i * rb;
        const uint16_t *p0 = wp + (size_t)i * ng * 2;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0;
            for (uint32_t c = g * gs; c < (g + 1) * gs; c += 32) {
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
    for (uint32_t i = 0; i < d; i++) {
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
void llm_cm55_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                        const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                        uint32_t gs) {
    if (gs == 16) {
        rows_halves(out, w, wp, xq, xs, xsum, d, n_pad);
    } else {
        rows_units(out, w, wp, xq, xs, xsum, d, n_pad, gs);
    }
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q4_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
