/* Group-by-group int8/int4 mat-vecs over an int8 dot product (s3_quant.h). */
#include "s3_quant.h"

#include <stddef.h>

#include "../ref/quantize.h"

void llm_s3_matvec_q8_with(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                           const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs,
                           llm_s3_dot_s8_fn dot) {
    const uint32_t ng = n_pad / gs;
    for (uint32_t i = 0; i < d; i++) {
        const int8_t *row = w + (size_t)i * n_pad;  /* (n_pad) */
        const uint16_t *s = ws + (size_t)i * ng;    /* (ng) */
        float acc = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            const size_t o = (size_t)g * gs;
            acc = llm_q_acc(acc, dot(row + o, xq + o, gs), s[g], xs[g]);
        }
        out[i] = acc;
    }
}

/* c(gs) = the codes of group g of a q4 row (llm_q4x32 units at row). */
static void unpack_group(int8_t *c, const uint8_t *row, uint32_t g, uint32_t gs) {
    const size_t first = (size_t)g * gs; /* index of the group's first code */
    for (uint32_t j = 0; j < gs; j++) {
        const size_t k = first + j;
        const uint8_t b = row[(k / 32) * 16 + k % 16];
        c[j] = (int8_t)(k % 32 < 16 ? (b & 0x0F) : (b >> 4));
    }
}

void llm_s3_matvec_q4_with(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                           const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                           uint32_t gs, llm_s3_dot_s8_fn dot) {
    const uint32_t ng = n_pad / gs;
    /* (LLM_Q_GROUP_MAX + 16) one group's codes; 16 spare bytes for the
     * dot product's over-read; 16-byte aligned inside the array. */
    union {
        int8_t c[LLM_Q_GROUP_MAX + 32];
        uint64_t align;
    } buf;
    int8_t *c = buf.c + ((16u - ((uintptr_t)buf.c & 15u)) & 15u);
    for (uint32_t j = 0; j < gs + 16; j++) c[j] = 0;
    for (uint32_t i = 0; i < d; i++) {
        const uint8_t *row = w + (size_t)i * (n_pad / 2); /* (n_pad / 2) */
        const uint16_t *p = wp + (size_t)i * ng * 2;      /* (ng, 2) */
        float acc = 0.0f;
        for (uint32_t g = 0; g < ng; g++) {
            unpack_group(c, row, g, gs);
            acc = llm_q4_acc(acc, dot(c, xq + (size_t)g * gs, gs), xsum[g], p + 2 * g, xs[g]);
        }
        out[i] = acc;
    }
}
