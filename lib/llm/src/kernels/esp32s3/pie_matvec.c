/* ESP32-S3 q8 / q4 mat-vecs over our PIE group-sum kernels (s3_pie.h): the
 * assembly gives each group's exact int32 dot product, this file adds a
 * row's groups in order through the reference's llm_q_acc / llm_q4_acc, so
 * the outputs are llm_ref_matvec_q8 / q4's bits. Compiled only where the
 * assembly is (LLM_S3_PIE: LLM_BACKEND_ESP32S3 on the chip). */
#include "../kernels.h"
#include "s3_pie.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3 && LLM_S3_PIE

#include <stddef.h>

/* Group sums per kernel call, on the stack (512 bytes, so the frame stays
 * within l32i's reach): as many whole rows as fit, or one row in pieces of
 * this many groups. Even, so a piece of a q4 gs-16 row is whole units and
 * starts 16-byte aligned. */
#define PIE_ISUM 128U

typedef void (*pie_q8_fn)(int32_t *isum, const int8_t *w, const int8_t *xq, uint32_t rows,
                          uint32_t ng, uint32_t stride);
typedef void (*pie_q4_fn)(int32_t *isum, const uint8_t *w, const int8_t *xq, uint32_t rows,
                          uint32_t ng, uint32_t stride);

static pie_q8_fn q8_kernel(uint32_t gs) {
    switch (gs) {
    case 16: return llm_s3_pie_q8_g16;
    case 32: return llm_s3_pie_q8_g32;
    case 64: return llm_s3_pie_q8_g64;
    case 128: return llm_s3_pie_q8_g128;
    case 256: return llm_s3_pie_q8_g256;
    default: return NULL;
    }
}

static pie_q4_fn q4_kernel(uint32_t gs) {
    switch (gs) {
    case 16: return llm_s3_pie_q4_g16;
    case 32: return llm_s3_pie_q4_g32;
    case 64: return llm_s3_pie_q4_g64;
    case 128: return llm_s3_pie_q4_g128;
    case 256: return llm_s3_pie_q4_g256;
    default: return NULL;
    }
}

static int misaligned(const void *a, const void *b) {
    return (((uintptr_t)a | (uintptr_t)b) & 15u) != 0u;
}

void llm_s3_pie_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                          const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    const pie_q8_fn kern = q8_kernel(gs);
    if (kern == NULL || n_pad == 0u || n_pad % gs != 0u || misaligned(w, xq)) {
        llm_ref_matvec_q8(out, w, ws, xq, xs, d, n_pad, gs);
        return;
    }
    const uint32_t ng = n_pad / gs;
    int32_t isum[PIE_ISUM];
    if (ng <= PIE_ISUM) {
        const uint32_t rmax = PIE_ISUM / ng;
        for (uint32_t i = 0; i < d;) {
            const uint32_t rows = d - i < rmax ? d - i : rmax;
            kern(isum, w + (size_t)i * n_pad, xq, rows, ng, n_pad);
            for (uint32_t r = 0; r < rows; r++, i++) {
                const int32_t *q = isum + (size_t)r * ng;
                const uint16_t *s = ws + (size_t)i * ng;
                float a = 0.0f;
                for (uint32_t g = 0; g < ng; g++) a = llm_q_acc(a, q[g], s[g], xs[g]);
                out[i] = a;
            }
        }
        return;
    }
    for (uint32_t i = 0; i < d; i++) { /* long rows: PIE_ISUM groups at a time */
        const int8_t *row = w + (size_t)i * n_pad;
        const uint16_t *s = ws + (size_t)i * ng;
        float a = 0.0f;
        for (uint32_t g0 = 0; g0 < ng; g0 += PIE_ISUM) {
            const uint32_t c = ng - g0 < PIE_ISUM ? ng - g0 : PIE_ISUM;
            kern(isum, row + (size_t)g0 * gs, xq + (size_t)g0 * gs, 1, c, n_pad);
            for (uint32_t g = 0; g < c; g++) a = llm_q_acc(a, isum[g], s[g0 + g], xs[g0 + g]);
        }
        out[i] = a;
    }
}

void llm_s3_pie_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                          const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                          uint32_t gs) {
    const pie_q4_fn kern = q4_kernel(gs);
    if (kern == NULL || n_pad == 0u || n_pad % gs != 0u || n_pad % 32u != 0u ||
        misaligned(w, xq)) {
        llm_ref_matvec_q4(out, w, wp, xq, xs, xsum, d, n_pad, gs);
        return;
    }
    const uint32_t ng = n_pad / gs, rb = n_pad / 2u;
    int32_t isum[PIE_ISUM];
    if (ng <= PIE_ISUM) {
        const uint32_t rmax = PIE_ISUM / ng;
        for (uint32_t i = 0; i < d;) {
            const uint32_t rows = d - i < rmax ? d - i : rmax;
            kern(isum, w + (size_t)i * rb, xq, rows, ng, rb);
            for (uint32_t r = 0; r < rows; r++, i++) {
                const int32_t *q = isum + (size_t)r * ng;
                const uint16_t *p = wp + (size_t)i * ng * 2u;
                float a = 0.0f;
                for (uint32_t g = 0; g < ng; g++)
                    a = llm_q4_acc(a, q[g], xsum[g], p + 2u * g, xs[g]);
                out[i] = a;
            }
        }
        return;
    }
    for (uint32_t i = 0; i < d; i++) { /* long rows: PIE_ISUM groups at a time */
        const uint8_t *row = w + (size_t)i * rb;
        const uint16_t *p = wp + (size_t)i * ng * 2u;
        float a = 0.0f;
        for (uint32_t g0 = 0; g0 < ng; g0 += PIE_ISUM) {
            const uint32_t c = ng - g0 < PIE_ISUM ? ng - g0 : PIE_ISUM;
            kern(isum, row + (size_t)g0 * gs / 2u, xq + (size_t)g0 * gs, 1, c, rb);
            for (uint32_t g = 0; g < c; g++)
                a = llm_q4_acc(a, isum[g], xsum[g0 + g], p + 2u * (g0 + g), xs[g0 + g]);
        }
        out[i] = a;
    }
}

#else
/* Other targets and backends: nothing here (ISO C wants a declaration). */
typedef int llm_s3_pie_unused;
#endif
