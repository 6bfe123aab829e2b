/*
 * The AN521's second Cortex-M33 as a parallel_for worker: bare metal, no
 * RTOS, a shared job record and an event handshake.
 *
 * Start: the SSE-200 holds core 1 in reset (CPUWAIT bit 1) until core 0
 * writes its initial vector table address (INITSVTOR1) and clears the bit;
 * core 1 then boots from core1_vectors: its own stack, core1_main.
 * A job: core 0 fills `job`, bumps job.seq (DMB before, so the fields are
 * visible first) and signals an event (SEV); core 1 wakes from WFE, runs
 * its range, stores job.done = seq (DMB before, so its results are visible
 * first) and signals back; core 0 runs its own range meanwhile and waits
 * for done == seq. Each item is computed by the same call whatever core runs
 * it, so results are bit-identical to one core. QEMU runs WFE as a yield to
 * the other core, so waiting costs few emulated instructions.
 * On one-core boards board_parallel_for simply runs everything on core 0.
 *
 * Off unless built with -DBOARD_MPS2_SECOND_CORE=1, as the AN521 does not
 * run float code under QEMU 7.2 yet (see board.h), so nothing here has
 * been shown beyond the handshake: core 1 starts, takes its ranges, and
 * `parallel cover` visits every item once.
 */
#include <stdint.h>

#include "board.h"
#include "board_internal.h"

static uint64_t items[BOARD_CORES]; /* items each core ran, for board_core_items */

static inline void dmb(void) {
    __asm volatile("dmb" ::: "memory");
}

#ifndef BOARD_MPS2_SECOND_CORE
#define BOARD_MPS2_SECOND_CORE 0
#endif

#if BOARD_CORES > 1 && BOARD_MPS2_SECOND_CORE

/* SSE-200 system control (Secure only). */
#define SYSCTL_INITSVTOR1 (*(volatile uint32_t *)0x50021114u)
#define SYSCTL_CPUWAIT (*(volatile uint32_t *)0x50021118u)

typedef struct {
    llm_range_fn fn;
    void *arg;
    uint32_t n;
    volatile uint32_t seq;  /* bumped by core 0 per job */
    volatile uint32_t done; /* the last seq core 1 finished */
    volatile uint32_t up;   /* core 1 is in its loop */
} board_job;

static board_job job;
static uint32_t running = 1; /* cores taking jobs */

#define CORE1_STACK_WORDS 1024u
static uint64_t core1_stack[CORE1_STACK_WORDS / 2u]; /* (4 KB) in .bss */

__attribute__((noreturn)) static void core1_loop(void) {
    uint32_t seen = 0;
    job.up = 1u;
    __asm volatile("dsb\n\tsev" ::: "memory");
    for (;;) {
        while (job.seq == seen) __asm volatile("wfe" ::: "memory");
        dmb();
        seen = job.seq;
        uint32_t b, e;
        llm_parallel_range(job.n, 2u, 1u, &b, &e);
        if (b < e) job.fn(job.arg, b, e);
        items[1] += e - b;
        dmb();
        job.done = seen;
        __asm volatile("dsb\n\tsev" ::: "memory");
    }
}

__attribute__((noreturn)) static void core1_reset(void) {
    board__fpu_on();
    core1_loop();
}

typedef union {
    void (*handler)(void);
    const void *stack_top;
} board_vector;

__attribute__((section(".vectors.core1"), used, aligned(128)))
const board_vector core1_vectors[16] = {
    {.stack_top = core1_stack + CORE1_STACK_WORDS / 2u},
    {.handler = core1_reset},
    {.handler = Default_Handler}, /* NMI */
    {.handler = Default_Handler}, /* HardFault */
    {.handler = Default_Handler}, /* MemManage */
    {.handler = Default_Handler}, /* BusFault */
    {.handler = Default_Handler}, /* UsageFault */
    {.handler = Default_Handler}, /* SecureFault */
    {.handler = 0},
    {.handler = 0},
    {.handler = 0},
    {.handler = Default_Handler}, /* SVCall */
    {.handler = Default_Handler}, /* DebugMonitor */
    {.handler = 0},
    {.handler = Default_Handler}, /* PendSV */
    {.handler = Default_Handler}, /* SysTick */
};

uint32_t board_cores_start(void) {
    if (running == 2u) return 2u;
    SYSCTL_INITSVTOR1 = (uint32_t)(uintptr_t)core1_vectors;
    dmb();
    SYSCTL_CPUWAIT = SYSCTL_CPUWAIT & ~2u;
    while (!job.up) __asm volatile("wfe" ::: "memory");
    running = 2u;
    return running;
}

void board_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    uint32_t b, e;
    if (running < 2u || n < 2u) {
        fn(arg, 0, n);
        items[0] += n;
        return;
    }
    job.fn = fn;
    job.arg = arg;
    job.n = n;
    dmb();
    const uint32_t seq = job.seq + 1u;
    job.seq = seq;
    __asm volatile("dsb\n\tsev" ::: "memory");
    llm_parallel_range(n, 2u, 0u, &b, &e);
    if (b < e) fn(arg, b, e);
    items[0] += e - b;
    while (job.done != seq) __asm volatile("wfe" ::: "memory");
    dmb();
}

#else

uint32_t board_cores_start(void) {
    return 1u;
}

void board_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    fn(arg, 0, n);
    items[0] += n;
}

#endif

uint64_t board_core_items(uint32_t core) {
    return core < BOARD_CORES ? items[core] : 0u;
}
