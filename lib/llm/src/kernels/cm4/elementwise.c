/* Cortex-M4F/M7/M33 SwiGLU gate: llm_ref_swiglu's operations in its order,
 * with llm__cm4_expf (equal to llm__expf): bit-identical to the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include "expf_cm4.h"

/* hb(n) = silu(hb) * hb2, silu(v) = v * sigmoid(v); hb and hb2 distinct. */
void llm_cm4_swiglu(float *hb, const float *hb2, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        float val = hb[i];
        val *= (1.0f / (1.0f + llm__cm4_expf(-val)));
        hb[i] = val * hb2[i];
    }
}

#else
typedef int llm_cm4_elementwise_unused; /* ISO C wants a declaration per file */
#endif
