/*
 * x86-64 host backend: AVX2 + FMA kernels for the mat-vecs, attention,
 * softmax, SwiGLU and argmax, taken at run time when the CPU has both
 * (checked once, cached), else the reference; so one binary built for
 * generic x86-64 runs on every x86-64.
 * Included by kernels.h when LLM_BACKEND == LLM_BACKEND_X86; every op named
 * here replaces the reference, the others fall back to it.
 *
 * Every variant here returns the reference's bits: the q8/q4 mat-vecs sum
 * each group exactly in int32 and then add the groups in the reference's
 * order (llm_q_acc, llm_q4_acc); the fp32 mat-vec, softmax, SwiGLU and
 * attention keep the reference's partial sums (LLM_LANES == 8 lanes per row, 4 per attention
 * score, the same summation trees) with a separate multiply and add, never a
 * fused one. test/test_kernels.py and test/test_quant_kernels.py hold them
 * to bit equality.
 */
#ifndef LLM_KERNELS_X86_H
#define LLM_KERNELS_X86_H

#include <stdint.h>

/* -1 before the first query, 0 reference kernels, 1 AVX2 + FMA kernels. */
extern int llm_x86__simd;
int llm_x86__detect(void);

/* 1 when the AVX2 + FMA kernels run, 0 when the reference does. The CPU is
 * asked once (__builtin_cpu_supports); every later call is one load. */
static inline int llm_x86_simd(void) {
    const int s = __atomic_load_n(&llm_x86__simd, __ATOMIC_RELAXED);
    return s >= 0 ? s : llm_x86__detect();
}

/* allow 0: run the reference kernels from now on (tests of the fallback
 * path, comparisons); 1: the AVX2 + FMA kernels again if the CPU has them.
 * Returns llm_x86_simd() afterwards. Call it while no kernel runs. */
int llm_x86_set_simd(int allow);

/* out(d) = w(d, n) @ x(n); any d, n >= 1; out must not alias w or x. */
void llm_x86_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n);
/* The q8 / q4 mat-vecs of kernels.h (same arguments and ranges). */
void llm_x86_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                       const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs);
void llm_x86_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                       const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                       uint32_t gs);
/* hb(n) = silu(hb) * hb2; n >= 1. */
void llm_x86_swiglu(float *hb, const float *hb2, uint32_t n);
/* x(n) = softmax(x), max-subtracted; n >= 1. */
void llm_x86_softmax(float *x, uint32_t n);
/* Index of the first largest element of x(n); n >= 1 (llm_ref_argmax's
 * contract and result). */
uint32_t llm_x86_argmax(const float *x, uint32_t n);
/* Its AVX2 body, for this backend's attention kernels (only once llm_x86_simd() said 1). */
void llm_x86__softmax_avx2(float *x, uint32_t n);
/* One head over a float cache: k, v (n_pos, stride); n_pos >= 1, 1 <= hs <= stride;
 * att (n_pos) scratch. */
void llm_x86_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att);
/* One head over an int8 cache (llm_ref_attention_q8's arguments). */
void llm_x86_attention_q8(float *out, const int8_t *qq, float qs, const int8_t *k,
                          const uint16_t *ks, const int8_t *v, const uint16_t *vs, uint32_t n_pos,
                          uint32_t hs, uint32_t stride, uint32_t sstride, float *att);

#define llm_k_matvec_f32 llm_x86_matvec_f32
#define llm_k_matvec_q8 llm_x86_matvec_q8
#define llm_k_matvec_q4 llm_x86_matvec_q4
#define llm_k_swiglu llm_x86_swiglu
#define llm_k_softmax llm_x86_softmax
#define llm_k_argmax llm_x86_argmax
#define llm_k_attention llm_x86_attention
#define llm_k_attention_q8 llm_x86_attention_q8

#endif /* LLM_KERNELS_X86_H */
