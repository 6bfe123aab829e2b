/*
 * Time from the SSE-300 system counter: a 64-bit up-counter that needs no
 * interrupt and never wraps in practice. QEMU drives it from the virtual
 * clock, so with -icount the times are emulated (deterministic) ones.
 */
#include <stdint.h>
#include <time.h>

#include "board.h"
#include "board_internal.h"

/* Control frame (Secure alias) and read-only status frame of the counter. */
#define CNTCONTROL_CNTCR (*(volatile uint32_t *)0x58100000u)
#define CNTREAD_CNTCV_LO (*(volatile uint32_t *)0x58101000u)
#define CNTREAD_CNTCV_HI (*(volatile uint32_t *)0x58101004u)
#define CNTCR_EN 1u

void board__counter_start(void) {
    CNTCONTROL_CNTCR = CNTCR_EN;
}

uint64_t board_ticks(void) {
    /* Re-read when the high word moved between the two halves. */
    uint32_t hi, lo;
    do {
        hi = CNTREAD_CNTCV_HI;
        lo = CNTREAD_CNTCV_LO;
    } while (CNTREAD_CNTCV_HI != hi);
    return (uint64_t)hi << 32 | lo;
}

uint64_t board_time_us(void) {
    uint64_t t = board_ticks();
    /* Split so that t * 1e6 cannot overflow. */
    return t / BOARD_TICK_HZ * 1000000u + t % BOARD_TICK_HZ * 1000000u / BOARD_TICK_HZ;
}

/* C's processor time, from the counter instead of librdimon's SYS_CLOCK (the
 * host's wall clock): emulated time since reset, in CLOCKS_PER_SEC units. */
clock_t clock(void) {
    uint64_t t = board_ticks();
    return (clock_t)(t / (BOARD_TICK_HZ / CLOCKS_PER_SEC));
}
