/*
 * llm__expf (ref/expf.h) for the Cortex-M4F/M7/M33 backend, bit for bit:
 * for |x| <= 87.33654 (every softmax argument x - max whose result is not
 * 0, every SwiGLU input that matters) llm__expf's range masks select
 * nothing, so its arithmetic alone gives its result, written out here with
 * VMLS for its two reduction steps (multiply, round, subtract, round: not
 * fused, the same as its separate operations); other inputs call llm__expf.
 * Include only from cm4 files, inside their LLM_BACKEND == LLM_BACKEND_CM4
 * guard.
 */
#ifndef LLM_EXPF_CM4_H
#define LLM_EXPF_CM4_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../ref/expf.h"

/* d - a * b, unfused (VMLS). */
static inline float llm__vmls(float d, float a, float b) {
    __asm__("vmls.f32 %0, %1, %2" : "+t"(d) : "t"(a), "t"(b));
    return d;
}

static inline float llm__cm4_expf(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x42aeac50u) return llm__expf(x);
    const float t = x * 1.44269504088896341f;
    const int32_t n = (int32_t)(t + copysignf(0.5f, t));
    const float fn = (float)n;
    const float r = llm__vmls(llm__vmls(x, fn, 0.693359375f), fn, -2.12194440e-4f);
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t sb = (uint32_t)(n + 127) << 23;
    float scale;
    memcpy(&scale, &sb, sizeof scale);
    return p * scale;
}

#endif /* LLM_EXPF_CM4_H */
