/* Cortex-M4F/M7/M33 softmax, bit-identical to llm_ref_softmax on a scalar
 * FPU (LLM_LANES 1): the same maximum, the same exp (llm__cm4_expf, equal to
 * llm__expf), the sum in index order, the same divides. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include "expf_cm4.h"

/* x(n) = exp(x - max) / sum, in place; n >= 1. */
void llm_cm4_softmax(float *x, uint32_t n) {
    float m = x[0];
    for (uint32_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    float sum = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = llm__cm4_expf(x[i] - m);
        sum += x[i];
    }
    for (uint32_t i = 0; i < n; i++) x[i] /= sum;
}

#else
typedef int llm_cm4_softmax_unused; /* ISO C wants a declaration per file */
#endif
