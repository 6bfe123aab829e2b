/* Shared by the reference kernels: how many independent partial sums each
 * output keeps, and a loop over them that compilers vectorize. */
#ifndef LLM_REF_H
#define LLM_REF_H

/* Partial sums per output (1, 2, 4 or 8). Independent lanes break the add
 * dependency chain so compilers vectorize without -ffast-math; each sum still
 * runs in a fixed order for a given LLM_LANES. SIMD hosts want 8 (two SSE
 * vectors, one AVX vector), Helium 4 (it has only 8 vector registers); a
 * scalar FPU wants 1, as the four rows a mat-vec block works on already give
 * four independent sums and more would spill. */
#ifndef LLM_LANES
#if defined(__ARM_FEATURE_MVE)
#define LLM_LANES 4
#elif defined(__SSE2__) || defined(__ARM_NEON) || defined(__ALTIVEC__) || \
    defined(__wasm_simd128__) || defined(__riscv_vector)
#define LLM_LANES 8
#else
#define LLM_LANES 1
#endif
#endif

#if LLM_LANES != 1 && LLM_LANES != 2 && LLM_LANES != 4 && LLM_LANES != 8
#error "LLM_LANES must be 1, 2, 4 or 8"
#endif

/* Lanes of the attention score dot products: head sizes are small, so the
 * final sum across lanes weighs as much as the products, and 4 lanes (one
 * 128-bit vector) beat 8. */
#define LLM_SCORE_LANES (LLM_LANES < 4 ? LLM_LANES : 4)

/* Loop over the lanes. GCC -O3 fully unrolls such a short loop before
 * vectorizing, then vectorizes the enclosing loop as in-order reductions:
 * about 4x slower than vectorizing the lane loop itself. Without SIMD the
 * loop should unroll, so its sums live in registers. */
#if LLM_LANES > 1 && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define LLM_LANE_LOOP _Pragma("GCC unroll 1") for
#else
#define LLM_LANE_LOOP for
#endif

/* Sum of a[0..n-1] (n a power of two <= 8) as a pairwise tree,
 * ((a0 + a1) + (a2 + a3)) + ..., so the order depends only on n. */
static inline float llm__lane_sum(const float *a, int n) {
    if (n == 1) return a[0];
    if (n == 2) return a[0] + a[1];
    const float lo = (a[0] + a[1]) + (a[2] + a[3]);
    return n == 4 ? lo : lo + ((a[4] + a[5]) + (a[6] + a[7]));
}

#endif /* LLM_REF_H */
