/*
 * board_ticks() on the MPS3 AN547: the SSE-300 system counter, a 64-bit up-counter that needs no
 * interrupt and never wraps in practice. QEMU drives it from the virtual
 * clock, so with -icount the times are emulated (deterministic) ones.
 */
#include <stdint.h>

#include "board.h"
#include "board_internal.h"

#if defined(BOARD_MPS3_AN547)

/* Control frame (Secure alias) and read-only status frame of the counter. */
#define CNTCONTROL_CNTCR (*(volatile uint32_t *)0x58100000u)
#define CNTREAD_CNTCV_LO (*(volatile uint32_t *)0x58101000u)
#define CNTREAD_CNTCV_HI (*(volatile uint32_t *)0x58101004u)
#define CNTCR_EN 1u

void board__timer_start(void) {
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

#endif /* BOARD_MPS3_AN547 */
