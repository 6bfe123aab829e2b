/*
 * Cortex-M55 backend: CMSIS-DSP where it has a fitting kernel (the fp32
 * mat-vec), hand-written Helium (MVE) intrinsics for the rest. Included by
 * kernels.h when LLM_BACKEND == LLM_BACKEND_CM55; every op named here
 * replaces the reference, the others fall back to it.
 *
 * Float results differ from the reference by reassociation (4-lane sums),
 * fused multiply-adds and a polynomial exp; test/helpers/kernels_np.py
 * (DISPATCH_RTOL) states the accepted difference per op. add and argmax are
 * exact.
 */
#ifndef LLM_KERNELS_CM55_H
#define LLM_KERNELS_CM55_H

#include <stdint.h>

/* Mat-vec through CMSIS-DSP's arm_mat_vec_mult_f32 (1) or this backend's own
 * Helium loop (0; no CMSIS-DSP needed). On stories260K (rows of 64 and 172)
 * the own loop executes 7% fewer instructions (cheaper row sums), the same
 * within 1% when vector instructions count double. */
#ifndef LLM_CM55_MATVEC_CMSIS
#define LLM_CM55_MATVEC_CMSIS 1
#endif

/* out(d) = w(d, n) @ x(n); any d, n >= 1. */
void llm_cm55_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
/* out(n) = w(n) * x(n) / sqrt(mean(x^2) + eps); n >= 1; out may alias x. */
void llm_cm55_rmsnorm(float *out, const float *x, const float *w, uint32_t n, float eps);
/* x(n) = softmax(x), max-subtracted; n >= 1. */
void llm_cm55_softmax(float *x, uint32_t n);
/* v(n_heads, head_size): rotate pairs by cs (head_size/2, 2); head_size even. */
void llm_cm55_rope(float *v, uint32_t n_heads, uint32_t head_size, const float *cs);
/* hb(n) = silu(hb) * hb2; n >= 1. */
void llm_cm55_swiglu(float *hb, const float *hb2, uint32_t n);
/* x(n) += y(n); n >= 1; bit-identical to the reference. */
void llm_cm55_add(float *x, const float *y, uint32_t n);
/* One head: att(n_pos) = softmax(q . k[t] / sqrt(hs)), out(hs) = sum_t att[t] v[t];
 * k, v (n_pos, stride); n_pos >= 1, 1 <= hs <= stride. */
void llm_cm55_attention(float *out, const float *q, const float *k, const float *v,
                        uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* Index of the first largest element of x(n); n >= 1; same answer as the reference. */
uint32_t llm_cm55_argmax(const float *x, uint32_t n);

/* Activation quantization and the q8 / q4 mat-vecs (VMLADAVA.S8 per 16
 * codes, the per-group float steps four rows to a vector), bit-identical to
 * the reference. */
void llm_cm55_quantize_q8(int8_t *xq, float *xs, int32_t *xsum, const float *x, uint32_t n,
                          uint32_t n_pad, uint32_t gs);
void llm_cm55_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                        const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_cm55_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                        const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                        uint32_t gs);
/* Attention over an int8 KV cache (exact integer scores, then float math
 * with reordered sums). */
void llm_cm55_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                           const uint16_t *ks, const int8_t *v, const uint16_t *vs,
                           uint32_t n_pos, uint32_t hs, uint32_t stride, uint32_t sstride,
                           float *att);

#define llm_k_quantize_q8 llm_cm55_quantize_q8
#define llm_k_matvec_q8 llm_cm55_matvec_q8
#define llm_k_matvec_q4 llm_cm55_matvec_q4
#define llm_k_attention_q8 llm_cm55_attention_q8
#define llm_k_matvec_f32 llm_cm55_matvec_f32
#define llm_k_rmsnorm llm_cm55_rmsnorm
#define llm_k_softmax llm_cm55_softmax
#define llm_k_rope llm_cm55_rope
#define llm_k_swiglu llm_cm55_swiglu
#define llm_k_add llm_cm55_add
#define llm_k_attention llm_cm55_attention
#define llm_k_argmax llm_cm55_argmax

#endif /* LLM_KERNELS_CM55_H */
