/* Small NEON helpers shared by this backend's kernels. Included only from
 * files already guarded by LLM_BACKEND == LLM_BACKEND_NEON. */
#ifndef LLM_VEC_NEON_H
#define LLM_VEC_NEON_H

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "the NEON backend needs an AArch64 compiler"
#endif

#include <arm_neon.h>
#include <stdint.h>

#include "kernels_neon.h"

#define LLM_NEON_INLINE static inline __attribute__((always_inline))

/* acc + a * b: fused with LLM_NEON_FMA, else rounded after the multiply. */
LLM_NEON_INLINE float32x4_t llm__neon_mla(float32x4_t acc, float32x4_t a, float32x4_t b) {
#if LLM_NEON_FMA
    return vfmaq_f32(acc, a, b);
#else
    return vaddq_f32(acc, vmulq_f32(a, b));
#endif
}

/* The same with a scalar b. */
LLM_NEON_INLINE float32x4_t llm__neon_mla_n(float32x4_t acc, float32x4_t a, float b) {
#if LLM_NEON_FMA
    return vfmaq_n_f32(acc, a, b);
#else
    return vaddq_f32(acc, vmulq_n_f32(a, b));
#endif
}

/* llm__lane_sum of eight lanes lo = a0..a3, hi = a4..a7:
 * ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)). */
LLM_NEON_INLINE float llm__neon_sum8(float32x4_t lo, float32x4_t hi) {
    const float32x4_t p = vpaddq_f32(lo, hi); /* a0+a1, a2+a3, a4+a5, a6+a7 */
    const float32x4_t q = vpaddq_f32(p, p);   /* lo sum, hi sum, ... */
    return vgetq_lane_f32(q, 0) + vgetq_lane_f32(q, 1);
}

/* Lane r = llm__lane_sum of the four lanes of a_r: (x0 + x1) + (x2 + x3). */
LLM_NEON_INLINE float32x4_t llm__neon_sum4x4(float32x4_t a0, float32x4_t a1, float32x4_t a2,
                                             float32x4_t a3) {
    return vpaddq_f32(vpaddq_f32(a0, a1), vpaddq_f32(a2, a3));
}

/* Lane r = the sum of the four lanes of a_r (integers: exact in any order). */
LLM_NEON_INLINE int32x4_t llm__neon_isum4x4(int32x4_t a0, int32x4_t a1, int32x4_t a2,
                                            int32x4_t a3) {
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

/* acc + the dot products of w(16) and x(16) int8, four int32 partial sums.
 * Without SDOT: products widened to int16 (|w x| <= 128 * 127), two summed
 * per lane (<= 32512, no overflow), then added pairwise into int32. */
LLM_NEON_INLINE int32x4_t llm__neon_dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if LLM_NEON_DOTPROD
    return vdotq_s32(acc, w, x);
#else
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    p = vmlal_high_s8(p, w, x);
    return vpadalq_s16(acc, p);
#endif
}

/* Four bf16 bit patterns as floats (exact). */
LLM_NEON_INLINE float32x4_t llm__neon_bf16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    uint16x4_t h = vdup_n_u16(a);
    h = vset_lane_u16(b, h, 1);
    h = vset_lane_u16(c, h, 2);
    h = vset_lane_u16(d, h, 3);
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

#endif /* LLM_VEC_NEON_H */
