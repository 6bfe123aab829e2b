/*
 * The AN521's two Cortex-M33 cores for parallel_for: bare metal, no RTOS, a
 * shared job record and an event handshake.
 *
 * Roles: core 1 runs main and owns the console, core 0 is the worker. The
 * SSE-200 is configurable per core; the AN521 image (and QEMU's sse-200
 * model, hw/arm/armsse.c: CPU0_FPU and CPU0_DSP default off, CPU1_* on)
 * gives core 0 neither the FPU nor the DSP extension, so on that
 * configuration core 0 cannot run the kernels (its first float instruction
 * faults with NOCP: CPACR's CP10/CP11 bits read as zero). Core 1 always
 * has both, hence it runs main. The QEMU command lines of this project
 * configure an SSE-200 with both on core 0 too (BOARD_QEMU_ARGS), the
 * pattern of parts such as the RP2350 whose two M33 cores are alike. The
 * worker checks what it has (FPU: CPACR reads back what it wrote; DSP:
 * ID_ISAR3.SIMD) and, without what this build's code needs, parks: then
 * board_cores_start returns 1 and everything runs on core 1.
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
 * the other core. The wait loops are functions of their own
 * (board__wait_job, board__wait_done, board__park) so that the benchmark
 * can leave the instructions spent waiting out of each core's count.
 * On one-core boards board_parallel_for simply runs everything here.
 */
#include <stdint.h>

#include "board.h"
#include "board_internal.h"

static uint64_t items[BOARD_CORES]; /* items run: [0] the main core, [1] the worker */

static inline void dmb(void) {
    __asm volatile("dmb" ::: "memory");
}

#if BOARD_CORES > 1

/* SSE-200 system control (Secure only). */
#define SYSCTL_INITSVTOR1 (*(volatile uint32_t *)0x50021114u)
#define SYSCTL_CPUWAIT (*(volatile uint32_t *)0x50021118u)
/* This core's System Control Space. */
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_ID_ISAR3 (*(volatile uint32_t *)0xE000ED6Cu)

#define GO_MAGIC 0x600D1E55u /* any value; the worker clears `go` first */

/* job.up, written by the worker once it has checked itself. */
#define UP_READY 1u   /* serving jobs */
#define UP_NO_FPU 2u  /* parked: no FPU on this core */
#define UP_NO_DSP 3u  /* parked: no DSP extension, which this build uses */

typedef struct {
    llm_range_fn fn;
    void *arg;
    uint32_t n;
    volatile uint32_t seq;  /* bumped by the main core per job */
    volatile uint32_t done; /* the last seq the worker finished */
    volatile uint32_t up;   /* 0 until the worker answers `go`, then UP_* */
} board_job;

static board_job job;        /* in .bss: used only after `go` */
static uint32_t running = 1; /* cores taking jobs */
static uint32_t asked;       /* board_cores_start ran */

/* Written before core 1 starts, so not in .data / .bss. */
#define WORKER_STACK_WORDS 1024u
__attribute__((section(".noinit"))) static uint64_t worker_stack[WORKER_STACK_WORDS / 2u];
__attribute__((section(".noinit"))) static volatile uint32_t go;

extern const uint32_t __vectors_start__[]; /* the vector table (linker script) */

/* UP_READY when this core can run the build's code, else why not. Integer
 * code only: the FPU may be absent. */
static uint32_t check_self(void) {
    board__fpu_on();
    if (((SCB_CPACR >> 20) & 0xFu) != 0xFu) return UP_NO_FPU;
#if defined(__ARM_FEATURE_DSP)
    if (((SCB_ID_ISAR3 >> 4) & 0xFu) < 3u) return UP_NO_DSP; /* SIMD: 3 = DSP extension */
#endif
    return UP_READY;
}

/* The worker sleeps here until the main core posts a job after `seen`. */
__attribute__((noinline)) void board__wait_job(uint32_t seen) {
    while (job.seq == seen) __asm volatile("wfe" ::: "memory");
}

/* A worker that cannot run the build's code sleeps here for good. */
__attribute__((noinline, noreturn)) void board__park(void) {
    for (;;) __asm volatile("wfe" ::: "memory");
}

/* The main core sleeps here until the worker has finished job seq. */
__attribute__((noinline)) void board__wait_done(uint32_t seq) {
    while (job.done != seq) __asm volatile("wfe" ::: "memory");
}

__attribute__((noreturn, used)) static void worker_main(void) {
    go = 0u;
    dmb();
    SYSCTL_INITSVTOR1 = (uint32_t)(uintptr_t)__vectors_start__;
    dmb();
    SYSCTL_CPUWAIT = SYSCTL_CPUWAIT & ~2u;
    while (go != GO_MAGIC) __asm volatile("wfe" ::: "memory");
    dmb();
    const uint32_t up = check_self();
    uint32_t seen = job.seq;
    job.up = up;
    __asm volatile("dsb\n\tsev" ::: "memory");
    if (up != UP_READY) board__park();
    for (;;) {
        board__wait_job(seen);
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
    if (asked) return running;
    asked = 1u;
    dmb();
    go = GO_MAGIC;
    __asm volatile("dsb\n\tsev" ::: "memory");
    while (job.up == 0u) __asm volatile("wfe" ::: "memory");
    dmb();
    if (job.up == UP_READY) running = 2u;
    return running;
}

const char *board_cores_note(void) {
    if (!asked) return "second core not started";
    switch (job.up) {
    case UP_READY: return "both cores";
    case UP_NO_FPU: return "core 0 has no FPU: one core";
    case UP_NO_DSP: return "core 0 has no DSP extension: one core";
    default: return "?";
    }
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
    board__wait_done(seq);
    dmb();
}

#else

uint32_t board_cores_start(void) {
    return 1u;
}

const char *board_cores_note(void) {
    return "one core";
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
