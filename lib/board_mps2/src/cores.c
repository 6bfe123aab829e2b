/*
 * The AN521's two Cortex-M33 cores for parallel_for: bare metal, no RTOS, a
 * shared job record and an event handshake.
 *
 * Roles: core 1 runs main, core 0 is the worker. Under QEMU 7.2 a
 * semihosting call (made by either core) leaves core 0 without FPU access:
 * CPACR reads 0 afterwards and core 0's next float instruction faults with
 * NOCP, and granting it again (CPACR, and NSACR / CPACR_NS in case the
 * core were left Non-secure) does not bring it back; core 1 is not affected.
 * So core 1 owns the console and core 0 serves jobs only when built with
 * -DBOARD_MPS2_SECOND_CORE=1: then the handshake runs (every item visited
 * once) but core 0 faults at its first float instruction once the console
 * has been used. Not root-caused. By default core 0 parks after starting
 * core 1 and the firmware runs on one core.
 *
 * Start: the SSE-200 boots core 0 and holds core 1 (CPUWAIT bit 1). Core 0
 * (board__worker_boot) moves to its own stack in .noinit, clears `go`, points
 * core 1's initial vector table (INITSVTOR1) at the normal one, releases
 * core 1 and sleeps until `go` says core 1 has initialised memory and wants
 * a worker (board_cores_start). Until then core 0 touches nothing that
 * core 1's start-up writes.
 * A job: core 1 fills `job`, bumps job.seq (DMB before, so the fields are
 * visible first) and signals an event (SEV); core 0 wakes from WFE, runs its
 * range, stores job.done = seq (DMB before, so its results are visible
 * first) and signals back; core 1 runs its own range meanwhile and waits for
 * done == seq. Each item is computed by the same call whatever core runs
 * it, so results are bit-identical to one core. QEMU runs WFE as a yield to
 * the other core, so waiting costs few emulated instructions.
 * On one-core boards board_parallel_for simply runs everything here.
 */
#include <stdint.h>

#include "board.h"
#include "board_internal.h"

static uint64_t items[BOARD_CORES]; /* items run: [0] the main core, [1] the worker */

static inline void dmb(void) {
    __asm volatile("dmb" ::: "memory");
}

#ifndef BOARD_MPS2_SECOND_CORE
#define BOARD_MPS2_SECOND_CORE 0
#endif

#if BOARD_CORES > 1

/* SSE-200 system control (Secure only). */
#define SYSCTL_INITSVTOR1 (*(volatile uint32_t *)0x50021114u)
#define SYSCTL_CPUWAIT (*(volatile uint32_t *)0x50021118u)

#define GO_MAGIC 0x600D1E55u /* any value; the worker clears `go` first */

typedef struct {
    llm_range_fn fn;
    void *arg;
    uint32_t n;
    volatile uint32_t seq;  /* bumped by the main core per job */
    volatile uint32_t done; /* the last seq the worker finished */
    volatile uint32_t up;   /* the worker is in its loop */
} board_job;

static board_job job;        /* in .bss: used only after `go` */
static uint32_t running = 1; /* cores taking jobs */

/* Written before core 1 starts, so not in .data / .bss. */
#define WORKER_STACK_WORDS 1024u
__attribute__((section(".noinit"))) static uint64_t worker_stack[WORKER_STACK_WORDS / 2u];
__attribute__((section(".noinit"))) static volatile uint32_t go;

extern const uint32_t __vectors_start__[]; /* the vector table (linker script) */

__attribute__((noreturn, used)) static void worker_main(void) {
    go = 0u;
    dmb();
    SYSCTL_INITSVTOR1 = (uint32_t)(uintptr_t)__vectors_start__;
    dmb();
    SYSCTL_CPUWAIT = SYSCTL_CPUWAIT & ~2u;
    while (go != GO_MAGIC) __asm volatile("wfe" ::: "memory");
    dmb();
    board__fpu_on();
    uint32_t seen = job.seq;
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

/* Core 0 arrives on the stack core 1 will use: leave it at once. */
__attribute__((naked, noreturn)) void board__worker_boot(void) {
    __asm volatile("mov sp, %0\n\t"
                   "b worker_main\n\t"
                   :
                   : "r"(worker_stack + WORKER_STACK_WORDS / 2u));
}

uint32_t board_cores_start(void) {
    if (running == 2u || !BOARD_MPS2_SECOND_CORE) return running;
    dmb();
    go = GO_MAGIC;
    __asm volatile("dsb\n\tsev" ::: "memory");
    while (!job.up) __asm volatile("wfe" ::: "memory");
    dmb();
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
