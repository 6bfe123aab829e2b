/* Reference rotary position embedding. */
#include <stddef.h>

#include "../kernels.h"

/* v(n_heads, head_size): rotate each pair (v[2j], v[2j+1]) of every head by
 * the angle with cos cs[2j] and sin cs[2j+1], cs (head_size/2, 2); head_size
 * even. The angles depend only on the position and j, so the caller computes
 * them once per position for all heads and for both q and k. */
void llm_ref_rope(float *v, uint32_t n_heads, uint32_t head_size, const float *cs) {
    for (uint32_t h = 0; h < n_heads; h++) {
        float *vh = v + (size_t)h * head_size;
        for (uint32_t i = 0; i + 1 < head_size; i += 2) {
            const float c = cs[i], s = cs[i + 1];
            const float v0 = vh[i], v1 = vh[i + 1];
            vh[i] = v0 * c - v1 * s;
            vh[i + 1] = v0 * s + v1 * c;
        }
    }
}
