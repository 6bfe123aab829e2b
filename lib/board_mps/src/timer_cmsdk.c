/*
 * board_ticks() on the MPS2 boards: timer 1 of the CMSDK dual timer (at
 * 0x40002000 on all four): a 32-bit down-counter in free-running mode, clocked at
 * BOARD_TICK_HZ with no prescaler, widened to 64 bits by counting its wraps
 * when read. No interrupt is needed. QEMU drives it from the virtual clock,
 * so with -icount the times are emulated (deterministic) ones.
 */
#include <stdint.h>

#include "board.h"
#include "board_internal.h"

#if !defined(BOARD_MPS3_AN547)

#define DUALTIMER1_LOAD (*(volatile uint32_t *)0x40002000u)
#define DUALTIMER1_VALUE (*(volatile uint32_t *)0x40002004u)
#define DUALTIMER1_CONTROL (*(volatile uint32_t *)0x40002008u)
#define CTRL_ENABLE 0x80u /* free-running (bit 6 clear), no interrupt, prescale 1 */
#define CTRL_32BIT 0x02u

static uint32_t last_value; /* the counter at the previous read */
static uint64_t elapsed;    /* ticks up to that read */

void board__timer_start(void) {
    DUALTIMER1_CONTROL = 0;
    DUALTIMER1_LOAD = 0xFFFFFFFFu;
    DUALTIMER1_CONTROL = CTRL_ENABLE | CTRL_32BIT;
    last_value = DUALTIMER1_VALUE;
    elapsed = 0;
}

uint64_t board_ticks(void) {
    const uint32_t v = DUALTIMER1_VALUE;
    elapsed += (uint32_t)(last_value - v); /* modulo 2^32: one wrap at most */
    last_value = v;
    return elapsed;
}

#endif /* !BOARD_MPS3_AN547 */
