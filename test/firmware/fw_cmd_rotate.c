/*
 * rotkernel <f32|f16|q8> <n_rows> <n_heads> <hs> <scale> <seed>
 *     The dispatched llm_k_kv_rotate_<type> and the reference on the same
 *     pseudo-random key rows (n_rows, n_heads, hs) and angles. Prints the
 *     inputs, then both outputs: cs=<hs/2 (cos, sin) pairs as floats>
 *     in=<rows> [in_scale=<bf16 LE hex>] k=<rows> ref=<rows>
 *     [k_scale= ref_scale=], rows as float bits (f32) or LE hex of the
 *     stored half / int8 codes. Draws (xorshift64*, fw_rng.h): the angles
 *     a_j = 4 * (2f - 1), then per value scale * (2f - 1) (f32; f16: that
 *     rounded to half) or an int8 code (u32 % 255) - 127 (q8), then for q8
 *     the scales, top bf16 bits of scale / 127 * (0.25 + f).
 */
#include <math.h>
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_rng.h"
#include "fw_state.h"
#include "kernels/kernels.h"

static float draw(rng *r, float scale) {
    return scale * (2.0f * rng_f32(r) - 1.0f);
}

static void out_u16(const char *key, const uint16_t *v, size_t n) {
    fw_out_key(key);
    if (n == 0) fw_out_str("-");
    for (size_t i = 0; i < n; i++) {
        const uint8_t b[2] = {(uint8_t)(v[i] & 0xFFU), (uint8_t)(v[i] >> 8)};
        fw_out_hex(b, 2);
    }
}

void fw_cmd_rotkernel(const char *cmd, char *args) {
    char *type = fw_word(&args);
    uint32_t n_rows, nh, hs;
    float scale;
    uint64_t seed;
    const int t = type == NULL ? -1 : strcmp(type, "f32") == 0 ? 0 : strcmp(type, "f16") == 0 ? 1
                                  : strcmp(type, "q8") == 0    ? 2 : -1;
    if (t < 0 || fw_parse_u32(fw_word(&args), &n_rows) != 0 || fw_parse_u32(fw_word(&args), &nh) != 0 ||
        fw_parse_u32(fw_word(&args), &hs) != 0 || fw_parse_f32(fw_word(&args), &scale) != 0 ||
        fw_parse_u64(fw_word(&args), &seed) != 0 || n_rows == 0 || nh == 0 || hs < 2 || hs % 2 ||
        n_rows > 4096 || nh > 64 || hs > 256) {
        fw_reply_error(cmd, "usage");
        return;
    }
    rng r = {seed != 0 ? seed : 1};
    const size_t n = (size_t)n_rows * nh * hs, ns = (size_t)n_rows * nh;
    const size_t elem = t == 0 ? sizeof(float) : t == 1 ? sizeof(uint16_t) : 1;
    float *cs = fw_port_alloc(hs * sizeof(float));               /* (hs/2, 2) */
    uint8_t *in = fw_port_alloc(n * elem);                        /* (n_rows, nh, hs) */
    uint8_t *k = fw_port_alloc(n * elem), *ref = fw_port_alloc(n * elem);
    uint16_t *s_in = fw_port_alloc(ns * sizeof(uint16_t));        /* (n_rows, nh) q8 */
    uint16_t *s_k = fw_port_alloc(ns * sizeof(uint16_t)), *s_ref = fw_port_alloc(ns * sizeof(uint16_t));
    float *tmp = fw_port_alloc((size_t)nh * hs * sizeof(float));  /* (nh * hs) */
    if (!cs || !in || !k || !ref || !s_in || !s_k || !s_ref || !tmp) {
        fw_reply_error(cmd, "out_of_memory");
    } else {
        for (uint32_t j = 0; j < hs / 2; j++) {
            const float a = draw(&r, 4.0f);
            cs[2 * j] = cosf(a);
            cs[2 * j + 1] = sinf(a);
        }
        for (size_t i = 0; i < n; i++) {
            if (t == 0) {
                ((float *)(void *)in)[i] = draw(&r, scale);
            } else if (t == 1) {
                ((uint16_t *)(void *)in)[i] = llm_f32_to_f16(draw(&r, scale));
            } else {
                ((int8_t *)in)[i] = (int8_t)((int)(rng_u32(&r) % 255U) - 127);
            }
        }
        for (size_t i = 0; t == 2 && i < ns; i++) {
            const float f = scale / 127.0f * (0.25f + rng_f32(&r));
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            s_in[i] = (uint16_t)(u >> 16);
        }
        memcpy(k, in, n * elem);
        memcpy(ref, in, n * elem);
        memcpy(s_k, s_in, ns * sizeof(uint16_t));
        memcpy(s_ref, s_in, ns * sizeof(uint16_t));
        if (t == 0) {
            llm_k_kv_rotate_f32((float *)(void *)k, n_rows, nh, hs, cs);
            llm_ref_kv_rotate_f32((float *)(void *)ref, n_rows, nh, hs, cs);
        } else if (t == 1) {
            llm_k_kv_rotate_f16((uint16_t *)(void *)k, n_rows, nh, hs, cs, tmp);
            llm_ref_kv_rotate_f16((uint16_t *)(void *)ref, n_rows, nh, hs, cs, tmp);
        } else {
            llm_k_kv_rotate_q8((int8_t *)k, s_k, n_rows, nh, hs, cs, tmp);
            llm_ref_kv_rotate_q8((int8_t *)ref, s_ref, n_rows, nh, hs, cs, tmp);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("cs", cs, hs);
        if (t == 0) {
            fw_out_kv_f32_hex("in", (const float *)(const void *)in, n);
            fw_out_kv_f32_hex("k", (const float *)(const void *)k, n);
            fw_out_kv_f32_hex("ref", (const float *)(const void *)ref, n);
        } else {
            fw_out_kv_hex("in", in, n * elem);
            fw_out_kv_hex("k", k, n * elem);
            fw_out_kv_hex("ref", ref, n * elem);
        }
        if (t == 2) {
            out_u16("in_scale", s_in, ns);
            out_u16("k_scale", s_k, ns);
            out_u16("ref_scale", s_ref, ns);
        }
        fw_out_end();
    }
    fw_port_free(cs);
    fw_port_free(in);
    fw_port_free(k);
    fw_port_free(ref);
    fw_port_free(s_in);
    fw_port_free(s_k);
    fw_port_free(s_ref);
    fw_port_free(tmp);
}
