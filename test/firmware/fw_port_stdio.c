/* fw_port.h over C stdio and malloc: the host build, and QEMU with newlib
 * semihosting (stdin/stdout and fopen reach the host). */
#ifndef FW_PORT_CUSTOM

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fw_port.h"

/* The MPS boards' microsecond timer (lib/board_mps), finer than clock()'s
 * CLOCKS_PER_SEC (newlib: 100) ticks. Declared here, not included: an
 * #include would make PlatformIO's dependency finder add board_mps to the
 * host builds too. */
#if defined(BOARD_MPS2_AN386) || defined(BOARD_MPS2_AN500) || defined(BOARD_MPS2_AN505) || \
    defined(BOARD_MPS2_AN521) || defined(BOARD_MPS3_AN547)
#define FW_BOARD_TIME 1
uint64_t board_time_us(void);
#endif

void fw_port_init(void) {
    /* stdout is a file or pipe on the host: full buffering, flushed per line
     * by the firmware itself. */
    static char out_buf[1 << 14];
    setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
}

long fw_port_read_line(char *buf, size_t cap) {
    if (cap < 2 || fgets(buf, (int)cap, stdin) == NULL) return -1;
    size_t n = strlen(buf);
    int complete = n > 0 && buf[n - 1] == '\n';
    if (!complete && n == cap - 1) {
        /* Discard the rest of an over-long line. */
        int c;
        while ((c = getchar()) != EOF && c != '\n') {
        }
        return -2;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    return (long)n;
}

void fw_port_write(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
}

void fw_port_flush(void) {
    fflush(stdout);
}

long fw_port_file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    fclose(f);
    return n;
}

int fw_port_file_read(const char *path, void *dst, size_t n) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    size_t got = n ? fread(dst, 1, n, f) : 0;
    fclose(f);
    return got == n ? 0 : -1;
}

/* Blocks from the fallback path (malloc not 16-byte aligned): their raw
 * pointers, so fw_port_free can tell them apart. */
#define FW_FALLBACK_SLOTS 32
static void *fallback_raw[FW_FALLBACK_SLOTS];
static void *fallback_user[FW_FALLBACK_SLOTS];

void *fw_port_alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL || ((uintptr_t)p & 15U) == 0) return p;
    free(p);
    for (int i = 0; i < FW_FALLBACK_SLOTS; i++) {
        if (fallback_raw[i] != NULL) continue;
        unsigned char *raw = malloc(n + 16);
        if (raw == NULL) return NULL;
        unsigned char *user = raw + (16U - ((uintptr_t)raw & 15U));
        fallback_raw[i] = raw;
        fallback_user[i] = user;
        return user;
    }
    return NULL;
}

void fw_port_free(void *p) {
    if (p == NULL) return;
    for (int i = 0; i < FW_FALLBACK_SLOTS; i++) {
        if (fallback_user[i] == p) {
            free(fallback_raw[i]);
            fallback_raw[i] = fallback_user[i] = NULL;
            return;
        }
    }
    free(p);
}

uint64_t fw_port_time_us(void) {
#ifdef FW_BOARD_TIME
    return board_time_us();
#else
    return (uint64_t)((double)clock() * (1e6 / (double)CLOCKS_PER_SEC));
#endif
}

void fw_port_exit(int status) {
    fflush(stdout);
    exit(status);
}

#endif /* FW_PORT_CUSTOM */
