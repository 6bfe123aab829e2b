/*
 * Platform layer of the test firmware: console lines, files, memory, time.
 * fw_port_stdio.c implements it with C stdio (host build, and newlib
 * semihosting on QEMU); a board port defines FW_PORT_CUSTOM and provides
 * its own file with these functions.
 */
#ifndef FW_PORT_H
#define FW_PORT_H

#include <stddef.h>
#include <stdint.h>

/* Called once at start-up, before anything is printed. */
void fw_port_init(void);

/* Read one line into buf (cap bytes incl. NUL) without its line ending.
 * Returns its length, -1 at end of input, or -2 when the line did not fit
 * (the rest of it is discarded; buf holds its beginning). */
long fw_port_read_line(char *buf, size_t cap);

/* Write n bytes to the console. */
void fw_port_write(const char *s, size_t n);

/* Push written bytes out (the host reads a file, so stdout is not a tty). */
void fw_port_flush(void);

/* Size in bytes of a file, or -1 when it cannot be opened. */
long fw_port_file_size(const char *path);

/* Read the first n bytes of a file into dst; 0 on success. */
int fw_port_file_read(const char *path, void *dst, size_t n);

/* n bytes (n may be 0) of 16-byte-aligned memory, or NULL. Exactly n bytes
 * where the allocator allows it, so sanitizers see any overrun. */
void *fw_port_alloc(size_t n);
void fw_port_free(void *p);

/* Monotonic microseconds (only used for reported timings). */
uint64_t fw_port_time_us(void);

/* Leave the firmware with the given status. */
void fw_port_exit(int status);

#endif /* FW_PORT_H */
