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
 * k, v are (n_pos, stride) with the head's hs values at the start of each row. */
void llm_ref_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* Index of the first largest element of x(n). */
uint32_t llm_ref_argmax(const float *x, uint32_t n);

#if LLM_BACKEND == LLM_BACKEND_CM55
#include "cm55/kernels_cm55.h"
#elif LLM_BACKEND == LLM_BACKEND_ESP32S3
#include "esp32s3/kernels_esp32s3.h"
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

#endif /* LLM_KERNELS_H */
