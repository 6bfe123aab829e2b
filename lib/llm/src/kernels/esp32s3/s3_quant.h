/*
 * Target-neutral half of the ESP32-S3 int8/int4 mat-vecs: per group, one
 * int8 dot product by a function the backend supplies (ESP-DSP's
 * dsps_dp_s8 through llm_s3_dot_s8), then the reference's exact float
 * combination (kernels/ref/quantize.h), so outputs equal the reference bit
 * for bit. Compiled in every build, like s3_rows.c.
 *
 * Every q8 row and every group starts 16-byte aligned and holds a multiple
 * of 16 codes (BLOB_FORMAT.md), and so does the arena's activation buffer,
 * so each call takes dsps_dp_s8's aes3 path. Its over-read of up to 16 bytes
 * past each input stays inside the tensor (the group parameters follow the
 * codes) and the arena (xq has 16 spare bytes). q4 groups are unpacked to
 * int8 codes 0..15 in an aligned stack buffer first.
 */
#ifndef LLM_S3_QUANT_H
#define LLM_S3_QUANT_H

#include <stdint.h>

/* sum a[i] * b[i] over n int8 values (n a multiple of 16, inputs 16-byte
 * aligned with 16 readable bytes past their ends). */
typedef int32_t (*llm_s3_dot_s8_fn)(const int8_t *a, const int8_t *b, uint32_t n);

/* llm_ref_matvec_q8 with each group's int8 dot product by dot. */
void llm_s3_matvec_q8_with(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                           const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs,
                           llm_s3_dot_s8_fn dot);

/* llm_ref_matvec_q4 with each group's codes unpacked to int8 and dotted by dot. */
void llm_s3_matvec_q4_with(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                           const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                           uint32_t gs, llm_s3_dot_s8_fn dot);

#endif /* LLM_S3_QUANT_H */
