/* What the chat example's framework glue provides: ESP-IDF in main.c,
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

/* Read one line (without its ending) into buf (cap bytes incl. NUL),
 * blocking; echoes it. Returns its length; a longer line is cut. */
size_t ex_read_line(char *buf, size_t cap);

/* Initialise the console for ex_read_line (ESP-IDF: install its driver). */
void ex_console_init(void);

#ifdef __cplusplus
}
#endif

#endif /* EXAMPLE_H */
