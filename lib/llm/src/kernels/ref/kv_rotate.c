/* Reference re-rotation of cached keys: RoPE by a position delta, in place,
 * for each KV cache type. RoPE rotations compose, so keys rotated for
 * position p become keys for p - d when rotated once more by -d. */
#include <stddef.h>

#include "../kernels.h"

/* k(n_rows, n_heads, hs) float32 rows, each rotated as llm_ref_rope does by
 * the angles cs (hs/2, 2). */
void llm_ref_kv_rotate_f32(float *k, uint32_t n_rows, uint32_t n_heads, uint32_t hs,
                           const float *cs) {
    const size_t row = (size_t)n_heads * hs;
    for (size_t r = 0; r < n_rows; r++) llm_ref_rope(k + r * row, n_heads, hs, cs);
}

/* The same for half rows: each row read to tmp(n_heads * hs) as float32,
 * rotated, stored back rounded to nearest even. */
void llm_ref_kv_rotate_f16(uint16_t *k, uint32_t n_rows, uint32_t n_heads, uint32_t hs,
                           const float *cs, float *tmp) {
    const size_t row = (size_t)n_heads * hs;
    for (size_t r = 0; r < n_rows; r++) {
        uint16_t *kr = k + r * row;
        for (size_t i = 0; i < row; i++) tmp[i] = llm_f16_to_f32(kr[i]);
        llm_ref_rope(tmp, n_heads, hs, cs);
        llm_ref_kv_store_f16(kr, tmp, (uint32_t)row);
    }
}

/* The same for int8 rows k(n_rows, n_heads, hs) with bf16 scales
 * scale(n_rows, n_heads): dequantized to tmp(n_heads * hs), rotated, then
 * quantized again as llm_ref_kv_store_q8 does, with a new scale per head. */
void llm_ref_kv_rotate_q8(int8_t *k, uint16_t *scale, uint32_t n_rows, uint32_t n_heads,
                          uint32_t hs, const float *cs, float *tmp) {
    const size_t row = (size_t)n_heads * hs;
    for (size_t r = 0; r < n_rows; r++) {
        int8_t *kr = k + r * row;
        uint16_t *sr = scale + r * n_heads;
        for (size_t h = 0; h < n_heads; h++) {
            const float s = llm_bf16_to_f32(sr[h]);
            for (size_t i = 0; i < hs; i++) tmp[h * hs + i] = (float)kr[h * hs + i] * s;
        }
        llm_ref_rope(tmp, n_heads, hs, cs);
        llm_ref_kv_store_q8(kr, sr, tmp, n_heads, hs);
    }
}
