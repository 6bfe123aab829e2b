/* exp for float without libm, written so loops over it vectorize. */
#ifndef LLM_REF_EXPF_H
#define LLM_REF_EXPF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bitcast.h"

/* e^x within 1.22 ulp of the exact value for x in [-87.33, 88.37] (checked
 * against double exp for every float there); 0 below, +inf above, NaN for
 * NaN. x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its
 * degree-7 Taylor polynomial, 2^n built in the exponent bits.
 * libm's expf is a call per element, which keeps softmax and SwiGLU loops
 * scalar. Here the range cases are selected with integer masks on the bits:
 * a float comparison may trap, so GCC would not if-convert it and the loop
 * would stay scalar unless built with -fno-trapping-math. */
static inline float llm__expf(float x) {
    const uint32_t lo_mag = 0x42aeac50u; /* 87.33654f: below -lo, 2^n is subnormal */
    const uint32_t hi_mag = 0x42b0c0a5u; /* 88.37626f: above, 2^n overflows */
    uint32_t u;
    LLM_BITCOPY(&u, &x, sizeof u);
    const uint32_t mag = u & 0x7fffffffu;
    const uint32_t neg = 0u - (u >> 31);
    const uint32_t nan = 0u - (uint32_t)(mag > 0x7f800000u);
    const uint32_t under = neg & (0u - (uint32_t)(mag > lo_mag)); /* includes -NaN, masked below */
    const uint32_t over = ~neg & ~nan & (0u - (uint32_t)(mag > hi_mag));
    const uint32_t in = ~(under | over | nan);
    const uint32_t xb = u & in; /* out of range: compute e^0, replaced below */
    float xc;
    LLM_BITCOPY(&xc, &xb, sizeof xc);
    const float t = xc * 1.44269504088896341f;
    const int32_t n = (int32_t)(t + copysignf(0.5f, t)); /* nearest integer */
    const float fn = (float)n;
    const float r = (xc - fn * 0.693359375f) - fn * -2.12194440e-4f;
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
    LLM_BITCOPY(&scale, &sb, sizeof scale);
    const float y = p * scale;
    uint32_t yb;
    LLM_BITCOPY(&yb, &y, sizeof yb);
    yb = (yb & in) | (0x7f800000u & over) | (u & nan); /* under: +0 */
    float out;
    LLM_BITCOPY(&out, &yb, sizeof out);
    return out;
}

#endif /* LLM_REF_EXPF_H */
