/* x86-64 CPU detection for the host backend: asked once, cached. */
#include "../kernels.h"

#if LLM_BACKEND == LLM_BACKEND_X86

int llm_x86__simd = -1;
static int allowed = 1; /* llm_x86_set_simd's last word */

static int cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* Threads racing here all store the same answer. */
int llm_x86__detect(void) {
    const int s = __atomic_load_n(&allowed, __ATOMIC_RELAXED) && cpu_has_avx2_fma();
    __atomic_store_n(&llm_x86__simd, s, __ATOMIC_RELAXED);
    return s;
}

int llm_x86_set_simd(int allow) {
    __atomic_store_n(&allowed, allow != 0, __ATOMIC_RELAXED);
    return llm_x86__detect();
}

#endif /* LLM_BACKEND == LLM_BACKEND_X86 */
