/*
 * The one dispatch point for compute kernels. Reference kernels (kernels/ref/)
 * are always compiled. A backend header may define llm_k_<op> to its own
 * variant; every op it leaves undefined falls back to the reference.
 * Call sites use llm_k_<op> only.
 */
#ifndef LLM_KERNELS_H
#define LLM_KERNELS_H

#include <stdint.h>

#include "llm_config.h"

/* out(d) = w(d, n) @ x(n), w row-major. */
void llm_ref_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
/* out(n) = w(n) * x(n) / sqrt(mean(x^2) + eps); out may alias x. */
void llm_ref_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);
/* x(n) = softmax(x), max-subtracted. */
void llm_ref_softmax(float *x, uint32_t n);
/* Rotate pairs (v[2j], v[2j+1]) of each of n_heads heads of head_size by the
 * angle whose cos, sin are cs[2j], cs[2j+1]; v is (n_heads, head_size). */
void llm_ref_rope(float *v, uint32_t n_heads, uint32_t head_size, const float *cs);
/* hb(n) = silu(hb) * hb2. */
void llm_ref_swiglu(float *hb, const float *hb2, uint32_t n);
/* x(n) += y(n). */
void llm_ref_add(float *x, const float *y, uint32_t n);
/* One attention head over positions 0..n_pos-1:
 * att(n_pos) = softmax(q(hs) . k[t](hs) / sqrt(hs)), out(hs) = sum_t att[t] v[t].
 * k, v are (n_pos, stride) with the head's hs values at the start of each row;
 * att is scratch, its contents on return are the backend's own. */
void llm_ref_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* Index of the first largest element of x(n). */
uint32_t llm_ref_argmax(const float *x, uint32_t n);

/* Quantized weights and KV caches; layouts and exact conversions in
 * ref/quantize.h. Integer kernels must match the reference bit for bit. */
/* xq(n_pad) int8, xs(n_pad/gs) = x(n) quantized per group of gs, zero-padded;
 * xsum(n_pad/gs) the sum of each group's quants. */
void llm_ref_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                         uint32_t n_pad, uint32_t gs);
/* out(d) = w(d, n_pad) @ x for int8 rows w with bf16 scales ws(d, n_pad/gs)
 * and x quantized as xq(n_pad), xs(n_pad/gs). */
void llm_ref_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
/* The same for int4 codes, rows of n_pad/2 bytes (llm_q4x32 units), with
 * bf16 (scale, offset) pairs wp(d, n_pad/gs, 2); xsum as from quantize. */
void llm_ref_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs);
/* out(n) = one q8 / q4 row dequantized (embedding lookup); params are the
 * row's bf16 scales (q8) or (scale, offset) pairs (q4). */
void llm_ref_dequant_q8(float *out, const int8_t *q, const uint16_t *params, uint32_t n,
                        uint32_t gs);
void llm_ref_dequant_q4(float *out, const uint8_t *q, const uint16_t *params, uint32_t n,
                        uint32_t gs);
/* Store one position's (n) keys or values in an fp16 cache. */
void llm_ref_kv_store_f16(uint16_t *dst, const float *src, uint32_t n);
/* Store one position's (n_heads, hs) keys or values in an int8 cache with a
 * bf16 scale per head. */
void llm_ref_kv_store_q8(int8_t *dst, uint16_t *scale, const float *src, uint32_t n_heads,
                         uint32_t hs);
/* llm_ref_attention over an fp16 cache (k, v: (n_pos, stride) half bits). */
void llm_ref_attention_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v,
                           uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* llm_ref_attention over an int8 cache with scales ks, vs (n_pos, sstride),
 * for a query quantized as the cache is (llm_ref_kv_store_q8 of one head):
 * qq(hs) int8 with scale qs, so each score's dot product is an exact int32. */
void llm_ref_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                          const uint16_t *ks, const int8_t *v, const uint16_t *vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *att);
/* Re-rotate cached keys by a position delta (context shift): n_rows rows
 * (n_rows, n_heads, hs), each rotated as llm_ref_rope by cs (hs/2, 2) =
 * cos, sin of -delta * freq_j. The f16 / q8 variants dequantize a row into
 * tmp (n_heads * hs floats), rotate and store it again as llm_ref_kv_store_*
 * do; q8 rows get new per-head scales, scale (n_rows, n_heads). */
void llm_ref_kv_rotate_f32(float *k, uint32_t n_rows, uint32_t n_heads, uint32_t hs,
                           const float *cs);
void llm_ref_kv_rotate_f16(uint16_t *k, uint32_t n_rows, uint32_t n_heads, uint32_t hs,
                           const float *cs, float *tmp);
void llm_ref_kv_rotate_q8(int8_t *k, uint16_t *scale, uint32_t n_rows, uint32_t n_heads,
                          uint32_t hs, const float *cs, float *tmp);

#include "ref/quantize.h"

#if LLM_BACKEND == LLM_BACKEND_CM55
#include "cm55/kernels_cm55.h"
#elif LLM_BACKEND == LLM_BACKEND_ESP32S3
#include "esp32s3/kernels_esp32s3.h"
#elif LLM_BACKEND == LLM_BACKEND_CM4
#include "cm4/kernels_cm4.h"
#elif LLM_BACKEND == LLM_BACKEND_X86
#include "x86/kernels_x86.h"
#elif LLM_BACKEND == LLM_BACKEND_NEON
#include "neon/kernels_neon.h"
#endif

#ifndef llm_k_matvec_f32
#define llm_k_matvec_f32 llm_ref_matvec_f32
#endif
#ifndef llm_k_rmsnorm
#define llm_k_rmsnorm llm_ref_rmsnorm
#endif
#ifndef llm_k_softmax
#define llm_k_softmax llm_ref_softmax
#endif
#ifndef llm_k_rope
#define llm_k_rope llm_ref_rope
#endif
#ifndef llm_k_swiglu
#define llm_k_swiglu llm_ref_swiglu
#endif
#ifndef llm_k_add
#define llm_k_add llm_ref_add
#endif
#ifndef llm_k_attention
#define llm_k_attention llm_ref_attention
#endif
#ifndef llm_k_argmax
#define llm_k_argmax llm_ref_argmax
#endif
#ifndef llm_k_quantize_q8
#define llm_k_quantize_q8 llm_ref_quantize_q8
#endif
#ifndef llm_k_matvec_q8
#define llm_k_matvec_q8 llm_ref_matvec_q8
#endif
#ifndef llm_k_matvec_q4
#define llm_k_matvec_q4 llm_ref_matvec_q4
#endif
#ifndef llm_k_dequant_q8
#define llm_k_dequant_q8 llm_ref_dequant_q8
#endif
#ifndef llm_k_dequant_q4
#define llm_k_dequant_q4 llm_ref_dequant_q4
#endif
#ifndef llm_k_kv_store_f16
#define llm_k_kv_store_f16 llm_ref_kv_store_f16
#endif
#ifndef llm_k_kv_store_q8
#define llm_k_kv_store_q8 llm_ref_kv_store_q8
#endif
#ifndef llm_k_attention_f16
#define llm_k_attention_f16 llm_ref_attention_f16
#endif
#ifndef llm_k_attention_q8
#define llm_k_attention_q8 llm_ref_attention_q8
#endif
#ifndef llm_k_kv_rotate_f32
#define llm_k_kv_rotate_f32 llm_ref_kv_rotate_f32
#endif
#ifndef llm_k_kv_rotate_f16
#define llm_k_kv_rotate_f16 llm_ref_kv_rotate_f16
#endif
#ifndef llm_k_kv_rotate_q8
#define llm_k_kv_rotate_q8 llm_ref_kv_rotate_q8
#endif

#endif /* LLM_KERNELS_H */
