/*
 * Console and files of the ESP32-S3 test firmware in Espressif's QEMU
 * (FW_ESP32S3_SEMIHOSTING=1, env esp32s3_test_qemu): QEMU's Xtensa
 * semihosting (`simcall`, enabled by -semihosting-config enable=on), as the
 * emulated Cortex-M55 uses Arm semihosting. The console is QEMU's stdin and
 * stdout, files are opened on the host by path, and fw_port_exit ends QEMU
 * with the status. The UART keeps ESP-IDF's boot log.
 *
 * Why not the UART, as on a board: the emulated UART stops delivering input
 * after a few tens of kilobytes (with or without ESP-IDF's UART driver), so
 * uploads of model files stall; real boards use fw_port_esp32s3.c's
 * @file/@data protocol.
 *
 * Calls (QEMU target/xtensa/xtensa-semi.c): a2 = number, a3..a5 = arguments,
 * result in a2 (-1 on error, errno in a3).
 */
#if defined(ESP_PLATFORM) && defined(FW_PORT_CUSTOM) && defined(FW_ESP32S3_SEMIHOSTING) && \
    FW_ESP32S3_SEMIHOSTING

#include <stdint.h>
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"

enum { SYS_EXIT = 1, SYS_READ = 3, SYS_WRITE = 4, SYS_OPEN = 5, SYS_CLOSE = 6, SYS_LSEEK = 19 };
enum { HOST_STDIN = 0, HOST_STDOUT = 1, HOST_O_RDONLY = 0, HOST_SEEK_SET = 0, HOST_SEEK_END = 2 };

static long simcall(long nr, long a, long b, long c) {
    register long a2 __asm__("a2") = nr;
    register long a3 __asm__("a3") = a;
    register long a4 __asm__("a4") = b;
    register long a5 __asm__("a5") = c;
    __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
    return a2;
}

/* Console input, read in blocks: (in_len - in_pos) bytes not yet returned. */
static char in_buf[4096];
static long in_len, in_pos;

void fw_port_init(void) {}

void fw_port_write(const char *s, size_t n) {
    while (n > 0) {
        const long w = simcall(SYS_WRITE, HOST_STDOUT, (long)s, (long)n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

void fw_port_flush(void) {}

/* Next input byte, or -1 at end of input. */
static int next_char(void) {
    if (in_pos == in_len) {
        in_len = simcall(SYS_READ, HOST_STDIN, (long)in_buf, (long)sizeof in_buf);
        in_pos = 0;
        if (in_len <= 0) {
            in_len = 0;
            return -1;
        }
    }
    return (unsigned char)in_buf[in_pos++];
}

long fw_port_read_line(char *buf, size_t cap) {
    if (cap < 2) return -1;
    return fw_line_from(next_char, buf, cap);
}

long fw_port_file_size(const char *path) {
    const long fd = simcall(SYS_OPEN, (long)path, HOST_O_RDONLY, 0);
    if (fd < 0) return -1;
    const long size = simcall(SYS_LSEEK, fd, 0, HOST_SEEK_END);
    simcall(SYS_CLOSE, fd, 0, 0);
    return size;
}

int fw_port_file_read(const char *path, void *dst, size_t n) {
    const long fd = simcall(SYS_OPEN, (long)path, HOST_O_RDONLY, 0);
    if (fd < 0) return -1;
    uint8_t *p = (uint8_t *)dst;
    size_t done = 0;
    while (done < n) {
        const long r = simcall(SYS_READ, fd, (long)(p + done), (long)(n - done));
        if (r <= 0) break;
        done += (size_t)r;
    }
    simcall(SYS_CLOSE, fd, 0, 0);
    return done == n ? 0 : -1;
}

void fw_port_exit(int status) {
    simcall(SYS_EXIT, status, 0, 0);
    for (;;) {
    }
}

#else
/* Not the emulator build of the ESP32-S3 test firmware: nothing here. */
typedef int fw_port_esp32s3_semihost_unused;
#endif
