/* Reference element-wise ops: SwiGLU gate and residual add. */

#include "../kernels.h"
#include "expf.h"

/* hb(n) = silu(hb) * hb2, silu(v) = v * sigmoid(v); hb and hb2 distinct. */
void llm_ref_swiglu(float *hb, const float *hb2, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        float val = hb[i];
        val *= (1.0f / (1.0f + llm__expf(-val)));
        hb[i] = val * hb2[i];
    }
}

/* x(n) += y(n); x and y distinct. */
void llm_ref_add(float *x, const float *y, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) x[i] += y[i];
}
