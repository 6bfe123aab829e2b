/*
 * ESP32-S3 kernels (LLM_BACKEND_ESP32S3), through ESP-DSP. Included by
 * kernels.h only for this backend; every op not defined here falls back to
 * the reference.
 *
 *   llm_k_matvec_f32  row dot products with dsps_dotprod_f32, rows cut so
 *                     the aligned body takes the aes3 fast path (s3_rows.h);
 *                     a 16-byte-aligned blob with n % 4 == 0 (every llama2.c
 *                     model) has no head or tail at all.
 *   llm_s3_dot_s8     the int8 hook for quantized weights: dsps_dp_s8 when
 *                     the ESP-DSP in the build has it (LLM_S3_HAVE_DP_S8),
 *                     else a C loop.
 *   llm_k_matvec_q8   q8 / q4 weights: one llm_s3_dot_s8 per group, then
 *   llm_k_matvec_q4   the reference's float combination (s3_quant.h).
 *
 * The rest (rmsnorm, softmax, rope, attention over head_size-long vectors)
 * is short work where ESP-DSP's call overhead exceeds its gain on this
 * chip's scalar FPU: the reference C code serves.
 *
 * Build with LLM_S3_EMULATE_DSP=1 on a host to run this backend with C
 * stand-ins for ESP-DSP that count fast-path and slow-path calls
 * (boards/esp32s3.ini: env esp32s3_emu_test).
 */
#ifndef LLM_KERNELS_ESP32S3_H
#define LLM_KERNELS_ESP32S3_H

#include <stdint.h>

#include "s3_quant.h"
#include "s3_rows.h"

/* out(d) = w(d, n) @ x(n) through dsps_dotprod_f32. */
void llm_s3_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
#define llm_k_matvec_f32 llm_s3_matvec_f32

/* sum a[i] * b[i] over n int8 values. a and b must have LLM_S3_S8_OVERREAD
 * readable bytes past their ends when dsps_dp_s8 is used. */
int32_t llm_s3_dot_s8(const int8_t *a, const int8_t *b, uint32_t n);

/* q8 / q4 mat-vecs: one llm_s3_dot_s8 per group (s3_quant.h), bit-identical
 * to the reference. */
void llm_s3_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                      const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_s3_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                      const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                      uint32_t gs);
#define llm_k_matvec_q8 llm_s3_matvec_q8
#define llm_k_matvec_q4 llm_s3_matvec_q4

#if defined(LLM_S3_EMULATE_DSP) && LLM_S3_EMULATE_DSP
/* Calls of the emulated dsps_dotprod_f32 that met / missed the aes3 fast
 * path's alignment and length rules, since the last reset (tests). */
extern uint32_t llm_s3_emu_fast_calls, llm_s3_emu_slow_calls;
#endif

#endif /* LLM_KERNELS_ESP32S3_H */
