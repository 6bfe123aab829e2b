/* x86-64 fp32 mat-vec with AVX2: the reference's order of operations
 * (llm_ref_matvec_f32 with LLM_LANES == 8), one 8-lane vector per row. Per
 * row: lane k sums w[j + k] * x[j + k] over the whole 8-column blocks, a
 * multiply then an add (no fused multiply-add); the lanes are added as the
 * tree ((0+1)+(2+3))+((4+5)+(6+7)); the tail columns follow one by one. So
 * every output equals the reference bit for bit, whichever way its row is
 * read. Matrices in cache take eight rows per pass, sharing each load of x;
 * larger ones, read from memory, one row after another (one sequential
 * stream, prefetched 1 KB ahead), which on the stories15M shape ran about
 * 1.2x faster than eight interleaved rows (bench_host.py --shape stories15M). */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "../ref/ref.h"

#if LLM_LANES != 8
#error "the x86 fp32 kernels reproduce the reference's 8-lane sums (LLM_LANES 8, the x86-64 default)"
#endif

#define TARGET __attribute__((target("avx2,fma")))

/* Lane trees of four rows' accumulators: (r0, r1, r2, r3), each
 * ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) as llm__lane_sum. */
TARGET static inline __m128 tree4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 h01 = _mm256_hadd_ps(a0, a1); /* r0: 01 23, r1: 01 23 | r0: 45 67, r1: 45 67 */
    const __m256 h23 = _mm256_hadd_ps(a2, a3);
    const __m256 h = _mm256_hadd_ps(h01, h23); /* r0..r3: (01+23) | r0..r3: (45+67) */
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* The tail columns nb..n-1 of one row, in order, after its lane sum s. */
TARGET static inline float tail(float s, const float *w, const float *x, size_t nb, size_t n) {
    for (size_t j = nb; j < n; j++) s += w[j] * x[j];
    return s;
}

/* Rows r0..r3 (pointers may repeat to pad a short block) into o[4]. */
TARGET static void rows4(float o[4], const float *const r[4], const float *x, size_t n) {
    const size_t nb = n - n % 8;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t j = 0; j < nb; j += 8) {
        const __m256 xv = _mm256_loadu_ps(x + j);
        a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(r[0] + j), xv));
        a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(r[1] + j), xv));
        a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(r[2] + j), xv));
        a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(r[3] + j), xv));
    }
    _mm_storeu_ps(o, tree4(a0, a1, a2, a3));
    for (int k = 0; k < 4; k++) o[k] = tail(o[k], r[k], x, nb, n);
}

/* Rows i..i+7 of w into out[i..i+7]. */
TARGET static void block8(float *out, const float *w0, const float *x, size_t n) {
    const size_t nb = n - n % 8;
    __m256 a[8];
    for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
    for (size_t j = 0; j < nb; j += 8) {
        const __m256 xv = _mm256_loadu_ps(x + j);
        for (int k = 0; k < 8; k++) {
            a[k] = _mm256_add_ps(a[k], _mm256_mul_ps(_mm256_loadu_ps(w0 + k * n + j), xv));
        }
    }
    _mm_storeu_ps(out, tree4(a[0], a[1], a[2], a[3]));
    _mm_storeu_ps(out + 4, tree4(a[4], a[5], a[6], a[7]));
    if (nb != n) {
        for (int k = 0; k < 8; k++) out[k] = tail(out[k], w0 + k * n, x, nb, n);
    }
}

/* One row r(n) . x(n), its lanes in one vector; each 16 columns ask for the
 * line 1 KB ahead (an address, never dereferenced, so the last row may point
 * past the matrix: computed as an integer). */
TARGET static float row1(const float *r, const float *x, size_t n) {
    const size_t nb = n - n % 8;
    const __m256 z = _mm256_setzero_ps();
    __m256 a = z;
    size_t j = 0;
    for (; j + 16 <= nb; j += 16) {
        _mm_prefetch((const char *)((uintptr_t)(r + j) + 1024U), _MM_HINT_T0);
        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(r + j), _mm256_loadu_ps(x + j)));
        a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(r + j + 8), _mm256_loadu_ps(x + j + 8)));
    }
    if (j < nb) a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_loadu_ps(r + j), _mm256_loadu_ps(x + j)));
    return tail(_mm_cvtss_f32(tree4(a, z, z, z)), r, x, nb, n);
}

/* Calls of at least STREAM_MIN_FLOATS (32 KB) in rows of at least
 * STREAM_MIN_COLS (1 KB) are taken to come from beyond the L2 cache and run
 * one row after another. A call sees only its own rows, which with threads
 * are one block of a larger matrix: at -j 2 the stories15M shape's layer
 * matrices arrive as blocks of 36-192 rows (40-220 KB), still read from
 * memory, and ran faster streamed than as eight interleaved rows. Short rows
 * gain nothing from a prefetch 1 KB ahead and pay the lane tree per row:
 * stories260K's matrices (64 and 172 columns, all in cache) stay on the
 * eight-row path. */
#define STREAM_MIN_FLOATS (8U * 1024U)
#define STREAM_MIN_COLS 256U

TARGET static void matvec_avx2(float *out, const float *w, const float *x, uint32_t d,
                               uint32_t n) {
    if ((size_t)d * n >= STREAM_MIN_FLOATS && n >= STREAM_MIN_COLS) {
        for (size_t i = 0; i < d; i++) out[i] = row1(w + i * n, x, n);
        return;
    }
    size_t i = 0;
    for (; i + 8 <= d; i += 8) block8(out + i, w + i * n, x, n);
    for (; i < d; i += 4) {
        const float *r[4];
        float o[4];
        for (size_t k = 0; k < 4; k++) r[k] = w + (i + k < d ? i + k : d - 1) * (size_t)n;
        rows4(o, r, x, n);
        for (size_t k = 0; k < 4 && i + k < d; k++) out[i + k] = o[k];
    }
}

void llm_x86_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
    if (llm_x86_simd()) {
        matvec_avx2(out, w, x, d, n);
    } else {
        llm_ref_matvec_f32(out, w, x, d, n);
    }
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
