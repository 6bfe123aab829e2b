/* Cortex-M4F/M7/M33 single-head attention over an fp32 KV cache, in the
 * reference's order of operations on a scalar FPU (LLM_LANES 1), so it is
 * bit-identical to llm_ref_attention:
 *   scores: each position's dot product summed in dimension order from +0,
 *           then divided by sqrt(hs);
 *   softmax: llm_cm4_softmax, equal to the reference's;
 *   output:  for each dimension four partial sums over the positions t = 0, 1,
 *           2, 3 (mod 4) below the last multiple of 4, the rest added to the
 *           first, combined as (a0 + a1) + (a2 + a3).
 * What makes it cheaper is only how values reach the FPU: VLDM loads eight
 * keys (or four values) in one instruction, and VMLA (multiply, round, add,
 * round: not fused, so equal to the reference's separate multiply and add)
 * does each product-sum in one. Head sizes that are not a multiple of 8 run
 * the reference. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_CM4

#include <math.h>
#include <stddef.h>

/* acc + k(8) . q(8), summed in order (VMLA is unfused). */
static inline float dot8(float acc, const float *k, const float *q) {
    __asm__("vldmia %[k], {s0-s7}\n\t"
            "vldmia %[q], {s8-s15}\n\t"
            "vmla.f32 %[acc], s0, s8\n\t"
            "vmla.f32 %[acc], s1, s9\n\t"
            "vmla.f32 %[acc], s2, s10\n\t"
            "vmla.f32 %[acc], s3, s11\n\t"
            "vmla.f32 %[acc], s4, s12\n\t"
            "vmla.f32 %[acc], s5, s13\n\t"
            "vmla.f32 %[acc], s6, s14\n\t"
            "vmla.f32 %[acc], s7, s15\n\t"
            : [acc] "+t"(acc)
            : [k] "r"(k), [q] "r"(q), "m"(*(const float(*)[8])k), "m"(*(const float(*)[8])q)
            : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",
              "s13", "s14", "s15");
    return acc;
}

static const float zeros16[16]; /* +0 starting sums */

/* acc(4 sums, 4 dims) = the first 4 nb positions' weighted values of four
 * dimensions: acc[4 r + j] = sum over t = r (mod 4) of att[t] * v[t][j], in
 * order of t; v points at dimension 0 of the four, rows stride_b bytes apart.
 * nb >= 1 blocks of four positions. The sums live in s16-s31 throughout. */
static void weigh4(float acc[16], const float *v, size_t stride_b, const float *att, uint32_t nb) {
    __asm__ volatile(
        "vldmia %[z], {s16-s31}\n\t"
        "1:\n\t"
        "vldmia %[att]!, {s0-s3}\n\t"
        "vldmia %[v], {s4-s7}\n\t"
        "add %[v], %[v], %[st]\n\t"
        "vldmia %[v], {s8-s11}\n\t"
        "add %[v], %[v], %[st]\n\t"
        "vmla.f32 s16, s4, s0\n\t"
        "vmla.f32 s17, s5, s0\n\t"
        "vmla.f32 s18, s6, s0\n\t"
        "vmla.f32 s19, s7, s0\n\t"
        "vldmia %[v], {s4-s7}\n\t"
        "add %[v], %[v], %[st]\n\t"
        "vmla.f32 s20, s8, s1\n\t"
        "vmla.f32 s21, s9, s1\n\t"
        "vmla.f32 s22, s10, s1\n\t"
        "vmla.f32 s23, s11, s1\n\t"
        "vldmia %[v], {s8-s11}\n\t"
        "add %[v], %[v], %[st]\n\t"
        "vmla.f32 s24, s4, s2\n\t"
        "vmla.f32 s25, s5, s2\n\t"
        "vmla.f32 s26, s6, s2\n\t"
        "vmla.f32 s27, s7, s2\n\t"
        "vmla.f32 s28, s8, s3\n\t"
        "vmla.f32 s29, s9, s3\n\t"
        "vmla.f32 s30, s10, s3\n\t"
        "vmla.f32 s31, s11, s3\n\t"
        "subs %[nb], %[nb], #1\n\t"
        "bne 1b\n\t"
        "vstmia %[acc], {s16-s31}\n\t"
        : [v] "+r"(v), [att] "+r"(att), [nb] "+r"(nb)
        : [st] "r"(stride_b), [acc] "r"(acc), [z] "r"(zeros16)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s16", "s17",
          "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29",
          "s30", "s31", "cc", "memory");
}

/* As llm_ref_attention: q (hs); k, v (n_pos, stride), the head's hs values
 * at the start of each row; att (n_pos) holds the weights on return.
 * n_pos >= 1, hs >= 1; out must not alias the inputs. */
void llm_cm4_attention(float *out, const float *q, const float *k, const float *v,
                       uint32_t n_pos, uint32_t hs, uint32_t stride, float *att) {
    if (hs % 8u != 0u) {
        llm_ref_attention(out, q, k, v, n_pos, hs, stride, att);
        return;
    }
    const float norm = sqrtf((float)hs);
    for (uint32_t t = 0; t < n_pos; t++) {
        const float *kt = k + (size_t)t * stride;
        float s = 0.0f;
        for (uint32_t i = 0; i < hs; i += 8u) s = dot8(s, kt + i, q + i);
        att[t] = s / norm;
    }
    llm_cm4_softmax(att, n_pos);
    const uint32_t n4 = n_pos - n_pos % 4u;
    for (uint32_t i = 0; i < hs; i += 4u) {
        float a[16]; /* (4 partial sums, 4 dims) */
        if (n4 > 0u) {
            weigh4(a, v + i, (size_t)stride * sizeof(float), att, n4 / 4u);
        } else {
            for (uint32_t j = 0; j < 16u; j++) a[j] = 0.0f;
        }
        for (uint32_t t = n4; t < n_pos; t++) {
            const float *vt = v + (size_t)t * stride + i;
            for (uint32_t j = 0; j < 4u; j++) a[j] += att[t] * vt[j];
        }
        for (uint32_t j = 0; j < 4u; j++) out[i + j] = (a[j] + a[4 + j]) + (a[8 + j] + a[12 + j]);
    }
}

#else
typedef int llm_cm4_attention_unused; /* ISO C wants a declaration per file */
#endif
