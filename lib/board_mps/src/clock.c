/* Microseconds and C's clock() from board_ticks() (timer_cmsdk.c or
 * counter_sse300.c, by board). */
#include <stdint.h>
#include <time.h>

#include "board.h"

uint64_t board_time_us(void) {
    uint64_t t = board_ticks();
    /* Split so that t * 1e6 cannot overflow. */
    return t / BOARD_TICK_HZ * 1000000u + t % BOARD_TICK_HZ * 1000000u / BOARD_TICK_HZ;
}

/* C's processor time, from the board's timer instead of librdimon's
 * SYS_CLOCK (the host's wall clock): emulated time since start-up, in
 * CLOCKS_PER_SEC units. */
clock_t clock(void) {
    uint64_t t = board_ticks();
    return (clock_t)(t / (BOARD_TICK_HZ / CLOCKS_PER_SEC));
}
