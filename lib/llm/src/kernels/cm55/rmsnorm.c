/* Cortex-M55 RMS normalization in Helium. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <math.h>

#include "vmath_cm55.h"

/* out(n) = w(n) * x(n) / sqrt(mean(x^2) + eps); n >= 1; out may alias x.
 * The sum of squares runs in 4 lanes (the reference sums in sequence); the
 * scaling keeps the reference's order, w * (s * x). */
void llm_cm55_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    uint32_t i = 0;
    for (; i + 4u <= n; i += 4u) {
        const float32x4_t xv = vld1q_f32(x + i);
        acc = vfmaq_f32(acc, xv, xv);
    }
    const mve_pred16_t p = vctp32q(n - i);
    if (i < n) {
        const float32x4_t xv = vldrwq_z_f32(x + i, p); /* zeroed lanes add 0 */
        acc = vfmaq_f32(acc, xv, xv);
    }
    const float s = 1.0f / sqrtf(llm__vsum(acc) / (float)n + eps);
    for (i = 0; i + 4u <= n; i += 4u) {
        vst1q_f32(out + i, vmulq_f32(vld1q_f32(w + i), vmulq_n_f32(vld1q_f32(x + i), s)));
    }
    if (i < n) {
        const float32x4_t y = vmulq_f32(vldrwq_z_f32(w + i, p), vmulq_n_f32(vldrwq_z_f32(x + i, p), s));
        vstrwq_p_f32(out + i, y, p);
    }
}

#else
typedef int llm_cm55_rmsnorm_unused; /* ISO C wants a declaration per file */
#endif
