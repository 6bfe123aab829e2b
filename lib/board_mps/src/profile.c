/*
 * The llm library's profiling hook (lib/llm/src/forward.c, compiled in with
 * -DLLM_PROFILE). It only counts the entries into each region; the work per
 * region is measured from outside: the benchmark scripts run QEMU with
 * a TCG plugin that watches the stores into board_prof_entries[] made by
 * this function and charges each executed instruction to the region last
 * entered. So the hook costs a few instructions and reads no timer.
 */
#include <stdint.h>

/* Regions of forward.c: 0 outside llm_forward, 1 mat-vec, 2 attention,
 * 3 the rest of the forward pass. */
#define BOARD_PROF_REGIONS 4

/* Times each region was entered (the plugin keys on these addresses). */
volatile uint32_t board_prof_entries[BOARD_PROF_REGIONS];

void llm_profile_region(int region);

void llm_profile_region(int region) {
    if ((unsigned)region < BOARD_PROF_REGIONS) board_prof_entries[region]++;
}
