/*
 * Arm MPS2 and MPS3 FPGA boards as emulated by QEMU (`qemu-system-arm -M
 * mps2-an386`, `mps2-an500`, `mps2-an505`, `mps2-an521`, `mps3-an547`):
 * start-up, memory regions, time, the llm port and, on the AN521, its
 * second core. Console and files go through newlib semihosting (stdio works
 * when QEMU runs with -semihosting-config enable=on,target=native). The
 * board is named by one of BOARD_MPS2_AN386 / _AN500 / _AN505 / _AN521 or
 * BOARD_MPS3_AN547 (the board manifests' build.extra_flags).
 *
 * Memory map (ld/<board>.ld over the shared ld/mps_sections.ld):
 *   board  CPU          CODE (boot memory: code)         DATA (data, stack) / BIG (arena)  MODEL (blob)  heap
 *   AN386  Cortex-M4F   0x00000000 ZBT SSRAM1 4 MB       0x20000000 ZBT SSRAM2&3 4 MB      in CODE       0x21000000 PSRAM 16 MB
 *   AN500  Cortex-M7    0x00000000 ZBT SSRAM1 4 MB       0x20000000 ZBT SSRAM2&3 4 MB      in CODE       0x60000000 PSRAM 16 MB
 *   AN505  Cortex-M33   0x10000000 SSRAM0 (Secure) 4 MB  0x28000000 SSRAM1+2 4 MB          in CODE       0x80000000 16 MB
 *   AN521  2x M33       as the AN505
 *   AN547  Cortex-M55   0x00000000 ITCM 512 KB           0x20000000 DTCM 512 KB /          0x28000000    0x60000000 DDR 256 MB
 *                                                        0x21000000 ISRAM 4 MB             QSPI 8 MB
 *
 * AN521: core 1 runs main and owns the console; core 0 starts it and
 * serves parallel_for when it has the FPU and DSP extension (the AN521
 * image gives it neither; QEMU is run with BOARD_QEMU_ARGS, which adds both,
 * see src/cores.c), else it parks and the firmware runs on core 1 alone.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* BOARD_TICK_HZ: the clock of board_ticks() in Hz (MPS2: the dual timer's,
 * the FPGA's SYSCLK; AN547: the SSE-300 system counter's);
 * BOARD_QEMU_MACHINE: the emulator's machine name; BOARD_QEMU_ARGS: what
 * else its command line needs (the SSE-200 configured with core 0's FPU and
 * DSP extension on the AN521). Both are kept in the ELF for the tools that
 * start QEMU (test/qemu_target.py). */
#if defined(BOARD_MPS2_AN386)
#define BOARD_TICK_HZ 25000000u
#define BOARD_QEMU_MACHINE "mps2-an386"
#elif defined(BOARD_MPS2_AN500)
#define BOARD_TICK_HZ 25000000u
#define BOARD_QEMU_MACHINE "mps2-an500"
#elif defined(BOARD_MPS2_AN505)
#define BOARD_TICK_HZ 20000000u
#define BOARD_QEMU_MACHINE "mps2-an505"
#elif defined(BOARD_MPS2_AN521)
#define BOARD_TICK_HZ 20000000u
#define BOARD_QEMU_MACHINE "mps2-an521"
#define BOARD_QEMU_ARGS "-global sse-200.CPU0_FPU=on -global sse-200.CPU0_DSP=on"
#elif defined(BOARD_MPS3_AN547)
#define BOARD_TICK_HZ 32000000u /* the SSE-300 system counter */
#define BOARD_QEMU_MACHINE "mps3-an547"
#else
#error "board_mps: define one of BOARD_MPS2_AN386, _AN500, _AN505, _AN521, BOARD_MPS3_AN547 (board manifest)"
#endif
#ifndef BOARD_QEMU_ARGS
#define BOARD_QEMU_ARGS ""
#endif

/* Cores the board has (the AN521's SSE-200 has two). */
#if defined(BOARD_MPS2_AN521)
#define BOARD_CORES 2
#else
#define BOARD_CORES 1
#endif

/* Put a large zero-initialised buffer in the BIG region, e.g.
 * `static uint8_t arena[N] BOARD_BIG_BSS;`: after .bss in SRAM on the MPS2
 * boards, the 4 MB ISRAM instead of the 512 KB DTCM on the AN547. */
#define BOARD_BIG_BSS __attribute__((section(".big_bss"), aligned(16)))

/* Timer ticks since start-up (64-bit; the 32-bit timer's wraps are counted
 * when read on the MPS2 boards, so call it at least once per 2^32 ticks:
 * 171 s at 25 MHz).
 * Under QEMU it follows the virtual clock: with -icount shift=0 one
 * instruction takes 1 ns, so timings are deterministic. Core 0 only. */
uint64_t board_ticks(void);

/* Microseconds since start-up, from board_ticks(). */
uint64_t board_time_us(void);

/* Install the llm port hooks: time from board_time_us(), log lines to
 * stderr as "[llm W] message" and, with two cores, parallel_for on both
 * (board_cores_start first). Call before llm_init. */
void board_llm_port_init(void);

/* Start the second core as a worker (AN521; nothing elsewhere). Returns the
 * cores now running jobs: 2, or 1 on a one-core board or when the second
 * core lacks the FPU or DSP extension this build uses. Idempotent. */
uint32_t board_cores_start(void);

/* Why board_cores_start returned what it did, for a log line: "both
 * cores", "core 0 has no FPU: one core", ... (a static string). */
const char *board_cores_note(void);

/* llm_port.parallel_for over the running cores: core w takes
 * llm_parallel_range(n, cores, w); returns when both are done. user is
 * ignored. Core 0 only. */
void board_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);

/* Items each core ran through board_parallel_for since start-up: core 0 is
 * the one running main (the AN521's CPU 1), core 1 the worker (CPU 0).
 * core < BOARD_CORES, else 0. */
uint64_t board_core_items(uint32_t core);

/* Bytes of core 0's stack never touched since reset (its low-water mark);
 * start-up fills the stack with a pattern. 0..stack size. */
size_t board_stack_unused(void);

/* Stack size reserved by the linker script, in bytes. */
size_t board_stack_size(void);

/* Bytes of the heap handed out by _sbrk so far. */
size_t board_heap_used(void);

/* Bytes of .data + .bss (in DATA: the AN547's DTCM), and of BOARD_BIG_BSS
 * buffers (in BIG: the AN547's ISRAM). */
size_t board_dtcm_static_bytes(void);
size_t board_isram_static_bytes(void);

#ifdef __cplusplus
}
#endif

#endif /* BOARD_H */
