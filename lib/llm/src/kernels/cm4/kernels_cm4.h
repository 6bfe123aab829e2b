/*
 * Cortex-M4F / M7 / M33 backend (Armv7E-M, Armv8-M Mainline: the DSP
 * extension and a single-precision FPU, no vector unit). Included by
 * kernels.h when LLM_BACKEND == LLM_BACKEND_CM4; every op not named here
 * runs the reference (attention over an fp16 cache among them).
 *
 *   matvec_f32       CMSIS-DSP's scalar arm_mat_vec_mult_f32 (matvec.c)
 *   matvec_q8 / _q4  the DSP extension's dual 16-bit multiply-accumulate
 *                    (SMLAD; inline assembly and ACLE intrinsics)
 *   attention        fp32 cache: VLDM loads and unfused VMLA (attention.c)
 *   attention_q8     int8 cache: SXTB16 + SMLAD scores, VMLA weighted sum
 *                    (attention_q8.c)
 *   quantize_q8      the reference's steps; VCVTA rounding on Armv8-M
 *   softmax, swiglu  the reference's exp, its in-range path written out
 *                    (expf_cm4.h)
 *
 * All are bit-identical to the reference, which the device tests check:
 * the integer dot products are exact in any order, and every float step is
 * the reference's operation in the reference's order on a scalar FPU
 * (LLM_LANES 1): CMSIS-DSP's scalar mat-vec sums each row in column order
 * without fused multiply-adds, and VMLA / VMLS round the product before
 * the sum, as separate instructions do.
 */
#ifndef LLM_KERNELS_CM4_H
#define LLM_KERNELS_CM4_H

#include <stdint.h>

/* fp32 mat-vec through CMSIS-DSP's arm_mat_vec_mult_f32 (1) or the
 * reference (0; no CMSIS-DSP needed). */
#ifndef LLM_CM4_MATVEC_CMSIS
#define LLM_CM4_MATVEC_CMSIS 1
#endif

/* out(d) = w(d, n) @ x(n); any d, n >= 1. */
void llm_cm4_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
/* q8 / q4 mat-vecs, arguments as llm_ref_matvec_q8 / llm_ref_matvec_q4. */
void llm_cm4_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_cm4_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs);

/* One head over an fp32 cache, as llm_ref_attention (k, v (n_pos, stride)). */
void llm_cm4_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);

/* One head over an int8 cache with bf16 scales, as llm_ref_attention_q8
 * (k, v (n_pos, stride) int8, ks, vs (n_pos, sstride) bf16, qq(hs)). */
void llm_cm4_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                          const uint16_t *ks, const int8_t *v, const uint16_t *vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *att);

/* x(n) = softmax(x), max-subtracted, as llm_ref_softmax; n >= 1. */
void llm_cm4_softmax(float *x, uint32_t n);

/* hb(n) = silu(hb) * hb2, as llm_ref_swiglu; n >= 1. */
void llm_cm4_swiglu(float *hb, const float *hb2, uint32_t n);

/* Activation quantization, as llm_ref_quantize_q8. */
void llm_cm4_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                         uint32_t n_pad, uint32_t gs);

#define llm_k_matvec_f32 llm_cm4_matvec_f32
#define llm_k_quantize_q8 llm_cm4_quantize_q8
#define llm_k_swiglu llm_cm4_swiglu
#define llm_k_softmax llm_cm4_softmax
#define llm_k_attention llm_cm4_attention
#define llm_k_attention_q8 llm_cm4_attention_q8
#define llm_k_matvec_q8 llm_cm4_matvec_q8
#define llm_k_matvec_q4 llm_cm4_matvec_q4

#endif /* LLM_KERNELS_CM4_H */
