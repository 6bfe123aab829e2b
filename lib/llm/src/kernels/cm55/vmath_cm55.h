/*
 * Helium (MVE) helpers shared by the Cortex-M55 kernels: exp, reciprocal and
 * lane sums on float32x4_t. Include only from cm55 files, inside their
 * LLM_BACKEND == LLM_BACKEND_CM55 guard (arm_mve.h needs -mcpu=cortex-m55).
 */
#ifndef LLM_VMATH_CM55_H
#define LLM_VMATH_CM55_H

#include <arm_mve.h>
#include <stdint.h>

/* (v0 + v1) + (v2 + v3): the reference's lane_sum order for 4 lanes. */
static inline float llm__vsum(float32x4_t v) {
    /* vrev64 swaps neighbours: lanes 0 and 2 then hold v0 + v1 and v2 + v3. */
    const float32x4_t t = vaddq_f32(v, vrev64q_f32(v));
    return vgetq_lane_f32(t, 0) + vgetq_lane_f32(t, 2);
}

/* out[0..4) = the lane sums of a0..a3, each as (l0 + l1) + (l2 + l3), stored
 * under predicate p. vst4 transposes the four vectors through memory, so
 * four vector adds replace twelve lane moves and scalar adds. */
static inline void llm__vsum4(float *out, float32x4_t a0, float32x4_t a1, float32x4_t a2,
                              float32x4_t a3, mve_pred16_t p) {
    float t[16] __attribute__((aligned(16))); /* (4 lanes, 4 vectors) */
    const float32x4x4_t v = {{a0, a1, a2, a3}};
    vst4q_f32(t, v);
    vstrwq_p_f32(out, vaddq_f32(vaddq_f32(vld1q_f32(t), vld1q_f32(t + 4)),
                                vaddq_f32(vld1q_f32(t + 8), vld1q_f32(t + 12))), p);
}

/* bf16 bits (zero-extended in 32-bit lanes, as a halfword gather leaves
 * them) to float: exact. */
static inline float32x4_t llm__vbf16(uint32x4_t b) {
    return vreinterpretq_f32_u32(vshlq_n_u32(b, 16));
}

/* x(n) *= s; n >= 1. */
static inline void llm__vscale(float *x, uint32_t n, float s) {
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), s));
    if (i < n) {
        const mve_pred16_t p = vctp32q(n - i);
        vstrwq_p_f32(x + i, vmulq_n_f32(vldrwq_z_f32(x + i, p), s), p);
    }
}

/* e^x per lane for x in [-86, 88], relative error a few 1e-7 (the softmax
 * and SwiGLU kernels built on it stay within 2e-7 of the expf-based
 * reference in the device tests). Inputs outside are clamped to that range,
 * so e^-inf gives about 4e-38, not 0: negligible next to the softmax terms
 * it is summed with. NaN gives e^-86.
 * x = n ln2 + r, |r| <= ln2/2, e^r by its degree-6 Taylor polynomial
 * (truncation error below 1.2e-7 relative), 2^n added to the exponent bits;
 * the clamp keeps n in -124..127 so the result stays a normal float. */
static inline float32x4_t llm__vexp(float32x4_t x) {
    x = vmaxnmq_f32(x, vdupq_n_f32(-86.0f));
    x = vminnmq_f32(x, vdupq_n_f32(88.0f));
    const int32x4_t n = vcvtnq_s32_f32(vmulq_n_f32(x, 1.44269504f));
    const float32x4_t nf = vcvtq_f32_s32(n);
    /* ln2 in two parts: n * 0.693359375 is exact for |n| < 2^15. */
    float32x4_t r = vfmaq_n_f32(x, nf, -0.693359375f);
    r = vfmaq_n_f32(r, nf, 2.12194440e-4f);
    float32x4_t p = vfmaq_n_f32(vdupq_n_f32(1.0f / 120.0f), r, 1.0f / 720.0f);
    p = vfmasq_n_f32(p, r, 1.0f / 24.0f);
    p = vfmasq_n_f32(p, r, 1.0f / 6.0f);
    p = vfmasq_n_f32(p, r, 0.5f);
    p = vfmasq_n_f32(p, r, 1.0f);
    p = vfmasq_n_f32(p, r, 1.0f);
    return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), vshlq_n_s32(n, 23)));
}

/* 2^y per lane for y <= 0 (a softmax argument in base 2), accurate as
 * llm__vexp for y >= -124; smaller y is clamped there (about 5e-38). y = n + f,
 * |f| <= 1/2 exactly, 2^f = e^(f ln2) by the degree-6 Taylor polynomial in f
 * (coefficients ln2^k / k!, truncation error below 1.2e-7 relative). */
static inline float32x4_t llm__vexp2_neg(float32x4_t y) {
    y = vmaxnmq_f32(y, vdupq_n_f32(-124.0f));
    const int32x4_t n = vcvtnq_s32_f32(y);
    const float32x4_t f = vsubq_f32(y, vcvtq_f32_s32(n));
    float32x4_t p = vfmaq_n_f32(vdupq_n_f32(1.3333558e-3f), f, 1.5403530e-4f);
    p = vfmasq_n_f32(p, f, 9.6181291e-3f);
    p = vfmasq_n_f32(p, f, 5.5504109e-2f);
    p = vfmasq_n_f32(p, f, 2.4022651e-1f);
    p = vfmasq_n_f32(p, f, 6.9314718e-1f);
    p = vfmasq_n_f32(p, f, 1.0f);
    return vreinterpretq_f32_s32(vaddq_s32(vreinterpretq_s32_f32(p), vshlq_n_s32(n, 23)));
}

/* 1/d per lane for normal positive d below 2^125, to a few ulp: a bit-trick
 * first guess (error under 1/8), then three Newton steps r' = r (2 - d r),
 * each of which squares the relative error. Helium has no vector divide. */
static inline float32x4_t llm__vrecip(float32x4_t d) {
    float32x4_t r = vreinterpretq_f32_s32(
        vsubq_s32(vdupq_n_s32(0x7EF311C3), vreinterpretq_s32_f32(d)));
    for (int i = 0; i < 3; i++) r = vmulq_f32(r, vfmsq_f32(vdupq_n_f32(2.0f), d, r));
    return r;
}

/* {d0, d1, d2, d3} from core registers: two VMOVs of a register pair into
 * two lanes each. No intrinsic names that form of VMOV, and GCC 12 builds
 * vcreateq's 64-bit halves through the stack, so it is written out. */
static inline int32x4_t llm__vmake4(int32_t d0, int32_t d1, int32_t d2, int32_t d3) {
    int32x4_t v;
    /* VMOV Qd[i + 2], Qd[i], Rt, Rt2 puts Rt in lane i and Rt2 in lane i + 2
     * (the order GCC's own vcreateq code uses). */
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\tvmov %q0[3], %q0[1], %2, %4"
            : "=w"(v)
            : "r"(d0), "r"(d1), "r"(d2), "r"(d3));
    return v;
}

/* FPSCR cumulative exception flags that mark a result the vector unit may
 * have computed differently from the scalar FPU: IOC (invalid), DZC, OFC,
 * UFC (underflow) and IDC (input denormal). Helium float instructions run
 * with the standard FPSCR value (flush-to-zero, default NaN) while scalar
 * code runs with FZ = 0, so the two agree bit for bit except where a
 * subnormal is flushed (raising UFC or IDC) or an invalid / infinite case
 * occurs. Bit-exact kernels clear these flags, run, and redo the call with
 * the reference when any is set. IXC (inexact) is not among them. */
#define LLM__FP_FLAGS 0x8FU

/* Clears the LLM__FP_FLAGS in FPSCR; returns FPSCR as it was, for
 * llm__fp_flags_end. */
static inline uint32_t llm__fp_flags_begin(void) {
    const uint32_t saved = __builtin_arm_get_fpscr();
    __builtin_arm_set_fpscr(saved & ~LLM__FP_FLAGS);
    return saved;
}

/* Nonzero if any of LLM__FP_FLAGS was raised since llm__fp_flags_begin; puts
 * back the flags that were set before it (the caller's cumulative flags stay
 * cumulative). */
static inline int llm__fp_flags_end(uint32_t saved) {
    const uint32_t now = __builtin_arm_get_fpscr();
    if ((saved & LLM__FP_FLAGS) != 0U) __builtin_arm_set_fpscr(now | (saved & LLM__FP_FLAGS));
    return (now & LLM__FP_FLAGS) != 0U;
}

#endif /* LLM_VMATH_CM55_H */
