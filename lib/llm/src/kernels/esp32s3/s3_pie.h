/*
 * ESP32-S3 PIE (SIMD) kernels of our own for the q8 / q4 mat-vecs
 * (pie_q8.S, pie_q4.S) and the int8-KV attention's scores (pie_dots.S):
 * the assembly computes only exact int32 dot products. pie_matvec.c adds
 * the groups of a row in order through the reference's llm_q_acc /
 * llm_q4_acc, attention_q8.c scales each score as the reference does, so
 * outputs equal llm_ref_matvec_q8 / q4 and llm_ref_attention_q8 bit for bit.
 *
 * LLM_S3_PIE is 1 where the assembly exists: an Xtensa build for an
 * ESP32-S3 (sdkconfig.h) with LLM_BACKEND_ESP32S3. This
 * header is also read by the .S files (__ASSEMBLER__: macros only).
 */
#ifndef LLM_S3_PIE_H
#define LLM_S3_PIE_H

#include "llm_config.h" /* the library's include folder, on every include path */

#if defined(__XTENSA__) && defined(__has_include)
#if __has_include("sdkconfig.h")
#include "sdkconfig.h"
#endif
#endif

#if defined(__XTENSA__) && defined(CONFIG_IDF_TARGET_ESP32S3) && LLM_BACKEND == LLM_BACKEND_ESP32S3
#define LLM_S3_PIE 1
#else
#define LLM_S3_PIE 0
#endif

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Group sums, one entry point per group size gs (the _gNN suffix):
 *   isum(rows, ng)  isum[r * ng + g] = sum over the gs codes of group g of
 *                   row r of code * xq[g * gs + j], exact int32 (ACCX, 40 bits)
 *   w               row r starts at w + r * stride bytes; a row's ng groups
 *                   are contiguous: q8 ng * gs int8 codes, q4 ng * gs / 2
 *                   bytes of llm_q4x32 units (codes 0..15)
 *   xq(ng * gs)     int8 activation quants, shared by every row
 * Rules: rows >= 1, ng >= 1; w, stride and xq multiples of 16 bytes (every
 * vector load ignores the low 4 address bits); q4 with gs 16: ng even (a
 * unit is two groups: its low nibbles, then its high nibbles). Reads exactly
 * the rows' codes and ng * gs bytes of xq, nothing past them. Clobbers
 * q0..q4, q7 (q4 mask), ACCX and SAR. */
void llm_s3_pie_q8_g16(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q8_g32(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q8_g64(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q8_g128(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                        uint32_t ng, uint32_t stride);
void llm_s3_pie_q8_g256(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                        uint32_t ng, uint32_t stride);
void llm_s3_pie_q4_g16(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q4_g32(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q4_g64(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                       uint32_t ng, uint32_t stride);
void llm_s3_pie_q4_g128(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                        uint32_t ng, uint32_t stride);
void llm_s3_pie_q4_g256(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                        uint32_t ng, uint32_t stride);

/* Int8 dots of one query with n rows (pie_dots.S), for the int8-KV
 * attention's scores: out[j] = sum over the nb * 16 bytes i of q[i] *
 * k[j * step + i], exact int32. k, q and step multiples of 16 bytes (every
 * vector load ignores the low 4 address bits); n >= 1, 1 <= nb <= 17. Reads
 * exactly nb vectors of q and of each row. Clobbers q0, q1 and ACCX. */
void llm_s3_pie_dots_s8(int32_t *out, const int8_t *k, const int8_t *q, uint32_t n, uint32_t nb,
                        uint32_t step);

/* The mat-vecs, with llm_ref_matvec_q8 / llm_ref_matvec_q4's contracts and
 * bits. The fast path needs w and xq 16-byte aligned (every row then is:
 * n_pad is a multiple of 16, q4 rows of 32); other pointers take the
 * reference. */
void llm_s3_pie_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                          const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_s3_pie_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                          const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                          uint32_t gs);
#endif /* __ASSEMBLER__ */

#endif /* LLM_S3_PIE_H */
