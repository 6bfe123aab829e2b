/* Cortex-M55 activation quantization (llm_ref_quantize_q8) in Helium: the
 * group's absolute maximum by VMAXNMA, then per 4 values one multiply by
 * 127 / amax, VCVTA (round to nearest, ties away from zero: the reference's
 * roundf rule), a narrowing byte store and a sum into xsum. Same values as
 * the reference bit for bit: a maximum is the same in any order, the scalar
 * steps (127 / amax, amax / 127) are the reference's, and x * id is one IEEE
 * multiply per lane either way; a subnormal the vector unit would flush
 * raises an FPSCR flag, and the call is then redone by the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <stddef.h>

#include "vmath_cm55.h"

/* One group: xq(gs), xs[0], xsum[0] from x(nr), nr in 0..gs real values
 * (the rest of the group is zero padding). gs is a multiple of 16. Pointers
 * step as they are read, so each vector costs its load and its arithmetic
 * only: 2 instructions per 4 values for the maximum, 5 for the codes. */
static inline __attribute__((always_inline)) void group_q8(int8_t *xq, float *xs, int32_t *xsum,
                                                           const float *x, uint32_t nr,
                                                           uint32_t gs) {
    const uint32_t nv = nr / 4u, rem = nr % 4u;
    float32x4_t m = vdupq_n_f32(0.0f);
    const float *p = x;
    for (uint32_t k = nv; k > 0u; k--) {
        m = vmaxnmaq_f32(m, vld1q_f32(p));
        p += 4;
    }
    if (rem) m = vmaxnmaq_f32(m, vldrwq_z_f32(p, vctp32q(rem))); /* zeros elsewhere */
    const float amax = vmaxnmavq_f32(0.0f, m);
    const float id = amax >= LLM_Q_AMAX_MIN ? 127.0f / amax : 0.0f;
    xs[0] = amax / 127.0f;
    int32_t sum = 0;
    int8_t *q = xq;
    p = x;
    for (uint32_t k = nv; k > 0u; k--) {
        const int32x4_t c = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(p), id));
        vstrbq_s32(q, c);
        sum = vaddvaq_s32(sum, c);
        p += 4;
        q += 4;
    }
    if (rem) { /* the group goes on past nr: the zeroed lanes store its padding */
        const int32x4_t c = vcvtaq_s32_f32(vmulq_n_f32(vldrwq_z_f32(p, vctp32q(rem)), id));
        vstrbq_s32(q, c);
        sum = vaddvaq_s32(sum, c);
        q += 4;
    }
    for (uint32_t j = (nv + (rem ? 1u : 0u)) * 4u; j < gs; j += 4u, q += 4) {
        vstrbq_s32(q, vdupq_n_s32(0));
    }
    xsum[0] = sum;
}

/* As llm_ref_quantize_q8: xq(n_pad), xs and xsum (n_pad / gs) from x(n). */
void llm_cm55_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                          uint32_t n_pad, uint32_t gs) {
    const uint32_t saved = llm__fp_flags_begin();
    for (uint32_t g0 = 0, g = 0; g0 < n_pad; g0 += gs, g++) {
        const uint32_t nr = g0 >= n ? 0u : (n - g0 < gs ? n - g0 : gs);
        group_q8(xq + g0, xs + g, xsum + g, nr ? x + g0 : x, nr, gs);
    }
    if (llm__fp_flags_end(saved)) llm_ref_quantize_q8(xq, xs, xsum, x, n, n_pad, gs);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_cm55_quantize_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_CM55 */
