/* Cortex-M55 softmax and argmax in Helium. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <math.h>

#include "vmath_cm55.h"

/* Largest of x(n), n >= 1, ignoring NaNs unless all are NaN. */
static float max_of(const float *x, uint32_t n) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) mx = vmaxnmq_f32(mx, vld1q_f32(x + i));
    if (i < n) {
        const mve_pred16_t p = vctp32q(n - i);
        mx = vmaxnmq_m_f32(mx, mx, vldrwq_z_f32(x + i, p), p);
    }
    return vmaxnmvq_f32(-INFINITY, mx);
}

/* x(n) = exp(x - max) / sum, in place; n >= 1. */
void llm_cm55_softmax(float *x, uint32_t n) {
    const float32x4_t mx = vdupq_n_f32(max_of(x, n));
    float32x4_t sum = vdupq_n_f32(0.0f);
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        const float32x4_t e = llm__vexp(vsubq_f32(vld1q_f32(x + i), mx));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    const mve_pred16_t p = vctp32q(n - i);
    if (i < n) {
        const float32x4_t e = llm__vexp(vsubq_f32(vldrwq_z_f32(x + i, p), mx));
        vstrwq_p_f32(x + i, e, p);
        sum = vaddq_m_f32(sum, sum, e, p);
    }
    const float inv = 1.0f / llm__vsum(sum);
    for (i = 0; i + 4u <= n; i += 4u) vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    if (i < n) vstrwq_p_f32(x + i, vmulq_n_f32(vldrwq_z_f32(x + i, p), inv), p);
}

/* Index of the first largest element of x(n); n >= 1. As the reference
 * (which keeps the first x[i] > best): NaNs are never picked unless x[0] is
 * one, and -0 ties +0. The vector pass finds the largest value, the scalar
 * scan its first index: the scan stops there, so it reads about half of x
 * on average. */
uint32_t llm_cm55_argmax(const float *x, uint32_t n) {
    if (isnan(x[0])) return 0;
    const float m = max_of(x, n);
    uint32_t i = 0;
    while (x[i] != m) i++; /* m is a value of x, so the scan stops */
    return i;
}

#else
typedef int llm_cm55_softmax_unused; /* ISO C wants a declaration per file */
#endif
