/* ESP32-S3 fp32 mat-vec over ESP-DSP (kernels_esp32s3.h). The whole file is
 * compiled only for LLM_BACKEND_ESP32S3. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_ESP32S3

#include <stddef.h>

#include "dsps_dotprod.h"

#if defined(LLM_S3_COUNT_DOTCALLS) && LLM_S3_COUNT_DOTCALLS
uint32_t llm_s3_fast_calls, llm_s3_slow_calls;
#endif

/* dsps_dotprod_f32; test builds count whether its aes3 path's rules were met. */
static int dot_f32(const float *a, const float *b, float *dest, int len) {
#if defined(LLM_S3_COUNT_DOTCALLS) && LLM_S3_COUNT_DOTCALLS
    if (len % 4 == 0 && (((uintptr_t)a | (uintptr_t)b) & 15u) == 0) {
        llm_s3_fast_calls++;
    } else {
        llm_s3_slow_calls++;
    }
#endif
    return (int)dsps_dotprod_f32(a, b, dest, len);
}

void llm_s3_matvec_f32(float *out, const float *w, const float *x, uint32_t d, uint32_t n) {
    llm_s3_matvec_f32_with(out, w, x, d, n, dot_f32);
}

#else
/* Other backends: nothing here (ISO C wants a declaration in every file). */
typedef int llm_s3_kernels_unused;
#endif /* LLM_BACKEND == LLM_BACKEND_ESP32S3 */
