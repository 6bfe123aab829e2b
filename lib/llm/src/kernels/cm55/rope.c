/* Cortex-M55 rotary position embedding in Helium. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM55

#include "vmath_cm55.h"

/* v(n_heads, head_size): rotate each pair (v[2j], v[2j+1]) of every head by
 * the angle with cos cs[2j] and sin cs[2j+1], cs (head_size/2, 2); head_size
 * even. A pair times its (cos, sin) is a complex product, which Helium does
 * on two pairs per vector: vcmul gives (a c, a s), vcmla rot90 adds
 * (-b s, b c). Heads whose size is not a multiple of 4 end in a predicated
 * half vector. */
void llm_cm55_rope(float *v, uint32_t n_heads, uint32_t head_size, const float *cs) {
    const uint32_t nb = head_size / 4u;
    const mve_pred16_t p = vctp32q(head_size % 4u);
    for (uint32_t h = 0; h < n_heads; h++) {
        float *vh = v + (size_t)h * head_size;
        for (uint32_t b = 0; b < nb; b++) {
            const float32x4_t x = vld1q_f32(vh + 4u * b), r = vld1q_f32(cs + 4u * b);
            vst1q_f32(vh + 4u * b, vcmlaq_rot90_f32(vcmulq_f32(x, r), x, r));
        }
        if (head_size % 4u) {
            float *vt = vh + 4u * nb;
            const float32x4_t x = vldrwq_z_f32(vt, p), r = vldrwq_z_f32(cs + 4u * nb, p);
            vstrwq_p_f32(vt, vcmlaq_rot90_f32(vcmulq_f32(x, r), x, r), p);
        }
    }
}

#else
typedef int llm_cm55_rope_unused; /* ISO C wants a declaration per file */
#endif
