/* The test inputs' random numbers: xorshift64* (as llama2.c), which the
 * Python side reimplements (llmtools.sampler.XorShift64Star) to rebuild the
 * same inputs. Seed 0 is replaced by 1. */
#ifndef FW_RNG_H
#define FW_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s;
} rng;

static inline uint32_t rng_u32(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, 1), 24 bits. */
static inline float rng_f32(rng *r) {
    return (float)(rng_u32(r) >> 8) / 16777216.0f;
}

#endif /* FW_RNG_H */
