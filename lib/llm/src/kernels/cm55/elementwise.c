/* Cortex-M55 element-wise ops in Helium: SwiGLU gate and residual add. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include "vmath_cm55.h"

/* silu(h) * g = h * g / (1 + e^-h). e^-h is taken at most e^86 so that the
 * reciprocal's first guess stays valid; below h = -86 silu is under 1e-35. */
static inline float32x4_t swiglu4(float32x4_t h, float32x4_t g) {
    const float32x4_t e = llm__vexp(vminnmq_f32(vnegq_f32(h), vdupq_n_f32(86.0f)));
    return vmulq_f32(vmulq_f32(h, llm__vrecip(vaddq_n_f32(e, 1.0f))), g);
}

/* hb(n) = silu(hb) * hb2, silu(v) = v * sigmoid(v); n >= 1. */
void llm_cm55_swiglu(float *hb, const float *hb2, uint32_t n) {
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) vst1q_f32(hb + i, swiglu4(vld1q_f32(hb + i), vld1q_f32(hb2 + i)));
    if (i < n) {
        const mve_pred16_t p = vctp32q(n - i);
        vstrwq_p_f32(hb + i, swiglu4(vldrwq_z_f32(hb + i, p), vldrwq_z_f32(hb2 + i, p)), p);
    }
}

/* x(n) += y(n); n >= 1. Element-wise, so bit-identical to the reference. */
void llm_cm55_add(float *x, const float *y, uint32_t n) {
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) vst1q_f32(x + i, vaddq_f32(vld1q_f32(x + i), vld1q_f32(y + i)));
    if (i < n) {
        const mve_pred16_t p = vctp32q(n - i);
        vstrwq_p_f32(x + i, vaddq_f32(vldrwq_z_f32(x + i, p), vldrwq_z_f32(y + i, p)), p);
    }
}

#else
typedef int llm_cm55_elementwise_unused; /* ISO C wants a declaration per file */
#endif
