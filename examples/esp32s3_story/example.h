/* What the story example's framework glue provides: ESP-IDF in main.c,
 * Arduino in arduino_entry.cpp. */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The example itself; never returns. */
void example_main(void);

/* Write n bytes to the serial console, now. */
void ex_write(const char *s, size_t n);

#if defined(STORY_BENCH) && STORY_BENCH
struct llm_ctx;
/* Instructions per position on each core, printed as one line (bench.c). */
void story_bench(struct llm_ctx *ctx, const char *prompt, char *line, size_t line_cap);
#endif

#ifdef __cplusplus
}
#endif

#endif /* EXAMPLE_H */
