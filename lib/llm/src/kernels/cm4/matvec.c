/* Cortex-M4F/M7/M33 float matrix-vector product: CMSIS-DSP's scalar
 * arm_mat_vec_mult_f32 (four rows per pass, each summed in column order). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <stddef.h>

#if LLM_CM4_MATVEC_CMSIS
#if defined(__has_include)
#if !__has_include("arm_math.h")
#error "LLM_CM4_MATVEC_CMSIS needs CMSIS-DSP (arm_math.h): add extra_scripts/build/cmsis_dsp.py to the environment's extra_scripts, or build with -DLLM_CM4_MATVEC_CMSIS=0 or -DLLM_BACKEND=LLM_BACKEND_REF"
#endif
#endif
#include "arm_math.h"
#endif

/* out(d) = w(d, n) @ x(n), w row-major; d, n >= 1; out must not alias w or x.
 * CMSIS-DSP counts rows and columns in uint16_t: wider rows take the
 * reference, taller matrices go in slices. */
void llm_cm4_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
#if LLM_CM4_MATVEC_CMSIS
    if (n <= 65535u) {
        while (d > 0) {
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
    llm_ref_matvec_f32(out, w, x, d, n);
}

#else
typedef int llm_cm4_matvec_unused; /* ISO C wants a declaration per file */
#endif
