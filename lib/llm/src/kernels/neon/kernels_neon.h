/*
 * AArch64 NEON backend (LLM_BACKEND_NEON): Raspberry Pi 4 / 5 and other
 * Armv8-A Linux boards. Included by kernels.h only for this backend; every
 * op not named here runs the reference.
 *
 *   matvec_f32     four rows per pass, two 4-lane accumulators per row: the
 *                  reference's eight lanes (LLM_LANES 8) and its lane-sum
 *                  tree (matvec.c)
 *   attention      fp32 cache: the reference's blocking (four positions per
 *                  score pass, eight outputs per weighted-sum pass) in
 *                  vectors (attention.c)
 *   matvec_q8/_q4  int32 group dots (SDOT when the compiler targets the
 *                  dot-product extension, else SMULL/SMLAL2 + SADALP), then
 *                  llm_q_acc / llm_q4_acc's float steps for four rows in one
 *                  vector (matvec_q8.c, matvec_q4.c)
 *   attention_q8   int8 cache: the scores' int8 dots as in the mat-vecs, the
 *                  weighted sum over positions in the reference's order,
 *                  sixteen outputs per pass (attention_q8.c)
 *   argmax         the largest value in vectors, then its first index
 *                  (argmax.c)
 *
 * Exactness: by default every kernel here is bit for bit the reference (the
 * integer sums are exact in any order; every float step is the reference's
 * operation, unfused, in its order; the fp32 kernels assume the reference's
 * default LLM_LANES 8), so text equals the reference build's. With
 * LLM_NEON_FMA 1 the fp32 mat-vec and attention fuse their multiply-adds:
 * results then differ by rounding (test/helpers/kernels_np.py
 * DISPATCH_RTOL), which is enough to change greedy text (stories260K with
 * q8 weights, "Once upon a time", after about 400 bytes).
 *
 * The library is built without floating-point contraction (-std=c99 or
 * -ffp-contract=off): GCC's arm_neon.h writes vmulq_f32 / vaddq_f32 as C
 * operators, which contraction would fuse.
 */
#ifndef LLM_KERNELS_NEON_H
#define LLM_KERNELS_NEON_H

#include <stdint.h>

/* Fused multiply-adds in the fp32 mat-vec and attention (1), or a separate
 * multiply and add, bit-identical to the reference (0, the default). */
#ifndef LLM_NEON_FMA
#define LLM_NEON_FMA 0
#endif

/* The int8 dot-product instruction SDOT (Armv8.2-A dot-product extension:
 * Cortex-A55/A76, Raspberry Pi 5 with -mcpu=cortex-a76 or
 * -march=armv8.2-a+dotprod). On when the compiler targets it; a Raspberry
 * Pi 4 (Cortex-A72) lacks it and gets the Armv8.0 multiply-long path. */
#ifndef LLM_NEON_DOTPROD
#if defined(__ARM_FEATURE_DOTPROD) && __ARM_FEATURE_DOTPROD
#define LLM_NEON_DOTPROD 1
#else
#define LLM_NEON_DOTPROD 0
#endif
#endif
#if LLM_NEON_DOTPROD && !(defined(__ARM_FEATURE_DOTPROD) && __ARM_FEATURE_DOTPROD)
#error "LLM_NEON_DOTPROD needs a compiler target with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

/* out(d) = w(d, n) @ x(n); any d, n >= 1; out must not alias w or x. */
void llm_neon_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
/* llm_ref_attention's contract (kernels.h); att holds the weights on return. */
void llm_neon_attention(float *out, const float *q, const float *k, const float *v,
                        uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* llm_ref_matvec_q8 / llm_ref_matvec_q4's contracts and bits (kernels.h). */
void llm_neon_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_neon_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                        const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                        uint32_t gs);
/* llm_ref_argmax's contract and result (kernels.h). */
uint32_t llm_neon_argmax(const float *x, uint32_t n);
/* llm_ref_attention_q8's contract and bits (kernels.h). */
void llm_neon_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                           const uint16_t *ks, const int8_t *v, const uint16_t *vs,
                           uint32_t n_pos, uint32_t hs, uint32_t stride, uint32_t sstride,
                           float *att);

#define llm_k_matvec_f32 llm_neon_matvec_f32
#define llm_k_attention llm_neon_attention
#define llm_k_matvec_q8 llm_neon_matvec_q8
#define llm_k_matvec_q4 llm_neon_matvec_q4
#define llm_k_attention_q8 llm_neon_attention_q8
#define llm_k_argmax llm_neon_argmax

#endif /* LLM_KERNELS_NEON_H */
