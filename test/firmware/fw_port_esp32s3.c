/*
 * fw_port.h on an ESP32-S3 board under ESP-IDF (env esp32s3_test in
 * boards/esp32s3.ini, built with FW_PORT_CUSTOM): the console is the
 * board's UART or USB-Serial-JTAG console, and files live in RAM (PSRAM when
 * the board has it), sent by the host over the same line before the command
 * that names them (test/serial_target.py does it for `model` and `tok`):
 *
 *   host: @file <name> <size> <crc32 hex> [<base>]
 *                                   board: [@dropped <name> ...] @ready <name> <from base>
 *   host: @data <base64 of up to 4096 bytes>  board: @ok <bytes so far>
 *     or: @skip <n>                           board: @ok <bytes so far>
 *   ...                                       board: @stored <name> <size>
 *                                              (or @error <name> <why>)
 *
 * When the board already holds a file of that size and CRC, it answers the
 * @file line with "@stored <name> <size>" at once, and no @data follows.
 * With a base (a file the board holds), the new file starts as a copy of
 * the base's first <from base> bytes (0 when the base is gone): "@skip n"
 * keeps the next n of them, so a file that differs from one sent before in
 * a few places (a corrupted or truncated model) costs a few short lines.
 *
 * Any of these lines, and any command line, may come in pieces, for a link
 * whose receiver takes only a few bytes at a time (the emulated UART,
 * test/esp32s3_qemu_target.py):
 *
 *   host: @part <piece>                       board: @more
 *   ...
 *   host: <last piece>                        (the pieces joined are the line)
 *
 * These lines are handled here and never reach the command interpreter;
 * the board's answers start with "@", which the protocol client ignores.
 * A file of the same name is replaced; when memory or slots run out, the
 * files least recently used are dropped, each named in a "@dropped" line.
 * `quit` restarts the board (the firmware prints its banner again).
 */
#if defined(ESP_PLATFORM) && defined(FW_PORT_CUSTOM)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "fw_io.h"
#include "fw_port.h"
#include "llm_internal.h"
#include "llm_port_esp32s3.h"
#include "sdkconfig.h"
#if defined(CONFIG_ESP_CONSOLE_UART)
#include "driver/uart.h"
#endif

/* Big blocks in PSRAM when there is any, else internal RAM. */
static void *big_alloc(size_t n) {
    void *p = heap_caps_aligned_alloc(16, n ? n : 1, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT);
    if (p == NULL) p = heap_caps_aligned_alloc(16, n ? n : 1, MALLOC_CAP_8BIT);
    return p;
}

#define FW_MAX_FILES 48
#define FW_NAME_MAX 256
/* Longest piece of a line sent in pieces (the host keeps them much shorter). */
#define FW_PIECE_MAX 512

typedef struct fw_file {
    char name[FW_NAME_MAX];
    uint8_t *data; /* (size) */
    size_t size;
    uint32_t crc; /* CRC-32 of data, as the host sent it */
    int complete;
    uint32_t used; /* when last named by a command (use_clock), for dropping the oldest */
} fw_file;

static fw_file files[FW_MAX_FILES];
static uint32_t use_clock;
static fw_file *receiving; /* the file being sent, or NULL */
static size_t received;
static size_t from_base; /* leading bytes of receiving copied from its base */
static uint32_t expect_crc;

void fw_port_init(void) {
    llm_esp32s3_console_init();
#if defined(CONFIG_ESP_CONSOLE_UART) && defined(FW_UART_RX_FULL_THRESHOLD)
    /* Espressif's QEMU (env esp32s3_test_qemu) raises the receive
     * timeout interrupt late: a line shorter than the driver's default
     * 120-byte FIFO threshold took about 37 ms to arrive, one of 120 about 9.
     * Interrupting on the first byte, the driver takes each line at once. */
    uart_set_rx_full_threshold((uart_port_t)CONFIG_ESP_CONSOLE_UART_NUM, FW_UART_RX_FULL_THRESHOLD);
#endif
}

#if defined(CONFIG_ESP_CONSOLE_UART)
/* Replies go to the UART driver in blocks: through stdio the console's VFS
 * hands the driver one character at a time, which made a reply of 4 KB of
 * hex take about 60 ms in the emulator, 10 this way. Blocks of at most the
 * 128-byte FIFO: in the emulator, 512-byte writes lost bytes (not
 * root-caused). What printf wrote (ESP-IDF's log, the file protocol's
 * answers) is flushed first, so the order holds. */
static char tx[128];
static size_t tx_len;

void fw_port_flush(void) {
    if (tx_len > 0) uart_write_bytes((uart_port_t)CONFIG_ESP_CONSOLE_UART_NUM, tx, tx_len);
    tx_len = 0;
}

void fw_port_write(const char *s, size_t n) {
    if (tx_len == 0) fflush(stdout);
    while (n > 0) {
        const size_t k = n < sizeof tx - tx_len ? n : sizeof tx - tx_len;
        memcpy(tx + tx_len, s, k);
        tx_len += k;
        s += k;
        n -= k;
        if (tx_len == sizeof tx) fw_port_flush();
    }
}
#else
void fw_port_write(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
}

void fw_port_flush(void) {
    fflush(stdout);
}
#endif

static void say(const char *a, const char *b, const char *c) {
    printf("@%s %s%s%s\n", a, b, c ? " " : "", c ? c : "");
    fflush(stdout);
}

static void stored(const fw_file *f) {
    char num[24];
    snprintf(num, sizeof num, "%u", (unsigned)f->size);
    say("stored", f->name, num);
}

static void drop_file(fw_file *f) {
    heap_caps_free(f->data);
    memset(f, 0, sizeof *f);
}

static void begin_file(char *args) {
    char *name = fw_word(&args), *w_size = fw_word(&args), *w_crc = fw_word(&args);
    const char *base_name = fw_word(&args);
    uint64_t size;
    if (name == NULL || strlen(name) >= FW_NAME_MAX || fw_parse_u64(w_size, &size) != 0 ||
        w_crc == NULL) {
        say("error", name ? name : "-", "usage");
        return;
    }
    if (receiving != NULL) { /* a file left half sent: gone */
        drop_file(receiving);
        receiving = NULL;
    }
    expect_crc = (uint32_t)strtoul(w_crc, NULL, 16);
    /* The same contents under another name (tests write the same model
     * into a folder of their own each): copied here, not sent again. */
    fw_file *same = NULL;
    for (int i = 0; i < FW_MAX_FILES && same == NULL; i++) {
        if (files[i].complete && files[i].size == (size_t)size && files[i].crc == expect_crc) {
            same = &files[i];
        }
    }
    if (same != NULL && strcmp(same->name, name) == 0) {
        same->used = ++use_clock;
        stored(same);
        return;
    }
    if (same != NULL) same->used = ++use_clock; /* dropped last while making room */
    /* The base may be the file this one replaces: it moves out of its slot
     * first (the host keeps no other copy on the board). */
    fw_file base = {0};
    for (int i = 0; i < FW_MAX_FILES; i++) {
        if (strcmp(files[i].name, name) != 0) continue;
        if (base_name != NULL && strcmp(base_name, name) == 0 && files[i].complete) {
            base = files[i];
            memset(&files[i], 0, sizeof files[i]);
        } else {
            drop_file(&files[i]);
        }
    }
    const fw_file *base_file = base.data != NULL ? &base : NULL;
    for (int i = 0; i < FW_MAX_FILES && base_name != NULL && base_file == NULL; i++) {
        if (files[i].complete && strcmp(files[i].name, base_name) == 0) {
            files[i].used = ++use_clock;
            base_file = &files[i];
        }
    }
    fw_file *slot = NULL;
    for (int i = 0; i < FW_MAX_FILES && slot == NULL; i++) {
        if (files[i].data == NULL) slot = &files[i];
    }
    void *data = big_alloc((size_t)size);
    while (data == NULL || slot == NULL) {
        /* Make room: drop the file least recently used, and say so
         * ("@dropped <name>"), so the host sends it again when a later
         * command needs it. */
        fw_file *old = NULL;
        for (int i = 0; i < FW_MAX_FILES; i++) {
            if (files[i].data != NULL && (old == NULL || files[i].used < old->used)) old = &files[i];
        }
        if (old == NULL) {
            if (base.data == NULL) break;
            /* No room for the new file beside the one it replaces: it
             * comes whole (from base 0). */
            heap_caps_free(base.data);
            base.data = NULL;
            base_file = NULL;
            if (data == NULL) data = big_alloc((size_t)size);
            continue;
        }
        say("dropped", old->name, NULL);
        if (old == base_file) base_file = NULL;
        drop_file(old);
        if (slot == NULL) slot = old;
        if (data == NULL) data = big_alloc((size_t)size);
    }
    if (data == NULL) {
        heap_caps_free(base.data);
        say("error", name, "out_of_memory");
        return;
    }
    strcpy(slot->name, name);
    slot->data = data;
    slot->size = (size_t)size;
    slot->crc = expect_crc;
    slot->complete = 0;
    slot->used = ++use_clock;
    if (same != NULL && same->complete && same->size == slot->size && same->crc == slot->crc) {
        memcpy(slot->data, same->data, slot->size);
        slot->complete = 1;
        heap_caps_free(base.data);
        stored(slot);
        return;
    }
    from_base = 0;
    if (base_file != NULL) {
        from_base = base_file->size < slot->size ? base_file->size : slot->size;
        memcpy(slot->data, base_file->data, from_base);
    }
    heap_caps_free(base.data);
    receiving = slot;
    received = 0;
    char num[24];
    snprintf(num, sizeof num, "%u", (unsigned)from_base);
    say("ready", name, num);
}

/* The next n bytes of the file being received: from the line (data, as
 * base64), or kept from the base (data NULL; n of them must be there). */
static void data_chunk(char *b64, size_t keep) {
    if (receiving == NULL) {
        say("error", "-", "no_file");
        return;
    }
    const long decoded = b64 != NULL ? fw_base64_decode(b64) : 0;
    const size_t n = b64 != NULL ? (size_t)decoded : keep;
    const char *why = decoded < 0 ? "bad_base64"
                      : n > receiving->size - received ? "too_long"
                      : b64 == NULL && received + n > from_base ? "past_base"
                      : NULL;
    if (why != NULL) {
        say("error", receiving->name, why);
        drop_file(receiving);
        receiving = NULL;
        return;
    }
    if (b64 != NULL) memcpy(receiving->data + received, b64, n);
    received += n;
    if (received < receiving->size) {
        char num[24];
        snprintf(num, sizeof num, "%u", (unsigned)received);
        say("ok", num, NULL);
        return;
    }
    if (llm__crc32(0, receiving->data, receiving->size) != expect_crc) {
        say("error", receiving->name, "crc");
        drop_file(receiving);
    } else {
        receiving->complete = 1;
        stored(receiving);
    }
    receiving = NULL;
}

#if defined(CONFIG_ESP_CONSOLE_UART)
/* Next console byte, waiting for one. On a UART console the bytes come
 * straight from the driver's receive buffer, all that are there at once:
 * through stdio each is a locked one-byte read of its own, which made a
 * 127-byte line take 8 ms in the emulator against 1 ms this way. Terminals
 * end lines with CR, pytest-embedded with LF: CR reads as LF, and an LF
 * right after a CR is dropped. */
static int console_byte(void) {
    static uint8_t rx[256];
    static size_t rx_len, rx_pos;
    static int after_cr;
    for (;;) {
        while (rx_pos == rx_len) {
            const uart_port_t port = (uart_port_t)CONFIG_ESP_CONSOLE_UART_NUM;
            size_t more = 0;
            int n = uart_read_bytes(port, rx, 1, portMAX_DELAY);
            if (n == 1 && uart_get_buffered_data_len(port, &more) == ESP_OK && more > 0) {
                if (more > sizeof rx - 1) more = sizeof rx - 1;
                const int m = uart_read_bytes(port, rx + 1, (uint32_t)more, 0);
                if (m > 0) n += m;
            }
            rx_len = n > 0 ? (size_t)n : 0;
            rx_pos = 0;
        }
        const int ch = rx[rx_pos++];
        const int was_cr = after_cr;
        after_cr = ch == '\r';
        if (ch == '\n' && was_cr) continue;
        return ch == '\r' ? '\n' : ch;
    }
}
#else
/* Next console byte, waiting for one (the console never ends; with the
 * USB-Serial-JTAG driver installed, fgetc blocks). */
static int console_byte(void) {
    for (;;) {
        const int ch = fgetc(stdin);
        if (ch != EOF) return ch;
        vTaskDelay(1);
    }
}
#endif

/* The rest of a line sent as "@part <piece>" lines (each answered "@more")
 * and a last piece without the prefix; buf holds the first piece's n bytes.
 * Returns the whole line's length, or -2 when it does not fit cap (its
 * beginning stays in buf). */
static long rest_of_line(char *buf, size_t cap, size_t n) {
    static char piece[FW_PIECE_MAX];
    size_t off = n;
    int over = 0;
    for (;;) {
        printf("@more\n");
        fflush(stdout);
        const long m = fw_line_from(console_byte, piece, sizeof piece);
        if (m == -1) return -1;
        const int part = m >= 6 && strncmp(piece, "@part ", 6) == 0;
        const size_t skip = part ? 6 : 0, len = m < 0 ? 0 : (size_t)m - skip;
        if (m < 0 || off + len + 1 > cap) {
            over = 1;
        } else {
            memcpy(buf + off, piece + skip, len);
            off += len;
            buf[off] = '\0';
        }
        if (!part) return over ? -2 : (long)off;
    }
}

long fw_port_read_line(char *buf, size_t cap) {
    if (cap < 2) return -1;
    for (;;) {
        long n = fw_line_from(console_byte, buf, cap);
        if (n >= 0 && strncmp(buf, "@part ", 6) == 0) {
            memmove(buf, buf + 6, (size_t)n - 5); /* with its NUL */
            n = rest_of_line(buf, cap, (size_t)n - 6);
        }
        if (n >= 0 && strncmp(buf, "@file ", 6) == 0) {
            begin_file(buf + 6);
        } else if (n >= 0 && strncmp(buf, "@data ", 6) == 0) {
            data_chunk(buf + 6, 0);
        } else if (n >= 0 && strncmp(buf, "@skip ", 6) == 0) {
            uint64_t keep;
            /* An unreadable count aborts the file as a count too big would. */
            data_chunk(NULL, fw_parse_u64(buf + 6, &keep) == 0 && keep <= SIZE_MAX ? (size_t)keep : SIZE_MAX);
        } else {
            return n;
        }
    }
}

static const fw_file *find(const char *path) {
    for (int i = 0; i < FW_MAX_FILES; i++) {
        if (files[i].complete && strcmp(files[i].name, path) == 0) {
            files[i].used = ++use_clock;
            return &files[i];
        }
    }
    return NULL;
}

long fw_port_file_size(const char *path) {
    const fw_file *f = find(path);
    return f ? (long)f->size : -1;
}

int fw_port_file_read(const char *path, void *dst, size_t n) {
    const fw_file *f = find(path);
    if (f == NULL || n > f->size) return -1;
    memcpy(dst, f->data, n);
    return 0;
}

void fw_port_exit(int status) {
    fw_port_flush();
    printf("# exit %d: restarting\n", status);
    fflush(stdout);
    vTaskDelay(pdMS_TO_TICKS(100));
    esp_restart();
}

void *fw_port_alloc(size_t n) {
    return big_alloc(n);
}

void fw_port_free(void *p) {
    heap_caps_free(p);
}

uint64_t fw_port_time_us(void) {
    return (uint64_t)esp_timer_get_time();
}

int main(void);

/* ESP-IDF entry: the main task (pinned to core 0, stack from
 * CONFIG_ESP_MAIN_TASK_STACK_SIZE) runs the interpreter. */
void app_main(void) {
    main();
    fw_port_exit(0);
}

#else
/* Not the ESP32-S3 test firmware: nothing here. */
typedef int fw_port_esp32s3_unused;
#endif
