/* Cortex-M4F/M7/M33 activation quantization, equal to llm_ref_quantize_q8:
 * the same group maximum (taken on the magnitude bits: for finite floats
 * their order as integers is the order of |x|), the same scale and
 * reciprocal, the same products, and rounding half away from zero: one
 * VCVTA on Armv8-M (its floating-point extension has it), the reference's
 * truncate-and-compare elsewhere. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <string.h>

/* roundf(v) for |v| < 2^23, as the reference's round_away. */
static inline int32_t round_away(float v) {
#if __ARM_ARCH >= 8
    float r;
    __asm__("vcvta.s32.f32 %0, %1" : "=t"(r) : "t"(v));
    int32_t q;
    memcpy(&q, &r, sizeof q);
    return q;
#else
    const int32_t t = (int32_t)v;
    const float r = v - (float)t;
    return t + (r >= 0.5f) - (r <= -0.5f);
#endif
}

/* As llm_ref_quantize_q8 (ref/quantize.c): x(n) finite, n <= n_pad, n_pad a
 * multiple of gs. */
void llm_cm4_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                         uint32_t n_pad, uint32_t gs) {
    for (uint32_t g0 = 0; g0 < n_pad; g0 += gs) {
        const uint32_t end = g0 + gs < n ? g0 + gs : (g0 < n ? n : g0); /* real values */
        uint32_t mb = 0; /* largest magnitude's bits */
        for (uint32_t j = g0; j < end; j++) {
            uint32_t u;
            memcpy(&u, &x[j], sizeof u);
            u &= 0x7fffffffu;
            mb = u > mb ? u : mb;
        }
        float amax;
        memcpy(&amax, &mb, sizeof amax);
        const float id = amax >= LLM_Q_AMAX_MIN ? 127.0f / amax : 0.0f;
        xs[g0 / gs] = amax / 127.0f;
        uint32_t j = g0;
        int32_t sum = 0;
        for (; j < end; j++) {
            const int32_t q = round_away(x[j] * id);
            xq[j] = (int8_t)q;
            sum += q;
        }
        for (; j < g0 + gs; j++) xq[j] = 0;
        xsum[g0 / gs] = sum;
    }
}

#else
typedef int llm_cm4_quantize_unused; /* ISO C wants a declaration per file */
#endif
