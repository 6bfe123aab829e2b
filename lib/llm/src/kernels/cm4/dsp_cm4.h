/*
 * DSP-extension helpers shared by the Cortex-M4F/M7/M33 kernels: packed
 * 16-bit lanes from 8-bit codes and the dual multiply-accumulate. Include
 * only from cm4 files, inside their LLM_BACKEND == LLM_BACKEND_CM4 guard
 * (arm_acle.h's DSP intrinsics need __ARM_FEATURE_DSP).
 */
#ifndef LLM_DSP_CM4_H
#define LLM_DSP_CM4_H

#include <arm_acle.h>
#include <stdint.h>

#include "../ref/quantize.h"

/* Bytes 0 and 2 of v sign-extended into the two 16-bit lanes. */
static inline int32_t llm__sx02(uint32_t v) {
    return (int32_t)__sxtb16((int32_t)v);
}

/* Bytes 1 and 3 of v sign-extended into the two 16-bit lanes: one SXTB16
 * with its rotate (GCC 12 does not fold a separate rotate into it). */
static inline int32_t llm__sx13(uint32_t v) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* Bytes 0 and 2 / 1 and 3 of v zero-extended into the two 16-bit lanes. */
static inline int32_t llm__ux02(uint32_t v) {
    return (int32_t)__uxtb16(v);
}
static inline int32_t llm__ux13(uint32_t v) {
    int32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi (SMLAD). The sums of a mat-vec group stay
 * far below 2^31 (|code| <= 127, at most 256 products), so it never wraps. */
static inline int32_t llm__smlad(int32_t a, int32_t b, int32_t acc) {
    return __smlad(a, b, acc);
}

/* acc + a * b, unfused (VMLA: the product is rounded before the sum, so
 * this equals the reference's separate multiply and add). */
static inline float llm__vmla(float acc, float a, float b) {
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
}

/* llm_q_acc and llm_q4_acc (ref/quantize.h) with their last multiply-add
 * as one VMLA: the same operations in the same order. */
static inline float llm__cm4_q_acc(float acc, int32_t isum, uint16_t ws, float xs) {
    const float scale = llm_bf16_to_f32(ws) * xs;
    return llm__vmla(acc, (float)isum, scale);
}
static inline float llm__cm4_q4_acc(float acc, int32_t isum, int32_t xsum, const uint16_t *ws,
                                    float xs) {
    const float scale = llm_bf16_to_f32(ws[0]) * xs;
    const float offset = llm_bf16_to_f32(ws[1]) * xs;
    const float group = llm__vmla((float)isum * scale, (float)xsum, offset);
    return acc + group;
}

/* Are all these pointers 4-byte aligned? The kernels read whole words with
 * plain loads, which the compiler may merge into LDRD / LDM (those fault on
 * unaligned addresses); misaligned calls take the reference. */
#define LLM__ALIGNED4(p) ((((uintptr_t)(p)) & 3u) == 0u)

#endif /* LLM_DSP_CM4_H */
