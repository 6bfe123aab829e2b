/*
 * Quantized layouts shared by the loader, the forward pass and every
 * backend's kernels (BLOB_FORMAT.md, "Quantized tensors"), and the exact
 * scalar conversions they use.
 *
 * A q8 or q4 tensor (rows, cols) with group size gs is stored as
 *   codes:  (rows, row_bytes)  each row padded to cols_pad values
 *   params: right after the codes, per row and group (rows, cols_pad / gs):
 *           q8: one bf16 scale;          value = code * scale, code -127..127
 *           q4: bf16 scale, bf16 offset; value = code * scale + offset, code 0..15
 * so every row starts 16-byte aligned (SIMD loads: Helium, PIE) and
 * a group is gs consecutive values. Activations are quantized on the fly to
 * int8 with one float scale per group of the same gs and zero padding, so a
 * weight's padding never contributes, whatever it holds.
 */
#ifndef LLM_QUANTIZE_H
#define LLM_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bitcast.h"

/* Group sizes a quantized tensor may use: powers of two in this range. */
#define LLM_Q_GROUP_MIN 16U
#define LLM_Q_GROUP_MAX 256U

/* Compile-time assertion (C99 has no static_assert). */
#define LLM_STATIC_ASSERT(cond, name) typedef char llm__static_assert_##name[(cond) ? 1 : -1]

/* 32 int4 codes (0..15) in 16 bytes, the q4 packing unit (one 128-bit
 * vector): byte j holds code j in its low nibble and code j + 16 in its high
 * nibble. A low-nibble mask and a 4-bit shift of one vector give codes
 * 0..15 and 16..31 in order. */
typedef struct llm_q4x32 {
    uint8_t nib[16];
} llm_q4x32;
LLM_STATIC_ASSERT(sizeof(llm_q4x32) == 16, q4x32_is_16_bytes);

/* 16 int8 weights, the q8 row padding and alignment unit. */
typedef struct llm_q8x16 {
    int8_t q[16];
} llm_q8x16;
LLM_STATIC_ASSERT(sizeof(llm_q8x16) == 16, q8x16_is_16_bytes);

/* A quantization group (or int8 KV head) whose largest |x| is below this,
 * 2^-120, is stored as zeros: 127 / amax would overflow to infinity. */
#define LLM_Q_AMAX_MIN 0x1p-120f

/* Is gs an allowed group size? */
static inline int llm_q_group_ok(uint32_t gs) {
    return gs >= LLM_Q_GROUP_MIN && gs <= LLM_Q_GROUP_MAX && (gs & (gs - 1)) == 0;
}

/* Values per padded row: cols rounded up to a multiple of gs, and for q4 also
 * of 32 (whole llm_q4x32 units). is_q4: 0 for q8. cols <= 65536. */
static inline uint32_t llm_q_cols_pad(int is_q4, uint32_t cols, uint32_t gs) {
    const uint32_t unit = is_q4 && gs < 32U ? 32U : gs;
    return (cols + unit - 1U) / unit * unit;
}

/* Bytes of one stored row of cols_pad values. */
static inline uint32_t llm_q_row_bytes(int is_q4, uint32_t cols_pad) {
    return is_q4 ? cols_pad / 2U : cols_pad;
}

/* bf16 values per group after the codes: a scale, and for q4 an offset. */
static inline uint32_t llm_q_group_params(int is_q4) {
    return is_q4 ? 2U : 1U;
}

/* bf16 bits to float: exact (the high half of the float's bits). */
static inline float llm_bf16_to_f32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    LLM_BITCOPY(&f, &u, sizeof f);
    return f;
}

/* The smallest bf16 >= f, for finite f >= 0: a scale rounded this way never
 * pushes a quantized value past its range. */
static inline uint16_t llm_f32_to_bf16_up(float f) {
    uint32_t u;
    LLM_BITCOPY(&u, &f, sizeof u);
    if ((u & 0xFFFFU) != 0U) u += 0x10000U;
    return (uint16_t)(u >> 16);
}

/* IEEE half bits to float, exact (normals, subnormals, zeros, inf, NaN). */
static inline float llm_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000U) << 16;
    uint32_t exp = (h >> 10) & 0x1FU, man = h & 0x3FFU, u;
    if (exp == 0x1FU) {
        u = sign | 0x7F800000U | (man << 13);
    } else if (exp != 0U) {
        u = sign | ((exp + 112U) << 23) | (man << 13);
    } else if (man == 0U) {
        u = sign;
    } else { /* subnormal: normalise the mantissa */
        exp = 113U;
        while ((man & 0x400U) == 0U) {
            man <<= 1;
            exp--;
        }
        u = sign | (exp << 23) | ((man & 0x3FFU) << 13);
    }
    float f;
    LLM_BITCOPY(&f, &u, sizeof f);
    return f;
}

/* Float to IEEE half bits, rounding to nearest even (as a hardware
 * conversion does); overflow gives inf, NaN stays NaN. */
static inline uint16_t llm_f32_to_f16(float f) {
    uint32_t u;
    LLM_BITCOPY(&u, &f, sizeof u);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000U);
    const uint32_t a = u & 0x7FFFFFFFU;
    if (a >= 0x7F800000U) return (uint16_t)(sign | 0x7C00U | (a > 0x7F800000U ? 0x200U : 0U));
    if (a >= 0x477FF000U) return (uint16_t)(sign | 0x7C00U); /* rounds past 65504 */
    if (a < 0x38800000U) {                                    /* below 2^-14: subnormal half */
        if (a < 0x33000000U) return sign;                     /* below half the least subnormal */
        const uint32_t man = (a & 0x7FFFFFU) | 0x800000U;
        const uint32_t shift = 126U - (a >> 23); /* 14..24 */
        uint32_t h = man >> shift;
        const uint32_t rem = man & ((1U << shift) - 1U), half = 1U << (shift - 1U);
        if (rem > half || (rem == half && (h & 1U))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((a >> 13) - (112U << 10)); /* rebias the exponent, keep 10 bits */
    const uint32_t rem = a & 0x1FFFU;
    if (rem > 0x1000U || (rem == 0x1000U && (h & 1U))) h++; /* may carry into the exponent */
    return (uint16_t)(sign | h);
}

/* For reference functions whose float steps must round exactly as scalar
 * IEEE code (they equal llmtools.quant bit for bit on every target). GCC
 * would auto-vectorise them for Helium, and Helium float instructions flush
 * subnormals to zero; there they are kept scalar. LLM_REF_EXACT stops all
 * vectorisation; LLM_REF_EXACT_SLP only the kind that packs independent
 * float statements (the four rows of a mat-vec), so integer loops still
 * vectorise. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__ARM_FEATURE_MVE) && \
    (__ARM_FEATURE_MVE & 2)
#define LLM_REF_EXACT __attribute__((optimize("no-tree-vectorize")))
#define LLM_REF_EXACT_SLP __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define LLM_REF_EXACT
#define LLM_REF_EXACT_SLP
#endif

/* One group's share of a q8/q4 mat-vec output: acc + isum * (ws * xs), isum
 * being the group's int32 dot product of weight and activation quants. Every
 * backend adds the groups of a row in order, starting from 0.0f, through
 * this function, so outputs agree bit for bit (the library is built without
 * floating-point contraction: -std=c99 implies it on GCC, and library.json and
 * the ESP32-S3 environments pass -ffp-contract=off). */
static inline float llm_q_acc(float acc, int32_t isum, uint16_t ws, float xs) {
    const float scale = llm_bf16_to_f32(ws) * xs;
    return acc + (float)isum * scale;
}

/* The same for a q4 group with bf16 scale ws[0] and offset ws[1]: isum is
 * the dot product of the codes with the activation quants, xsum the sum of
 * those quants (llm_ref_quantize_q8), so the group adds
 * isum * (scale * xs) + xsum * (offset * xs). */
static inline float llm_q4_acc(float acc, int32_t isum, int32_t xsum, const uint16_t *ws,
                               float xs) {
    const float scale = llm_bf16_to_f32(ws[0]) * xs;
    const float offset = llm_bf16_to_f32(ws[1]) * xs;
    const float group = (float)isum * scale + (float)xsum * offset;
    return acc + group;
}

#endif /* LLM_QUANTIZE_H */
