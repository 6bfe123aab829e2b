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

#if !defined(__OPTIMIZE__) || !defined(__GNUC__) || defined(__clang__)
/* The fast path is GCC inline assembly ("Te" is GCC's even-register
 * constraint). Other compilers, and unoptimised (-O0) builds, which keep r7
 * as the frame pointer and leave too few core registers for blocks4's twelve
 * operands, use the reference. */
void llm_cm55_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
}
#else

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* out(4 nb) = rows 0 .. 4 nb - 1 of w(d, n_pad) @ x, four rows per block,
 * groups of 16 (more + 1) codes; nb >= 1, ng = n_pad / gs >= 1.
 * Per block and group: four VMLADAV dot products into core registers (lane r
 * is row r), moved into one vector, converted, times (the four rows' bf16
 * scales, one halfword gather at s + soff) * xs[g], added to acc.
 * Between blocks everything is rebuilt from the pointers themselves: row 3
 * ends where the next block starts, the last two row pointers differ by
 * n_pad, x has advanced n_pad and xs ng floats; s has passed row 0's ng
 * scales and moves on over rows 1..3's.
 * Inline assembly, as CMSIS-NN does for its s8 kernels: GCC 12 spills the
 * scale pointer and adds every row pointer separately (37 instructions per
 * group of 32 codes and about 28 per block); written out with post-increment
 * loads it is 29 and 17. VMLADAV needs even destination registers ("Te"). */
ALWAYS_INLINE void blocks4(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                           const float *xs, uint32_t nb, uint32_t n_pad, uint32_t ng,
                           const unsigned more) {
    const int8_t *w0 = w, *w1 = w0 + n_pad, *w2 = w1 + n_pad, *w3 = w2 + n_pad, *x = xq;
    const uint16_t *s = ws; /* (d, ng) */
    const uint32x4_t soff = vmulq_n_u32(vidupq_n_u32(0u, 1), ng); /* rows 0..3, halfwords */
    const float *const end = out + 4u * nb;
    int32_t d0, d1, d2, d3;
    float32x4_t acc;
    __asm__ volatile(
        "1:\n"
        "vmov.i32     %q[acc], #0\n"
        "ldr          %[d0], %[ng]\n"
        "dls          lr, %[d0]\n"
        "2:\n"
        "vldrb.u8     q0, [%[x]], #16\n"
        "vldrb.u8     q1, [%[w0]], #16\n"
        "vldrb.u8     q2, [%[w1]], #16\n"
        "vmladav.s8   %[d0], q1, q0\n"
        "vldrb.u8     q3, [%[w2]], #16\n"
        "vmladav.s8   %[d1], q2, q0\n"
        "vldrb.u8     q1, [%[w3]], #16\n"
        "vmladav.s8   %[d2], q3, q0\n"
        "vmladav.s8   %[d3], q1, q0\n"
        ".rept %c[more]\n"
        "vldrb.u8     q0, [%[x]], #16\n"
        "vldrb.u8     q1, [%[w0]], #16\n"
        "vldrb.u8     q2, [%[w1]], #16\n"
        "vmladava.s8  %[d0], q1, q0\n"
        "vldrb.u8     q3, [%[w2]], #16\n"
        "vmladava.s8  %[d1], q2, q0\n"
        "vldrb.u8     q1, [%[w3]], #16\n"
        "vmladava.s8  %[d2], q3, q0\n"
        "vmladava.s8  %[d3], q1, q0\n"
        ".endr\n"
        /* Per lane, llm_q_acc in its order: acc + isum * (ws * xs). */
        "vldrh.u32    q1, [%[s], %q[soff], uxtw #1]\n"
        "vmov         q2[2], q2[0], %[d0], %[d2]\n"
        "vmov         q2[3], q2[1], %[d1], %[d3]\n"
        "ldr          %[d0], [%[xs]], #4\n"
        "add          %[s], %[s], #2\n"
        "vshl.i32     q1, q1, #16\n"
        "vcvt.f32.s32 q2, q2\n"
        "vmul.f32     q1, q1, %[d0]\n"
        "vmul.f32     q2, q2, q1\n"
        "vadd.f32     %q[acc], %q[acc], q2\n"
        "le           lr, 2b\n"
        /* Next block. */
        "vstrw.32     %q[acc], [%[out]], #16\n"
        "sub          %[d1], %[w3], %[w2]\n" /* n_pad */
        "mov          %[w0], %[w3]\n"
        "add          %[w1], %[w3], %[d1]\n"
        "add          %[w2], %[w1], %[d1]\n"
        "add          %[w3], %[w2], %[d1]\n"
        "sub          %[x], %[x], %[d1]\n"
        "ldr          %[d0], %[ng]\n"
        "sub          %[xs], %[xs], %[d0], lsl #2\n"
        "add          %[s], %[s], %[d0], lsl #2\n" /* 3 ng halfwords */
        "add          %[s], %[s], %[d0], lsl #1\n"
        "ldr          %[d1], %[end]\n"
        "cmp          %[out], %[d1]\n"
        "bne          1b\n"
        : [acc] "=&w"(acc), [d0] "=&Te"(d0), [d1] "=&Te"(d1), [d2] "=&Te"(d2), [d3] "=&Te"(d3),
          [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [x] "+r"(x), [xs] "+r"(xs),
          [s] "+r"(s), [out] "+r"(out)
        : [soff] "w"(soff), [ng] "m"(ng), [end] "m"(end), [more] "n"(more)
        : "q0", "q1", "q2", "q3", "lr", "cc", "memory");
}

/* Rows first .. d - 1 one at a time (the d % 4 left over by the blocks).
 * Out of line: inlined next to blocks4, whose .rept GCC does not count, its
 * float constants could land out of a VLDR's reach. */
static __attribute__((noinline)) void rows_1(float *out, const int8_t *w, const uint16_t *ws,
                                             const int8_t *xq, const float *xs, uint32_t first,
                                             uint32_t d, uint32_t n_pad, const uint32_t GS) {
    const uint32_t ng = n_pad / GS;
    for (uint32_t i = first; i < d; i++) {
        const int8_t *r0 = w + (size_t)i * n_pad;
        const uint16_t *s0 = ws + (size_t)i * ng;
        float a0 = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            int32_t d0 = 0;
            for (uint32_t k = 0; k < GS; k += 16) {
                d0 = vmladavaq_s8(d0, vld1q_s8(r0 + g * GS + k), vld1q_s8(xq + g * GS + k));
            }
            a0 = llm_q_acc(a0, d0, s0[g], xs[g]);
        }
        out[i] = a0;
    }
}

/* cm55_q8_rows_<GS>: out(d) for one group size. A macro, so that blocks4's
 * repeat count is a literal however the file is optimised. One function per group
 * size, each out of line: GCC sizes an asm statement by its lines, not by
 * what .rept expands to, so with all five in one function the gs-256 copy
 * pushes a literal pool out of reach. */
#define ROWS_FN(GS)                                                                                \
    static __attribute__((noinline)) void cm55_q8_rows_##GS(float *out, const int8_t *w,           \
                                                    const uint16_t *ws, const int8_t *xq,          \
                                                    const float *xs, uint32_t d,                   \
                                                    uint32_t n_pad) {                              \
        /* The odd rows first: with nothing live after the asm, GCC finds registers. */            \
        if (d % 4u) rows_1(out, w, ws, xq, xs, d - d % 4u, d, n_pad, (GS));                        \
        if (d >= 4u) blocks4(out, w, ws, xq, xs, d / 4u, n_pad, n_pad / (GS), (GS) / 16u - 1u);    \
    }
ROWS_FN(16)
ROWS_FN(32)
ROWS_FN(64)
ROWS_FN(128)
ROWS_FN(256)
#undef ROWS_FN

/* out(d) = w(d, n_pad) @ x, as llm_ref_matvec_q8; rows and groups are whole
 * multiples of 16 codes, so no tail predication is needed. */
void llm_cm55_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    if (n_pad == 0u) { /* no groups: every dot product is empty */
        for (uint32_t i = 0; i < d; i++) out[i] = 0.0f;
        return;
    }
    const uint32_t saved = llm__fp_flags_begin();
    switch (gs) {
    case 16: cm55_q8_rows_16(out, w, ws, xq, xs, d, n_pad); break;
    case 32: cm55_q8_rows_32(out, w, ws, xq, xs, d, n_pad); break;
    case 64: cm55_q8_rows_64(out, w, ws, xq, xs, d, n_pad); break;
    case 128: cm55_q8_rows_128(out, w, ws, xq, xs, d, n_pad); break;
    default: cm55_q8_rows_256(out, w, ws, xq, xs, d, n_pad); break;
    }
    if (llm__fp_flags_end(saved)) llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
}
#endif /* __OPTIMIZE__ */

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_matvec_q8_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
