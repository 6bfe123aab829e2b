/* Line protocol helpers (see fw_io.h). */
#include "fw_io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fw_port.h"

long fw_line_from(int (*next)(void), char *buf, size_t cap) {
    size_t n = 0;
    int overflow = 0, ch;
    while ((ch = next()) != '\n') {
        if (ch < 0) {
            if (n == 0 && !overflow) return -1;
            break;
        }
        if (ch == '\r') continue;
        if (n + 1 < cap) {
            buf[n++] = (char)ch;
        } else {
            overflow = 1;
        }
    }
    buf[n] = '\0';
    return overflow ? -2 : (long)n;
}

char *fw_word(char **cursor) {
    char *p = *cursor;
    while (*p == ' ') p++;
    if (*p == '\0') {
        *cursor = p;
        return NULL;
    }
    char *w = p;
    while (*p != '\0' && *p != ' ') p++;
    if (*p == ' ') *p++ = '\0';
    *cursor = p;
    return w;
}

int fw_parse_u64(const char *s, uint64_t *v) {
    if (s == NULL || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0) return -1;
    *v = (uint64_t)x;
    return 0;
}

int fw_parse_u32(const char *s, uint32_t *v) {
    uint64_t x;
    if (fw_parse_u64(s, &x) != 0 || x > 0xFFFFFFFFu) return -1;
    *v = (uint32_t)x;
    return 0;
}

int fw_parse_i32(const char *s, int32_t *v) {
    if (s == NULL) return -1;
    int neg = *s == '-';
    uint64_t x;
    if (fw_parse_u64(s + neg, &x) != 0 || x > (neg ? 2147483648u : 2147483647u)) return -1;
    *v = neg ? (int32_t)(0 - (int64_t)x) : (int32_t)x;
    return 0;
}

int fw_parse_f32(const char *s, float *v) {
    if (s == NULL || *s == '\0') return -1;
    char *end;
    double x = strtod(s, &end);
    if (*end != '\0') return -1;
    *v = (float)x;
    return 0;
}

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long fw_hex_decode(char *s) {
    if (s == NULL) return -1;
    if (strcmp(s, "-") == 0) {
        s[0] = '\0';
        return 0;
    }
    size_t n = strlen(s);
    if (n % 2 != 0) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        s[i] = (char)(unsigned char)(hi << 4 | lo);
    }
    s[n / 2] = '\0';
    return (long)(n / 2);
}

static int b64_val(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

long fw_base64_decode(char *s) {
    if (s == NULL) return -1;
    const size_t n = strlen(s);
    if (n == 0 || n % 4 != 0) return -1;
    size_t out = 0;
    for (size_t i = 0; i < n; i += 4) {
        /* "xx==" or "xxx=" only in the last group. */
        const int pad = s[i + 3] != '=' ? 0 : s[i + 2] != '=' ? 1 : 2;
        if (pad && i + 4 != n) return -1;
        int v[4];
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = b64_val(s[i + (size_t)k]);
            if (v[k] < 0) return -1;
        }
        for (int k = 4 - pad; k < 4; k++) v[k] = 0;
        const uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* out <= i * 3 / 4: the bytes written never pass those still to read. */
        s[out++] = (char)(unsigned char)(w >> 16);
        if (pad < 2) s[out++] = (char)(unsigned char)(w >> 8);
        if (pad < 1) s[out++] = (char)(unsigned char)w;
    }
    s[out] = '\0';
    return (long)out;
}

long fw_hex_decode_f32(const char *s, float *out, size_t cap) {
    if (s == NULL) return -1;
    if (strcmp(s, "-") == 0) return 0;
    size_t n = strlen(s);
    if (n % 8 != 0 || n / 8 > cap) return -1;
    for (size_t i = 0; i < n / 8; i++) {
        uint32_t u = 0;
        for (size_t k = 0; k < 8; k++) {
            int v = hex_val(s[8 * i + k]);
            if (v < 0) return -1;
            u = u << 4 | (uint32_t)v;
        }
        memcpy(&out[i], &u, sizeof u);
    }
    return (long)(n / 8);
}

long fw_parse_i32_list(char *s, int32_t *out, size_t cap) {
    if (s == NULL) return -1;
    if (strcmp(s, "-") == 0) return 0;
    size_t n = 0;
    char *p = s;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL) *comma = '\0';
        if (n == cap || fw_parse_i32(p, &out[n]) != 0) return -1;
        n++;
        if (comma == NULL) break;
        p = comma + 1;
    }
    return (long)n;
}

void fw_out_str(const char *s) {
    fw_port_write(s, strlen(s));
}

void fw_out_n(const char *s, size_t n) {
    fw_port_write(s, n);
}

void fw_out_begin(const char *cmd, llm_status s) {
    fw_out_str(cmd);
    fw_out_str(" ");
    fw_out_str(llm_status_str(s));
}

void fw_out_u(uint64_t v) {
    char buf[24];
    size_t i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    fw_port_write(buf + i, sizeof buf - i);
}

void fw_out_i(int64_t v) {
    if (v < 0) {
        fw_out_str("-");
        fw_out_u(0 - (uint64_t)v);
    } else {
        fw_out_u((uint64_t)v);
    }
}

void fw_out_key(const char *key) {
    fw_out_str(" ");
    fw_out_str(key);
    fw_out_str("=");
}

void fw_out_kv_u(const char *key, uint64_t v) {
    fw_out_key(key);
    fw_out_u(v);
}

void fw_out_kv_hex(const char *key, const void *p, size_t n) {
    fw_out_key(key);
    fw_out_hex(p, n);
}

void fw_out_kv_f32_hex(const char *key, const float *x, size_t n) {
    fw_out_key(key);
    fw_out_f32_hex(x, n);
}

void fw_out_kv_i(const char *key, int64_t v) {
    fw_out_key(key);
    fw_out_i(v);
}

static const char hex_digits[] = "0123456789abcdef";

void fw_out_hex(const void *p, size_t n) {
    if (n == 0) {
        fw_out_str("-");
        return;
    }
    const unsigned char *b = p;
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        buf[k++] = hex_digits[b[i] >> 4];
        buf[k++] = hex_digits[b[i] & 15];
        if (k == sizeof buf) {
            fw_port_write(buf, k);
            k = 0;
        }
    }
    fw_port_write(buf, k);
}

void fw_out_f32_hex(const float *x, size_t n) {
    if (n == 0) {
        fw_out_str("-");
        return;
    }
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        for (int sh = 28; sh >= 0; sh -= 4) buf[k++] = hex_digits[(u >> sh) & 15];
        if (k == sizeof buf) {
            fw_port_write(buf, k);
            k = 0;
        }
    }
    fw_port_write(buf, k);
}

void fw_out_end(void) {
    fw_port_write("\n", 1);
    fw_port_flush();
}

void fw_reply_error(const char *cmd, const char *why) {
    fw_out_begin(cmd, LLM_ERR_ARG);
    fw_out_str(" fw_error=");
    fw_out_str(why);
    fw_out_end();
}
