/*
 * Target-neutral half of the ESP32-S3 kernels: how each weight row is cut so
 * ESP-DSP's dot products take their ESP32-S3 fast paths, and the mat-vec
 * driver around a dot-product function. Compiled in every build, so the
 * host tests check the cuts, tails and results; kernels_esp32s3.c only
 * supplies ESP-DSP's functions.
 *
 * Fast-path rule (ESP-DSP 1.8): dsps_dotprod_f32_aes3 needs both inputs
 * 16-byte aligned and a length that is a multiple of 4, else it runs its
 * generic loop. (lanes 16 with elem_size 1 cuts int8 rows the same way.)
 */
#ifndef LLM_S3_ROWS_H
#define LLM_S3_ROWS_H

#include <stdint.h>

/* One row's dot product as head + body + tail elements: body starts where
 * both the row and x are 16-byte aligned and is a multiple of `lanes`
 * (4 floats or 16 int8), so it takes the fast path; head and tail (fewer
 * than `lanes` each, or the whole row when the row and x can never be
 * aligned together) are summed in C. head + body + tail == n. */
typedef struct llm_s3_cut {
    uint32_t head, body, tail;
} llm_s3_cut;

/* Cut for row w and input x of n elements of elem_size bytes (4 for float,
 * 1 for int8); lanes is 4 or 16. Pointers must be elem_size-aligned. */
llm_s3_cut llm_s3_row_cut(const void *w, const void *x, uint32_t n, uint32_t elem_size,
                          uint32_t lanes);

/* ESP-DSP's float dot product signature: *dest = sum a[i] * b[i], i < len. */
typedef int (*llm_s3_dot_f32_fn)(const float *a, const float *b, float *dest, int len);

/* out(d) = w(d, n) @ x(n), each row as (body by dot) + head terms + tail
 * terms, in that order, so a row's bits depend only on its own data and
 * addresses (never on which rows share a call). d, n >= 0. */
void llm_s3_matvec_f32_with(float *out, const float *w, const float *x, uint32_t d, uint32_t n,
                            llm_s3_dot_f32_fn dot);

#endif /* LLM_S3_ROWS_H */
