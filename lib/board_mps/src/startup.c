/*
 * Reset, vector table and fault handlers for the MPS2 boards (Cortex-M4F,
 * M7, M33) and the MPS3 AN547 (Cortex-M55).
 *
 * Our own start-up instead of newlib's rdimon crt0: that one asks the debugger
 * (QEMU) for the heap and stack through SYS_HEAPINFO and sizes them for its
 * own idea of the memory map. Here the linker script decides: .data is copied
 * from CODE to DATA, .bss and the BIG buffers are zeroed, then semihosting is set up
 * and exit(main()) hands main's status to QEMU.
 */
#include <stdint.h>
#include <stdlib.h>

#include "board.h"
#include "board_internal.h"

int main(void);
extern void initialise_monitor_handles(void);

/* Linker script symbols (ld/mps_sections.ld). */
extern uint32_t __data_start__[], __data_end__[], __data_load__[];
extern uint32_t __bss_start__[], __bss_end__[];
extern uint32_t __big_bss_start__[], __big_bss_end__[];
extern uint32_t __stack_limit__[], __stack_top__[];
extern void (*__preinit_array_start[])(void);
extern void (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)

#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define BOARD_HAS_SPLIM 1 /* Armv8(.1)-M: MSPLIM, and the SAU's fault status */
#define SAU_SFSR (*(volatile uint32_t *)0xE000EDE4u)
#else
#define BOARD_HAS_SPLIM 0
#endif

void Reset_Handler(void);

/* Fill value of the unused stack, for board_stack_unused(). */
#define STACK_PAINT 0x5AA5C33Cu

/* Plain loops (no memcpy/memset): nothing here may run before .bss is valid
 * and these must not be turned back into library calls. */
__attribute__((noinline, optimize("no-tree-loop-distribute-patterns")))
static void init_memory(void) {
    const uint32_t *src = __data_load__;
    for (uint32_t *dst = __data_start__; dst < __data_end__;) *dst++ = *src++;
    for (uint32_t *p = __bss_start__; p < __bss_end__;) *p++ = 0;
    for (uint32_t *p = __big_bss_start__; p < __big_bss_end__;) *p++ = 0;
    /* Paint the stack below the current frame, leaving 256 bytes of margin. */
    uintptr_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_limit__; (uintptr_t)p < sp - 256u;) *p++ = STACK_PAINT;
}

/* crti.o's hooks, which -nostartfiles leaves out; newlib's init/fini array
 * walkers call them. Nothing needs them here. */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

__attribute__((noreturn, noinline)) static void start(void) {
    init_memory();
    board__timer_start();
    initialise_monitor_handles();
    for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; f++) (*f)();
    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) (*f)();
    exit(main());
}

/* Entry from the vector table; only integer code until the FPU is on. On
 * the AN521 both cores enter here: core 0 becomes the worker (src/cores.c)
 * and core 1 runs main. */
__attribute__((noreturn)) void Reset_Handler(void) {
#if BOARD_CORES > 1
    if (*(volatile uint32_t *)0x4001F000u == 0u) board__worker_boot(); /* SSE-200 CPU_IDENTITY */
#endif
    board__fpu_on();
#if BOARD_HAS_SPLIM
    /* A stack overflow into .bss becomes a UsageFault (reported below). */
    __asm volatile("msr msplim, %0" : : "r"(__stack_limit__));
#endif
    start();
}

size_t board_stack_unused(void) {
    const uint32_t *p = __stack_limit__;
    while (p < __stack_top__ && *p == STACK_PAINT) p++;
    return (size_t)(p - __stack_limit__) * sizeof *p;
}

size_t board_stack_size(void) {
    return (size_t)(__stack_top__ - __stack_limit__) * sizeof(uint32_t);
}

size_t board_dtcm_static_bytes(void) {
    return (size_t)(__bss_end__ - __data_start__) * sizeof(uint32_t);
}

size_t board_isram_static_bytes(void) {
    return (size_t)(__big_bss_end__ - __big_bss_start__) * sizeof(uint32_t);
}

/* ------------------------------------------------------------------ faults */

/* Append "name=0x%08x " to buf at *n (buf has room for it). */
static void put_hex(char *buf, size_t *n, const char *name, uint32_t v) {
    while (*name) buf[(*n)++] = *name++;
    buf[(*n)++] = '=';
    buf[(*n)++] = '0';
    buf[(*n)++] = 'x';
    for (int shift = 28; shift >= 0; shift -= 4) {
        buf[(*n)++] = "0123456789abcdef"[(v >> shift) & 0xFu];
    }
    buf[(*n)++] = ' ';
}

/* Report a fault on the semihosting console and end QEMU with status 3, so a
 * test run fails at once instead of hanging in a loop. pc and lr are the
 * faulting code's, from its stacked exception frame. */
__attribute__((used, noreturn)) void board__fault(uint32_t pc, uint32_t lr, uint32_t exc_return) {
    char msg[192];
    size_t n = 0;
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    const char *head = "\n*** fault: ";
    while (*head) msg[n++] = *head++;
#if BOARD_CORES > 1
    put_hex(msg, &n, "core", *(volatile uint32_t *)0x4001F000u); /* SSE-200 CPU_IDENTITY */
#endif
    put_hex(msg, &n, "exc", ipsr & 0x1FFu);
    put_hex(msg, &n, "pc", pc);
    put_hex(msg, &n, "lr", lr);
    put_hex(msg, &n, "cfsr", SCB_CFSR);
    put_hex(msg, &n, "hfsr", SCB_HFSR);
    put_hex(msg, &n, "mmfar", SCB_MMFAR);
    put_hex(msg, &n, "bfar", SCB_BFAR);
#if BOARD_HAS_SPLIM
    put_hex(msg, &n, "sfsr", SAU_SFSR);
#endif
    put_hex(msg, &n, "excret", exc_return);
    msg[n++] = '\n';
    msg[n] = '\0';
    board__semihost(BOARD_SYS_WRITE0, msg);
    board__semihost_exit(3);
}

/* Every fault and unexpected exception: take pc and lr from the stacked frame
 * (on MSP or PSP, by EXC_RETURN bit 2), then continue on a fresh stack (with
 * the stack limit off on Armv8-M), so that a stack overflow can be reported
 * too. */
__attribute__((naked)) void Default_Handler(void) {
    __asm volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mov r2, lr\n\t"
        "ldr r1, [r0, #20]\n\t"
        "ldr r0, [r0, #24]\n\t"
#if BOARD_HAS_SPLIM
        "movs r3, #0\n\t"
        "msr msplim, r3\n\t"
#endif
        "movw r3, #:lower16:__stack_top__\n\t"
        "movt r3, #:upper16:__stack_top__\n\t"
        "mov sp, r3\n\t"
        "b board__fault\n\t");
}

/* The QEMU machine this ELF is for and its extra arguments, found in the
 * file by test/qemu_target.py (kept by the linker script's .board_id). */
__attribute__((section(".board_id"), used)) const char board_qemu_id[] =
    "llm-qemu-machine=" BOARD_QEMU_MACHINE;
__attribute__((section(".board_id"), used)) const char board_qemu_args[] =
    "llm-qemu-args=" BOARD_QEMU_ARGS;

/* Cortex-M system exceptions only: no peripheral interrupt is enabled. */
typedef union {
    void (*handler)(void);
    const void *stack_top;
} board_vector;

__attribute__((section(".vectors"), used)) const board_vector board_vectors[16] = {
    {.stack_top = __stack_top__},
    {.handler = Reset_Handler},
    {.handler = Default_Handler}, /* NMI */
    {.handler = Default_Handler}, /* HardFault */
    {.handler = Default_Handler}, /* MemManage */
    {.handler = Default_Handler}, /* BusFault */
    {.handler = Default_Handler}, /* UsageFault */
    {.handler = Default_Handler}, /* SecureFault (Armv8-M) */
    {.handler = 0},
    {.handler = 0},
    {.handler = 0},
    {.handler = Default_Handler}, /* SVCall */
    {.handler = Default_Handler}, /* DebugMonitor */
    {.handler = 0},
    {.handler = Default_Handler}, /* PendSV */
    {.handler = Default_Handler}, /* SysTick */
};
