/* Port hooks: logging and time, both optional. The library never prints or
 * reads a clock itself, so a bare-metal build needs no libc I/O. */
#include <stdarg.h>

#include "llm_internal.h"

/* All-NULL members are the defaults: silent, time 0. */
static llm_port g_port;

void llm_port_set(const llm_port *port) {
    if (port) {
        g_port = *port;
    } else {
        memset(&g_port, 0, sizeof g_port);
    }
}

uint64_t llm__time_us(void) {
    return g_port.time_us ? g_port.time_us(g_port.user) : 0;
}

void llm__parallel_for(llm_range_fn fn, void *arg, uint32_t n) {
    if (n == 0) return;
    if (g_port.parallel_for) {
        g_port.parallel_for(fn, arg, n, g_port.user);
    } else {
        fn(arg, 0, n);
    }
}

/* Bounded writer into a fixed buffer: anything past the end is dropped, and
 * the buffer always keeps room for the terminating NUL. */
typedef struct {
    char *buf;
    size_t cap, len; /* cap >= 1 */
} out_buf;

static void put_char(out_buf *o, char c) {
    if (o->len + 1 < o->cap) o->buf[o->len++] = c;
}

static void put_str(out_buf *o, const char *s) {
    if (!s) s = "(null)";
    while (*s) put_char(o, *s++);
}

/* v in base 10 or 16 (lowercase), no padding. */
static void put_uint(out_buf *o, uint64_t v, unsigned base) {
    char digits[20]; /* 2^64-1 has 20 decimal digits */
    size_t n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0) put_char(o, digits[--n]);
}

/* Formats fmt into at most 127 characters; conversions %s %d %u %zu %x %%.
 * Any other conversion is copied literally and consumes no argument. */
void llm__log(int level, const char *fmt, ...) {
    if (!g_port.log || !fmt || level > LLM_LOG_LEVEL) return;
    char buf[128];
    out_buf o = {buf, sizeof buf, 0};
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put_char(&o, *p);
            continue;
        }
        const char c = p[1];
        if (c == 's') {
            put_str(&o, va_arg(ap, const char *));
        } else if (c == 'd') {
            const int v = va_arg(ap, int);
            if (v < 0) {
                put_char(&o, '-');
                /* Negate in unsigned arithmetic so INT_MIN does not overflow. */
                put_uint(&o, 0u - (uint64_t)(int64_t)v, 10);
            } else {
                put_uint(&o, (uint64_t)v, 10);
            }
        } else if (c == 'u') {
            put_uint(&o, va_arg(ap, unsigned), 10);
        } else if (c == 'x') {
            put_uint(&o, va_arg(ap, unsigned), 16);
        } else if (c == 'z' && p[2] == 'u') {
            put_uint(&o, va_arg(ap, size_t), 10);
            p++;
        } else if (c == '%') {
            put_char(&o, '%');
        } else {
            put_char(&o, '%');
            if (c == '\0') break;
            put_char(&o, c);
        }
        p++;
    }
    va_end(ap);
    buf[o.len] = '\0';
    g_port.log(level, buf, g_port.user);
}
