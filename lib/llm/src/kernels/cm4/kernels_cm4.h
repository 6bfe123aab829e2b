/*
 * Cortex-M4F / M7 / M33 backend (Armv7E-M, Armv8-M Mainline: the DSP
 * extension and a single-precision FPU, no vector unit): CMSIS-DSP for the
 * fp32 mat-vec, the DSP extension's dual 16-bit multiply-accumulate (SMLAD,
 * through ACLE intrinsics) for the q8 / q4 mat-vecs. Included by kernels.h
 * when LLM_BACKEND == LLM_BACKEND_CM4; every op not named here runs the
 * reference (attention over every cache type among them).
 *
 * All three are bit-identical to the reference: the integer dot products are
 * exact in any order, the per-group float steps are llm_q_acc / llm_q4_acc
 * in the reference's order, and CMSIS-DSP's scalar mat-vec sums each row in
 * column order without fused multiply-adds, as the reference does with
 * LLM_LANES 1 (the lane count of a scalar FPU).
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

#define llm_k_matvec_f32 llm_cm4_matvec_f32
#define llm_k_matvec_q8 llm_cm4_matvec_q8
#define llm_k_matvec_q4 llm_cm4_matvec_q4

#endif /* LLM_KERNELS_CM4_H */
