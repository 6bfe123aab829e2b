/* The llm library's port hooks on these boards: emulated time, stderr and,
 * on the AN521, both cores (elsewhere parallel_for stays unset: one core). */
#include <stdio.h>

#include "board.h"
#include "llm.h"

static uint64_t port_time_us(void *user) {
    (void)user;
    return board_time_us();
}

static void port_log(int level, const char *msg, void *user) {
    (void)user;
    static const char tags[] = "?EWID";
    char tag = level >= LLM_LOG_ERROR && level <= LLM_LOG_DEBUG ? tags[level] : '?';
    fprintf(stderr, "[llm %c] %s\n", tag, msg);
}

void board_llm_port_init(void) {
    llm_port port = {port_log, port_time_us, NULL, NULL};
    if (board_cores_start() > 1u) port.parallel_for = board_parallel_for;
    llm_port_set(&port);
}
