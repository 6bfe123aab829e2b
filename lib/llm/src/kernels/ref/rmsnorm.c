/* Reference RMS normalization. */
#include <math.h>

#include "../kernels.h"

/* out(n) = w(n) * x(n) / sqrt(mean(x^2) + eps); n >= 1; out may alias x.
 * Sums in sequence as llama2.c does: n is small next to the mat-vecs, and the
 * same order keeps results identical to it. */
void llm_ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps) {
    float ss = 0.0f;
    for (uint32_t j = 0; j < n; j++) ss += x[j] * x[j];
    ss /= (float)n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (uint32_t j = 0; j < n; j++) out[j] = w[j] * (ss * x[j]);
}
