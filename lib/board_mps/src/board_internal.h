/* Declarations shared by the board library's source files. */
#ifndef BOARD_INTERNAL_H
#define BOARD_INTERNAL_H

#include <stdint.h>

/* Arm semihosting operations used directly (newlib's librdimon does the rest). */
#define BOARD_SYS_WRITE0 0x04u
#define BOARD_SYS_EXIT 0x18u
#define BOARD_SYS_EXIT_EXTENDED 0x20u
#define BOARD_ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* One semihosting call: op in r0, arg in r1, result from r0. */
static inline uint32_t board__semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* End the program with an exit status, without newlib (safe in a fault). */
__attribute__((noreturn)) static inline void board__semihost_exit(uint32_t status) {
    const uint32_t block[2] = {BOARD_ADP_STOPPED_APPLICATION_EXIT, status};
    board__semihost(BOARD_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

/* Start the board's timer (MPS2: the dual timer, AN547: the system
 * counter); board_ticks() counts from here. */
void board__timer_start(void);

/* Grant this core the FPU (and on the M55 MVE; CPACR: coprocessors 10 and
 * 11). Integer code only may run before it. */
static inline __attribute__((always_inline)) void board__fpu_on(void) {
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");
}

/* The fault handler of every vector table. */
void Default_Handler(void);

/* AN521: core 0's reset path (src/cores.c): moves to its own stack, starts
 * core 1 on the vector table (which runs main) and serves parallel_for. */
__attribute__((noreturn)) void board__worker_boot(void);

#endif /* BOARD_INTERNAL_H */
