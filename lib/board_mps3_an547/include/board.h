/*
 * Arm MPS3 AN547 (Corstone-300: Cortex-M55 with Helium) as emulated by
 * `qemu-system-arm -M mps3-an547`: start-up, memory regions, time and the
 * llm port. Console and files go through newlib semihosting (stdio works
 * when QEMU runs with -semihosting-config enable=on,target=native).
 *
 * Memory map (ld/mps3_an547.ld):
 *   ITCM  0x00000000 512 KB  vector table, code, constants (the boot memory)
 *   DTCM  0x20000000 512 KB  .data, .bss, stack
 *   ISRAM 0x21000000   4 MB  BOARD_BIG_BSS buffers (the llm arena)
 *   QSPI  0x28000000   8 MB  read-only "flash": the embedded model blob
 *   DDR   0x60000000 256 MB  malloc heap (files loaded through semihosting)
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Put a large zero-initialised buffer in the 4 MB internal SRAM instead of
 * the 512 KB DTCM, e.g. `static uint8_t arena[N] BOARD_BIG_BSS;`. */
#define BOARD_BIG_BSS __attribute__((section(".bss.isram"), aligned(16)))

/* Frequency of the SSE-300 system counter behind board_ticks(), in Hz. */
#define BOARD_TICK_HZ 32000000u

/* System counter ticks since reset (64-bit, never wraps in practice).
 * Under QEMU it follows the virtual clock: with -icount shift=0 one
 * instruction takes 1 ns, so timings are deterministic. */
uint64_t board_ticks(void);

/* Microseconds since reset, from board_ticks(). */
uint64_t board_time_us(void);

/* Install the llm port hooks: time from board_time_us(), log lines to
 * stderr as "[llm W] message". Call before llm_init. */
void board_llm_port_init(void);

/* Bytes of the DTCM stack never touched since reset (its low-water mark);
 * start-up fills the stack with a pattern. 0..stack size. */
size_t board_stack_unused(void);

/* Stack size reserved by the linker script, in bytes. */
size_t board_stack_size(void);

/* Bytes of the heap (DDR) handed out by _sbrk so far. */
size_t board_heap_used(void);

/* Bytes of .data + .bss in DTCM and of BOARD_BIG_BSS buffers in ISRAM. */
size_t board_dtcm_static_bytes(void);
size_t board_isram_static_bytes(void);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_H */
