/*
 * A conversation over the serial port on an ESP32-S3. Each line you type is
 * a user turn of a chat template (default: the model's, else Llama 2's
 * [INST] format), queued after the conversation so far: the KV cache keeps
 * it, so a turn runs only its own tokens. When the context fills up, the
 * oldest turns after the first are dropped (LLM_FULL_SHIFT). stories260K is
 * a story model, not a chat model: its replies are stories; "/template none"
 * makes each line plain text the model continues. Lines starting with "/"
 * are commands:
 *
 *   /temp 0.8     temperature (0 = greedy)      /steps 200   most tokens per reply
 *   /topp 0.9     nucleus sampling              /seed 42     restart the sampler
 *   /system TEXT  system prompt (starts over)   /template llama2|zephyr|none (starts over)
 *   /reset        start the conversation over   /stats       tok/s and memory of the last reply
 *
 * Build and flash with the model (boards/esp32s3.ini), then open a terminal:
 *   LLM_MODELS_DIR=/path/to/models pio run -e esp32s3_chat -t upload -t monitor
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "example.h"
#include "llm.h"
#include "llm_port_esp32s3.h"

#ifndef CHAT_LINE_MAX
#define CHAT_LINE_MAX 512
#endif

/* Chat template used when the model names none: "llama2", "zephyr", or a
 * name no template has for plain text continuation. */
#ifndef CHAT_TEMPLATE
#define CHAT_TEMPLATE "llama2"
#endif

static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) ex_write(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void halt(const char *what, llm_status s) {
    say("\nerror: %s: %s\n", what, llm_status_str(s));
    for (;;) vTaskDelay(pdMS_TO_TICKS(1000));
}

static int on_piece(const char *piece, size_t len, void *user) {
    uint32_t *count = (uint32_t *)user;
    ex_write(piece, len);
    if (++*count % 16 == 0) vTaskDelay(1); /* the idle task's watchdog */
    return 0;
}

static double per_s(uint32_t n, uint64_t us) {
    return us ? (double)n * 1e6 / (double)us : 0.0;
}

/* Apply "/name value"; 0 when it was understood. */
static int option(const char *line, llm_sampler_params *sp, uint32_t *steps, int *stats) {
    char name[16];
    double v = 0.0;
    const int got = sscanf(line, "/%15s %lf", name, &v);
    if (got >= 1 && strcmp(name, "stats") == 0) {
        *stats = 1;
        return 0;
    }
    if (got != 2) return -1;
    if (strcmp(name, "temp") == 0 && v >= 0.0) {
        sp->temperature = (float)v;
    } else if (strcmp(name, "topp") == 0 && v >= 0.0 && v <= 1.0) {
        sp->top_p = (float)v;
    } else if (strcmp(name, "steps") == 0 && v >= 1.0) {
        *steps = (uint32_t)v;
    } else if (strcmp(name, "seed") == 0 && v >= 0.0) {
        sp->seed = (uint64_t)v;
    } else {
        return -1;
    }
    return 0;
}

void example_main(void) {
    ex_console_init();
    llm_esp32s3_port_install(1);

    static llm_esp32s3_model mapped;
    llm_status s = llm_esp32s3_model_map("model", &mapped);
    if (s != LLM_OK) halt(mapped.why, s);
    static llm_model model;
    s = llm_model_open(&model, mapped.data, mapped.size);
    if (s != LLM_OK) halt("llm_model_open", s);
    llm_params p = llm_params_default();
    static llm_esp32s3_arena arena;
    s = llm_esp32s3_arena_alloc(&model, &p, 1, &arena);
    if (s != LLM_OK) halt("no memory for the arena", s);
    static llm_ctx ctx;
    s = llm_init(&ctx, &model, &p, arena.ptr, arena.size);
    if (s != LLM_OK) halt("llm_init", s);
    if (ctx.tok.vocab_size == 0) halt("the model has no tokenizer", LLM_ERR_NO_TOKENIZER);

    /* CHAT_TEMPLATE names the default when the model names none. */
    const llm_chat_template *tmpl = llm_chat_template_of(&model);
    if (!tmpl) tmpl = llm_chat_template_find(CHAT_TEMPLATE);
    static char system[CHAT_LINE_MAX]; /* (CHAT_LINE_MAX) "" = none */
    say("\nllm chat on ESP32-S3 (%u cores): model %u KB read in place from flash at 0x%x, "
        "arena %u KB in %s, context %u, template %s.\n",
        (unsigned)llm_esp32s3_workers(), (unsigned)(mapped.size >> 10),
        (unsigned)mapped.flash_offset, (unsigned)(arena.size >> 10), llm_esp_mem_str(arena.where),
        (unsigned)ctx.seq_len, tmpl ? llm_chat_template_name(tmpl) : "none");
    say("Type a line; the conversation stays in the KV cache. /reset starts over; "
        "/temp /topp /steps /seed /system /template /stats.\n");

    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = 0.8f;
    uint32_t steps = 200;
    llm_gen_stats last;
    memset(&last, 0, sizeof last);
    static char line[CHAT_LINE_MAX];
    for (;;) {
        say("\n> ");
        ex_read_line(line, sizeof line);
        if (line[0] == '\0') continue;
        int stats = 0;
        if (strcmp(line, "/reset") == 0) {
            llm_ctx_reset(&ctx);
            say("conversation reset\n");
            continue;
        }
        if (strncmp(line, "/system", 7) == 0 && (line[7] == ' ' || line[7] == '\0')) {
            const char *text = line[7] ? line + 8 : "";
            const size_t n = strlen(text); /* < CHAT_LINE_MAX: a line's tail */
            memcpy(system, text, n + 1);
            llm_ctx_reset(&ctx);
            say("system prompt %s; conversation reset\n", system[0] ? "set" : "cleared");
            continue;
        }
        if (strncmp(line, "/template ", 10) == 0) {
            const llm_chat_template *t = llm_chat_template_find(line + 10);
            if (!t && strcmp(line + 10, "none") != 0) {
                say("templates: llama2, zephyr, none\n");
                continue;
            }
            tmpl = t;
            llm_ctx_reset(&ctx);
            say("template %s; conversation reset\n", t ? llm_chat_template_name(t) : "none");
            continue;
        }
        if (line[0] == '/') {
            if (option(line, &sp, &steps, &stats) != 0) {
                say("options: /temp T, /topp P, /steps N, /seed S, /system TEXT, /template NAME, "
                    "/reset, /stats\n");
            } else if (stats) {
                llm_esp32s3_mem m;
                llm_esp32s3_mem_query(&m);
                say("prefill %u tokens %.1f tok/s, decode %u tokens %.1f tok/s; internal free %u KB, "
                    "PSRAM free %u KB\n",
                    (unsigned)last.n_prompt, per_s(last.n_prompt, last.prefill_us),
                    (unsigned)last.n_generated, per_s(last.n_generated, last.decode_us),
                    (unsigned)(m.internal_free >> 10), (unsigned)(m.psram_free >> 10));
            } else {
                say("temp %.2f, top_p %.2f, steps %u, seed %u\n", (double)sp.temperature,
                    (double)sp.top_p, (unsigned)steps, (unsigned)sp.seed);
            }
            continue;
        }
        llm_sampler_set(&ctx, &sp);
        sp.seed++; /* a different continuation next time */
        /* The turn goes after the conversation the cache holds. */
        const int first = ctx.n_past + ctx.n_queued == 0;
        s = tmpl ? llm_chat_append(&ctx, tmpl, system, line)
                 : llm_append_text(&ctx, line, first, 0);
        if (s != LLM_OK) {
            say("[%s: /reset to start over]\n", llm_status_str(s));
            continue;
        }
        if (first) {
            /* Keep the first turn (and the system prompt in it) when the
             * context is full; drop the oldest of the rest. */
            const uint32_t keep = ctx.n_past + ctx.n_queued;
            llm_set_full_policy(&ctx, LLM_FULL_SHIFT, keep < ctx.seq_len / 2 ? keep : 0, 0);
        }
        uint32_t pieces = 0;
        llm_gen_params g;
        memset(&g, 0, sizeof g);
        g.prompt = "";
        g.n_steps = UINT32_MAX; /* limited by max_new, EOS and the context */
        g.max_new = steps;
        g.echo_prompt = 0;
        g.on_piece = on_piece;
        g.user = &pieces;
        s = llm_continue(&ctx, &g, &last);
        if (s != LLM_OK) {
            say("\n[%s]\n", llm_status_str(s));
        } else {
            say("\n(%u new positions, %u generated, context %u/%u, end %s)\n",
                (unsigned)last.n_prompt, (unsigned)last.n_generated, (unsigned)ctx.n_past,
                (unsigned)ctx.seq_len, llm_end_str(last.end));
        }
    }
}

#ifndef ARDUINO
void ex_write(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

void ex_console_init(void) {
    if (llm_esp32s3_console_init() != LLM_OK) halt("console driver", LLM_ERR_ARG);
}

size_t ex_read_line(char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        const int ch = fgetc(stdin);
        if (ch == EOF) {
            vTaskDelay(pdMS_TO_TICKS(10));
            continue;
        }
        if (ch == '\n') break;
        if (n + 1 < cap) {
            buf[n++] = (char)ch;
            ex_write((const char *)&buf[n - 1], 1); /* echo */
        }
    }
    buf[n] = '\0';
    ex_write("\n", 1);
    return n;
}

/* ESP-IDF entry: the main task is pinned to core 0, the worker goes to 1. */
void app_main(void) {
    example_main();
}
#endif
