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
/* Without GCC 12's scheduler the gs-16 group loop's vectors fit the eight Q
 * registers (it hoists the scale gathers above the dots and spills the sum). */
#define NO_SCHED __attribute__((optimize("no-schedule-insns", "no-schedule-insns2")))

/* d + (low nibbles of b) . xl + (high nibbles of b) . xh. */
ALWAYS_INLINE int32_t unit_dot(int32_t d, uint8x16_t b, int8x16_t xl, int8x16_t xh) {
    d = vmladavaq_s8(d, vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), xl);
    return vmladavaq_s8(d, vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), xh);
}

/* One group of four rows: acc + isum * (scale * xs) + xsum * (offset * xs)
 * per lane, isum = {d0, d1, d2, d3}; p points at the group's (scale, offset)
 * pair of row 0, poff the halfword offsets of rows 0..3 from it. */
ALWAYS_INLINE float32x4_t acc4(float32x4_t acc, int32_t d0, int32_t d1, int32_t d2, int32_t d3,
                               const uint16_t *p, uint32x4_t poff, int32_t xsum, float xs) {
    const int32x4_t dv = llm__vmake4(d0, d1, d2, d3);
    const float32x4_t scale =
        vmulq_n_f32(llm__vbf16(vldrhq_gather_shifted_offset_u32(p, poff)), xs);
    const float32x4_t offset =
        vmulq_n_f32(llm__vbf16(vldrhq_gather_shifted_offset_u32(p + 1, poff)), xs);
    const float32x4_t group =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(dv), scale), vmulq_n_f32(offset, (float)xsum));
    return vaddq_f32(acc, group);
}

#if defined(__OPTIMIZE__) && defined(__GNUC__) && !defined(__clang__)
/* Rows first .. d - 1 one at a time, gs >= 32: a group is GS / 32 whole
 * units. Out of line: inlined next to blocks4, whose .rept GCC does not
 * count, its float constants would land out of a VLDR's reach. */
static __attribute__((noinline)) void rows_1(float *out, const uint8_t *w, const uint16_t *wp,
                                             const int8_t *xq, const float *xs,
                                             const int32_t *xsum, uint32_t first, uint32_t d,
                                             uint32_t n_pad, const uint32_t GS) {
    const uint32_t ng = n_pad / GS, rb = n_pad / 2;
    for (uint32_t i = first; i < d; i++) {
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

/* out(4 nb) = rows 0 .. 4 nb - 1 of w @ x, gs >= 32: four rows per block,
 * groups of (more + 1) llm_q4x32 units; nb >= 1, ng = n_pad / gs >= 1.
 * Per unit and row: one load, the low nibbles by a mask, the high by a
 * shift, two VMLADAVA.S8 into a core register (lane r is row r). Per group:
 * the four rows' (scale, offset) bf16 pairs in one word gather whose address
 * vector steps itself (VLDRW [Q, #4]!), split into floats by VSHLLB/VSHLLT,
 * then llm_q4_acc's operations in its order per lane. Between blocks the
 * pointers are rebuilt from themselves, as in matvec_q8.c.
 * GCC inline assembly as in matvec_q8.c: 39 instructions per group of 32
 * codes and four rows, 45 from the intrinsics; VMLADAV needs even registers
 * ("Te"). */
ALWAYS_INLINE void blocks4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                           const float *xs, const int32_t *xsum, uint32_t nb, uint32_t n_pad,
                           uint32_t ng, const unsigned more) {
    const uint32_t rb = n_pad / 2;
    const uint8_t *w0 = w, *w1 = w0 + rb, *w2 = w1 + rb, *w3 = w2 + rb;
    const int8_t *x = xq;
    /* Byte addresses of rows 0..3's first (scale, offset) pair, less the 4
     * the pre-indexed gather adds before its first load. */
    uint32x4_t qa = vaddq_n_u32(vmulq_n_u32(vidupq_n_u32(0u, 1), 4u * ng),
                                (uint32_t)(uintptr_t)wp - 4u);
    const uint8x16_t lo4 = vdupq_n_u8(0x0F);
    const float *const end = out + 4u * nb;
    int32_t d0, d1, d2, d3;
    float32x4_t acc;
#define LLM_Q4_UNIT(OP)                                                                            \
        "vldrb.u8     q0, [%[x]], #16\n"                                                           \
        "vldrb.u8     q1, [%[x]], #16\n"                                                           \
        "vldrb.u8     q2, [%[w0]], #16\n"                                                          \
        "vand         q3, q2, %q[lo4]\n"                                                           \
        "vshr.u8      q2, q2, #4\n"                                                                \
        OP "   %[d0], q3, q0\n"                                                                    \
        "vmladava.s8  %[d0], q2, q1\n"                                                             \
        "vldrb.u8     q2, [%[w1]], #16\n"                                                          \
        "vand         q3, q2, %q[lo4]\n"                                                           \
        "vshr.u8      q2, q2, #4\n"                                                                \
        OP "   %[d1], q3, q0\n"                                                                    \
        "vmladava.s8  %[d1], q2, q1\n"                                                             \
        "vldrb.u8     q2, [%[w2]], #16\n"                                                          \
        "vand         q3, q2, %q[lo4]\n"                                                           \
        "vshr.u8      q2, q2, #4\n"                                                                \
        OP "   %[d2], q3, q0\n"                                                                    \
        "vmladava.s8  %[d2], q2, q1\n"                                                             \
        "vldrb.u8     q2, [%[w3]], #16\n"                                                          \
        "vand         q3, q2, %q[lo4]\n"                                                           \
        "vshr.u8      q2, q2, #4\n"                                                                \
        OP "   %[d3], q3, q0\n"                                                                    \
        "vmladava.s8  %[d3], q2, q1\n"
    __asm__ volatile(
        "1:\n"
        "vmov.i32     %q[acc], #0\n"
        "ldr          %[d0], %[ng]\n"
        "dls          lr, %[d0]\n"
        "2:\n"
        LLM_Q4_UNIT("vmladav.s8 ")
        ".rept %c[more]\n"
        LLM_Q4_UNIT("vmladava.s8")
        ".endr\n"
        /* Per lane, llm_q4_acc in its order:
         * acc + (isum * (scale * xs) + xsum * (offset * xs)). */
        "vldrw.u32    q2, [%q[qa], #4]!\n"
        "vmov         q3[2], q3[0], %[d0], %[d2]\n"
        "vmov         q3[3], q3[1], %[d1], %[d3]\n"
        "ldr          %[d0], [%[xs]], #4\n"
        "ldr          %[d1], [%[xsum]], #4\n"
        "vshllb.u16   q0, q2, #16\n" /* scale */
        "vshllt.u16   q1, q2, #16\n" /* offset */
        "vmul.f32     q0, q0, %[d0]\n"
        "vmul.f32     q1, q1, %[d0]\n"
        "vcvt.f32.s32 q3, q3\n"
        "vdup.32      q2, %[d1]\n"
        "vcvt.f32.s32 q2, q2\n"
        "vmul.f32     q3, q3, q0\n"
        "vmul.f32     q2, q2, q1\n"
        "vadd.f32     q3, q3, q2\n"
        "vadd.f32     %q[acc], %q[acc], q3\n"
        "le           lr, 2b\n"
        /* Next block: rows 3 ng pairs on for the gather. */
        "vstrw.32     %q[acc], [%[out]], #16\n"
        "sub          %[d1], %[w3], %[w2]\n" /* row bytes, n_pad / 2 */
        "mov          %[w0], %[w3]\n"
        "add          %[w1], %[w3], %[d1]\n"
        "add          %[w2], %[w1], %[d1]\n"
        "add          %[w3], %[w2], %[d1]\n"
        "sub          %[x], %[x], %[d1], lsl #1\n"
        "ldr          %[d0], %[ng]\n"
        "sub          %[xs], %[xs], %[d0], lsl #2\n"
        "sub          %[xsum], %[xsum], %[d0], lsl #2\n"
        "add          %[d2], %[d0], %[d0], lsl #1\n"
        "lsl          %[d2], %[d2], #2\n"
        "vadd.i32     %q[qa], %q[qa], %[d2]\n"
        "ldr          %[d1], %[end]\n"
        "cmp          %[out], %[d1]\n"
        "bne          1b\n"
        : [acc] "=&w"(acc), [qa] "+w"(qa), [d0] "=&Te"(d0), [d1] "=&Te"(d1), [d2] "=&Te"(d2),
          [d3] "=&Te"(d3), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3),
          [x] "+r"(x), [xs] "+r"(xs), [xsum] "+r"(xsum), [out] "+r"(out)
        : [lo4] "w"(lo4), [ng] "m"(ng), [end] "m"(end), [more] "n"(more)
        : "q0", "q1", "q2", "q3", "lr", "cc", "memory");
#undef LLM_Q4_UNIT
}

/* cm55_q4_rows_<GS>: out(d) for gs >= 32, a macro so that blocks4's repeat
 * count is a literal (as in matvec_q8.c); the odd rows first, so that
 * nothing is live after the asm and GCC finds its registers. */
#define ROWS_FN(GS)                                                                                \
    static __attribute__((noinline)) void cm55_q4_rows_##GS(                                       \
        float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq, const float *xs,       \
        const int32_t *xsum, uint32_t d, uint32_t n_pad) {                                         \
        if (d % 4u) rows_1(out, w, wp, xq, xs, xsum, d - d % 4u, d, n_pad, (GS));                  \
        if (d >= 4u) {                                                                             \
            blocks4(out, w, wp, xq, xs, xsum, d / 4u, n_pad, n_pad / (GS), (GS) / 32u - 1u);       \
        }                                                                                          \
    }
#else
/* Other compilers and -O0 builds (see matvec_q8.c): the reference for the
 * four-row blocks. */
#define ROWS_FN(GS)                                                                                \
    static void cm55_q4_rows_##GS(float *out, const uint8_t *w, const uint16_t *wp,              \
                                  const int8_t *xq, const float *xs, const int32_t *xsum,          \
                                  uint32_t d, uint32_t n_pad) {                                    \
        llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, (GS));                               \
    }
#endif
ROWS_FN(32)
ROWS_FN(64)
ROWS_FN(128)
ROWS_FN(256)
#undef ROWS_FN

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
    case 32: cm55_q4_rows_32(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 64: cm55_q4_rows_64(out, w, wp, xq, xs, xsum, d, n_pad); break;
    case 128: cm55_q4_rows_128(out, w, wp, xq, xs, xsum, d, n_pad); break;
    default: cm55_q4_rows_256(out, w, wp, xq, xs, xsum, d, n_pad); break;
    }
    if (llm__fp_flags_end(saved)) llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, gs);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q4_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
