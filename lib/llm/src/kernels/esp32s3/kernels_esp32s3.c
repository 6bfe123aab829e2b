/* ESP32-S3 kernels over ESP-DSP (kernels_esp32s3.h). The whole file is
 * compiled only for LLM_BACKEND_ESP32S3; with LLM_S3_EMULATE_DSP it runs on
 * a host with C stand-ins for the two ESP-DSP functions. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3

#include <stddef.h>

#if defined(LLM_S3_EMULATE_DSP) && LLM_S3_EMULATE_DSP

uint32_t llm_s3_emu_fast_calls, llm_s3_emu_slow_calls;

/* dsps_dotprod_f32 stand-in: same contract (*dest = the sum), and a count
 * of whether the real one would have taken its aes3 path. */
static int dot_f32(const float *a, const float *b, float *dest, int len) {
    const int fast = len % 4 == 0 && ((uintptr_t)a & 15u) == 0 && ((uintptr_t)b & 15u) == 0;
    if (fast) {
        llm_s3_emu_fast_calls++;
    } else {
        llm_s3_emu_slow_calls++;
    }
    float s = 0.0f;
    for (int i = 0; i < len; i++) s += a[i] * b[i];
    *dest = s;
    return 0;
}
#define LLM_S3_HAVE_DP_S8 0

#else /* the real ESP-DSP */

#include "dsps_dotprod.h"

static int dot_f32(const float *a, const float *b, float *dest, int len) {
    return (int)dsps_dotprod_f32(a, b, dest, len);
}

/* dsps_dp_s8 arrived in ESP-DSP 1.8.1 (its aes3 loop fixed in 1.8.2), as a
 * macro naming the variant; the ESP-DSP bundled with Arduino-ESP32 core 2.x
 * predates it. */
#ifndef LLM_S3_HAVE_DP_S8
#if defined(dsps_dp_s8)
#define LLM_S3_HAVE_DP_S8 1
#else
#define LLM_S3_HAVE_DP_S8 0
#warning "llm: this ESP-DSP has no dsps_dp_s8 (older than 1.8.1, e.g. Arduino-ESP32 core 2.x): int8 dot products use the C reference loop"
#endif
#endif

#endif /* LLM_S3_EMULATE_DSP */

void llm_s3_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
    llm_s3_matvec_f32_with(out, w, x, d, n, dot_f32);
}

int32_t llm_s3_dot_s8(const int8_t *a, const int8_t *b, uint32_t n) {
    int32_t s = 0;
    uint32_t done = 0;
#if LLM_S3_HAVE_DP_S8
    const llm_s3_cut c = llm_s3_row_cut(a, b, n, 1, 16);
    if (c.body > 0) {
        dsps_dp_s8(a + c.head, b + c.head, &s, (int)c.body);
        for (uint32_t j = 0; j < c.head; j++) s += (int32_t)a[j] * b[j];
        done = c.head + c.body;
    }
#endif
    for (uint32_t j = done; j < n; j++) s += (int32_t)a[j] * b[j];
    return s;
}

void llm_s3_matvec_q8(float *out, const int8_t *w, const uint16_t *ws, const int8_t *xq,
                      const float *xs, uint32_t d, uint32_t n_pad, uint32_t gs) {
    llm_s3_matvec_q8_with(out, w, ws, xq, xs, d, n_pad, gs, llm_s3_dot_s8);
}

void llm_s3_matvec_q4(float *out, const uint8_t *w, const uint16_t *wp, const int8_t *xq,
                      const float *xs, const int32_t *xsum, uint32_t d, uint32_t n_pad,
                      uint32_t gs) {
    llm_s3_matvec_q4_with(out, w, wp, xq, xs, xsum, d, n_pad, gs, llm_s3_dot_s8);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_s3_kernels_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_ESP32S3 */
