/* AArch64 NEON argmax: the index of the first largest element, as the
 * reference (which keeps the first x[i] > best): NaNs are never picked
 * unless x[0] is one, and -0 ties +0. The largest value first, in two
 * 4-lane maxima kept by compare-and-select (v > m ? v : m, so a NaN keeps
 * m, as in the reference), then the first index holding it, 4 at a time.
 * Greedy sampling calls it once per token over the vocabulary (32000 for
 * stories15M). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_NEON

#include "vec_neon.h"

LLM_NEON_INLINE float32x4_t keep_greater(float32x4_t v, float32x4_t m) {
    return vbslq_f32(vcgtq_f32(v, m), v, m);
}

uint32_t llm_neon_argmax(const float *x, uint32_t n) {
    if (x[0] != x[0]) return 0;
    float32x4_t m0 = vdupq_n_f32(x[0]), m1 = m0;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        m0 = keep_greater(vld1q_f32(x + i), m0);
        m1 = keep_greater(vld1q_f32(x + i + 4), m1);
    }
    m0 = keep_greater(m1, m0);
    float lanes[4];
    vst1q_f32(lanes, m0);
    float m = x[0];
    for (int k = 0; k < 4; k++) m = lanes[k] > m ? lanes[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;

    const float32x4_t mb = vdupq_n_f32(m);
    for (i = 0; i + 4 <= n; i += 4) {
        if (vmaxvq_u32(vceqq_f32(vld1q_f32(x + i), mb)) != 0) break;
    }
    while (x[i] != m) i++; /* m is a value of x, so the scan stops */
    return i;
}

#else
typedef int llm_neon_argmax_unused; /* ISO C wants a declaration per file */
#endif
