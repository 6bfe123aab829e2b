/* Cortex-M55 float matrix-vector product: CMSIS-DSP's Helium mat-vec, and
 * Helium intrinsics for the widths it does not take. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include <stddef.h>

#include "vmath_cm55.h"

#if LLM_CM55_MATVEC_CMSIS
#if defined(__has_include)
#if !__has_include("arm_math.h")
#error "LLM_CM55_MATVEC_CMSIS needs CMSIS-DSP (arm_math.h): add extra_scripts/build/cmsis_dsp.py to the environment's extra_scripts, or build with -DLLM_CM55_MATVEC_CMSIS=0 or -DLLM_BACKEND=LLM_BACKEND_REF"
#endif
#endif
#include "arm_math.h"
#endif

/* Without scheduling, GCC 12 keeps rows4's four accumulators, x and one
 * weight vector in registers; its scheduler hoists the loads and spills an
 * accumulator to the stack on every iteration. */
#define NO_SCHED __attribute__((optimize("no-schedule-insns", "no-schedule-insns2")))

/* out[0..4) = rows w(4, n) @ x(n): four rows share each load of x; blocks
 * of 4 columns unpredicated, the last 1..3 columns under a tail predicate
 * (predicated-off lanes load nothing, so rows may end anywhere). */
static inline __attribute__((always_inline)) void rows4(float *out, const float *w,
                                                        const float *x, uint32_t n) {
    const float *w0 = w, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
#pragma GCC unroll 2
    for (uint32_t j = 0; j < n / 4u; j++) {
        const float32x4_t xv = vld1q_f32(x);
        a0 = vfmaq_f32(a0, vld1q_f32(w0), xv);
        a1 = vfmaq_f32(a1, vld1q_f32(w1), xv);
        a2 = vfmaq_f32(a2, vld1q_f32(w2), xv);
        a3 = vfmaq_f32(a3, vld1q_f32(w3), xv);
        x += 4;
        w0 += 4;
        w1 += 4;
        w2 += 4;
        w3 += 4;
    }
    if (n % 4u) { /* zeroed lanes add 0 * 0 */
        const mve_pred16_t p = vctp32q(n % 4u);
        const float32x4_t xv = vldrwq_z_f32(x, p);
        a0 = vfmaq_f32(a0, vldrwq_z_f32(w0, p), xv);
        a1 = vfmaq_f32(a1, vldrwq_z_f32(w1, p), xv);
        a2 = vfmaq_f32(a2, vldrwq_z_f32(w2, p), xv);
        a3 = vfmaq_f32(a3, vldrwq_z_f32(w3, p), xv);
    }
    llm__vsum4(out, a0, a1, a2, a3, vctp32q(4));
}

/* One row: w(n) . x(n). */
static float row1(const float *w, const float *x, uint32_t n) {
    float32x4_t a = vdupq_n_f32(0.0f);
    for (uint32_t j = 0; j < n / 4u; j++) {
        a = vfmaq_f32(a, vld1q_f32(w), vld1q_f32(x));
        w += 4;
        x += 4;
    }
    if (n % 4u) {
        const mve_pred16_t p = vctp32q(n % 4u);
        a = vfmaq_f32(a, vldrwq_z_f32(w, p), vldrwq_z_f32(x, p));
    }
    return llm__vsum(a);
}

/* out(d) = w(d, n) @ x(n), w row-major; d, n >= 1; out must not alias w or x.
 * With LLM_CM55_MATVEC_CMSIS, widths that are a multiple of 4 (every layer of
 * a llama2.c model) go to arm_mat_vec_mult_f32. Other widths take rows4:
 * CMSIS-DSP's last partial block multiplies a zeroed x by weights read past
 * the row, which gives NaN when those bytes hold an Inf or NaN pattern. */
NO_SCHED void llm_cm55_matvec_f32(float *out, const float *w, const float *x, uint32_t d,
                                  uint32_t n) {
#if LLM_CM55_MATVEC_CMSIS
    if (n % 4u == 0 && n <= 65535u) {
        while (d > 0) { /* CMSIS-DSP counts rows in uint16_t */
            const uint32_t rows = d < 65532u ? d : 65532u;
            const arm_matrix_instance_f32 m = {(uint16_t)rows, (uint16_t)n, (float32_t *)w};
            arm_mat_vec_mult_f32(&m, x, out);
            w += (size_t)rows * n;
            out += rows;
            d -= rows;
        }
        return;
    }
#endif
    uint32_t i = 0;
    for (; i + 4u <= d; i += 4u) rows4(out + i, w + (size_t)i * n, x, n);
    for (; i < d; i++) out[i] = row1(w + (size_t)i * n, x, n);
}

#else
typedef int llm_cm55_matvec_unused; /* ISO C wants a declaration per file */
#endif
