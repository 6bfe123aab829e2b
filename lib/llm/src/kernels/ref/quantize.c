/* Reference quantization of activations and dequantization of weight rows. */
#include <math.h>

#include "../kernels.h"

/* roundf(v) for |v| < 2^23 without a libm call (roundf is one on x86
 * without SSE4.1): truncate, then step away from zero when the exact
 * remainder is at least one half. Same result for every such v. */
static inline int32_t round_away(float v) {
    const int32_t t = (int32_t)v;
    const float r = v - (float)t; /* exact: v and t share sign and exponent range */
    return t + (r >= 0.5f) - (r <= -0.5f);
}

/* Largest |x[j]| for j in begin..end-1 (0 when empty). A maximum is the same
 * in any order, so partial maxima in lanes vectorize without changing it. */
LLM_REF_EXACT
static float abs_max(const float *x, uint32_t begin, uint32_t end) {
    float m[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t j = begin;
    for (; j + 4 <= end; j += 4) {
        for (uint32_t k = 0; k < 4; k++) {
            const float a = fabsf(x[j + k]);
            m[k] = a > m[k] ? a : m[k];
        }
    }
    for (; j < end; j++) {
        const float a = fabsf(x[j]);
        m[0] = a > m[0] ? a : m[0];
    }
    const float m01 = m[0] > m[1] ? m[0] : m[1], m23 = m[2] > m[3] ? m[2] : m[3];
    return m01 > m23 ? m01 : m23;
}

/* xq(n_pad), xs(n_pad / gs) = x(n) in int8 groups of gs: for each group,
 * amax = max |x|, xs = amax / 127, q = roundf(x * (127 / amax)) (half away
 * from zero; 0 when amax < LLM_Q_AMAX_MIN); values n..n_pad-1 are 0.
 * xsum(n_pad / gs) gets each group's sum of q (for q4 offsets). n_pad is a multiple of gs,
 * n <= n_pad; x finite. Every backend must give these exact values. */
LLM_REF_EXACT
void llm_ref_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                         uint32_t n_pad, uint32_t gs) {
    for (uint32_t g0 = 0; g0 < n_pad; g0 += gs) {
        const uint32_t end = g0 + gs < n ? g0 + gs : (g0 < n ? n : g0); /* real values */
        const float amax = abs_max(x, g0, end);
        const float id = amax >= LLM_Q_AMAX_MIN ? 127.0f / amax : 0.0f;
        xs[g0 / gs] = amax / 127.0f;
        uint32_t j = g0;
        int32_t sum = 0;
        /* |x * id| <= 127 up to one rounding, so the result stays in -127..127. */
        for (; j < end; j++) {
            const int32_t q = round_away(x[j] * id);
            xq[j] = (int8_t)q;
            sum += q;
        }
        for (; j < g0 + gs; j++) xq[j] = 0;
        xsum[g0 / gs] = sum;
    }
}

/* out(n) = row of a q8 tensor: q(n) times params(n_groups), its bf16 scales. */
LLM_REF_EXACT
void llm_ref_dequant_q8(float *out, const int8_t *q, const uint16_t *params, uint32_t n,
                        uint32_t gs) {
    for (uint32_t j = 0; j < n; j++) out[j] = (float)q[j] * llm_bf16_to_f32(params[j / gs]);
}

/* out(n) = row of a q4 tensor (llm_q4x32 units): code * scale + offset with
 * params(n_groups, 2) the row's bf16 (scale, offset) pairs. */
LLM_REF_EXACT
void llm_ref_dequant_q4(float *out, const uint8_t *q, const uint16_t *params, uint32_t n,
                        uint32_t gs) {
    for (uint32_t j = 0; j < n; j++) {
        const uint8_t b = q[(j / 32U) * 16U + (j % 16U)];
        const int code = (j % 32U) < 16U ? (b & 0x0F) : (b >> 4);
        const uint16_t *p = params + 2U * (j / gs);
        const float v = (float)code * llm_bf16_to_f32(p[0]);
        out[j] = v + llm_bf16_to_f32(p[1]);
    }
}
