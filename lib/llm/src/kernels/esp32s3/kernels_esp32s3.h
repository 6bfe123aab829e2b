/*
 * ESP32-S3 kernels (LLM_BACKEND_ESP32S3). Included by kernels.h only for
 * this backend; every op not defined here falls back to the reference.
 *
 *   llm_k_matvec_f32  row dot products with ESP-DSP's dsps_dotprod_f32 (its
 *                     aes3 path), rows cut so the aligned body takes it
 *                     (s3_rows.h); a 16-byte-aligned blob with n % 4 == 0
 *                     (every llama2.c model) has no head or tail at all.
 *   llm_k_matvec_q8   q8 / q4 weights: our PIE assembly (pie_q8.S,
 *   llm_k_matvec_q4   pie_q4.S) for each group's int32 dot product, the
 *                     reference's float combination (s3_pie.h), so the bits
 *                     are the reference's.
 *
 *   llm_k_attention   attention.c: C for the scalar FPU, q and up to 8
 *                     outputs held in registers across positions, madd.s,
 *                     its own exp pass and one divide per output.
 *   llm_k_attention_q8  attention_q8.c (int8 cache): the scores' int8 dots
 *                     in our PIE assembly (pie_dots.S), the weighted sum on
 *                     the scalar FPU in the reference's order, so its bits.
 *
 * The rest (rmsnorm, softmax, rope) is short work where a library call costs
 * more than it saves on this chip's scalar FPU: the reference C code serves.
 */
#ifndef LLM_KERNELS_ESP32S3_H
#define LLM_KERNELS_ESP32S3_H

#include <stdint.h>

#include "s3_pie.h"
#include "s3_rows.h"

/* out(d) = w(d, n) @ x(n) through dsps_dotprod_f32. */
void llm_s3_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
#define llm_k_matvec_f32 llm_s3_matvec_f32

/* llm_ref_attention's contract (kernels.h), sums in another order. */
void llm_s3_attention(float *out, const float *q, const float *k, const float *v, uint32_t n_pos,
                      uint32_t hs, uint32_t stride, float *att);
#define llm_k_attention llm_s3_attention
/* llm_ref_attention_q8's contract and bits (kernels.h). */
void llm_s3_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                         const uint16_t *ks, const int8_t *v, const uint16_t *vs, uint32_t n_pos,
                         uint32_t hs, uint32_t stride, uint32_t sstride, float *att);
#define llm_k_attention_q8 llm_s3_attention_q8

#if LLM_S3_PIE
#define llm_k_matvec_q8 llm_s3_pie_matvec_q8
#define llm_k_matvec_q4 llm_s3_pie_matvec_q4
#endif

#if defined(LLM_S3_COUNT_DOTCALLS) && LLM_S3_COUNT_DOTCALLS
/* Test builds only (the test firmware sets it): calls of dsps_dotprod_f32
 * that met / missed its aes3 fast path's rules (16-byte-aligned inputs,
 * length a multiple of 4) since the tests last zeroed them (esp_plan
 * dotcalls). Counted from one core at a time (the tests use one worker). */
extern uint32_t llm_s3_fast_calls, llm_s3_slow_calls;
#endif

#endif /* LLM_KERNELS_ESP32S3_H */
