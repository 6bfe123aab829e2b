/* Reference softmax and argmax. */
#include <stddef.h>

#include "../kernels.h"
#include "expf.h"
#include "ref.h"

/* Largest of x(n), n >= 1. A maximum does not depend on the order it is
 * taken in (up to the sign of a zero, which exp(x - max) ignores), so the
 * lanes change only speed. */
static float max_of(const float *x, uint32_t n) {
    float mx[LLM_LANES];
    LLM_LANE_LOOP (uint32_t k = 0; k < LLM_LANES; k++) mx[k] = x[0];
    uint32_t i = 0;
    for (; i + LLM_LANES <= n; i += LLM_LANES) {
        LLM_LANE_LOOP (uint32_t k = 0; k < LLM_LANES; k++) mx[k] = x[i + k] > mx[k] ? x[i + k] : mx[k];
    }
    float m = x[0];
    for (uint32_t k = 0; k < LLM_LANES; k++) m = mx[k] > m ? mx[k] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* x(n) = exp(x - max) / sum, in place; n >= 1. The sum uses lanes (a fixed
 * order, not llama2.c's sequential one): in attention it runs once per head
 * and position, and a sequential sum is one add latency per element. */
void llm_ref_softmax(float *x, uint32_t n) {
    const float max_val = max_of(x, n);
    for (uint32_t i = 0; i < n; i++) x[i] = llm__expf(x[i] - max_val);
    float acc[LLM_LANES] = {0};
    size_t i = 0;
    for (; i + LLM_LANES <= n; i += LLM_LANES) {
        LLM_LANE_LOOP (size_t k = 0; k < LLM_LANES; k++) acc[k] += x[i + k];
    }
    float sum = llm__lane_sum(acc, LLM_LANES);
    for (; i < n; i++) sum += x[i];
    for (i = 0; i < n; i++) x[i] /= sum;
}

/* Index of the first largest element of x(n); n >= 1. NaNs are never picked
 * unless x[0] is one. */
uint32_t llm_ref_argmax(const float *x, uint32_t n) {
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (x[i] > x[best]) best = i;
    }
    return best;
}
