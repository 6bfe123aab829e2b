/*
 * Story generator on an ESP32-S3: stories260K (or any model) read in place
 * from flash, both cores through ESP-DSP, stories streamed to the serial
 * console, then what it cost:
 *
 *   weights: 1031 KB in flash partition "model" at 0x310000, read in place at 0x3c0a0000
 *   arena: 669 KB in psram (KV cache fp32, 640 KB for 512 positions)
 *   ...the story...
 *   prefill 5 tokens: 180 ms (27.8 tok/s) | decode 250 tokens: 9.6 s (26.0 tok/s) | end: budget
 *   work: core 0 ran 41210 items, core 1 ran 40985 (mat-vec rows and attention heads)
 *   RAM: internal 12 KB used (287 KB free), PSRAM 688 KB used (7.3 MB free)
 *
 * Build and flash with the model (boards/esp32s3.ini):
 *   LLM_MODELS_DIR=/path/to/models pio run -e esp32s3_story -t upload -t monitor
 * With env esp32s3_story_embedded the model is inside the app image instead
 * (extra_scripts/build/embed_model.py), for small models.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#include "example.h"
#include "llm.h"
#include "llm_port_esp32s3.h"

#if defined(__has_include)
#if __has_include("llm_model_blob.h")
#include "llm_model_blob.h"
#define STORY_EMBEDDED 1
#endif
#endif
#ifndef STORY_EMBEDDED
#define STORY_EMBEDDED 0
#endif

/* Prompt of every story. */
#ifndef STORY_PROMPT
#define STORY_PROMPT "Once upon a time"
#endif
/* Positions per story, prompt included (llama2.c's -n); 0 = the context. */
#ifndef STORY_STEPS
#define STORY_STEPS 256
#endif
/* Context to allocate (0 = the model's); shortened when memory is short. */
#ifndef STORY_SEQ_LEN
#define STORY_SEQ_LEN 0
#endif
/* Sampling: llama2.c's defaults; temperature 0 gives greedy text. */
#ifndef STORY_TEMPERATURE
#define STORY_TEMPERATURE 1.0f
#endif
#ifndef STORY_TOP_P
#define STORY_TOP_P 0.9f
#endif
/* KV cache: LLM_KV_F32, LLM_KV_F16 or LLM_KV_Q8 (a quarter of fp32's RAM). */
#ifndef STORY_KV_TYPE
#define STORY_KV_TYPE LLM_KV_F32
#endif
/* Stories to tell; 0 = one after another for ever. After the last one the
 * example prints "story: done" and idles. */
#ifndef STORY_ROUNDS
#define STORY_ROUNDS 0
#endif
/* 1: both cores (a worker task on the second core); 0: one core. */
#ifndef STORY_BOTH_CORES
#define STORY_BOTH_CORES 1
#endif
/* Pause between stories, ms. */
#ifndef STORY_PAUSE_MS
#define STORY_PAUSE_MS 5000
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
    /* Let the idle task run now and then, so the task watchdog stays quiet
     * whatever the core split. */
    if (++*count % 16 == 0) vTaskDelay(1);
    return 0;
}

static double per_s(uint32_t n, uint64_t us) {
    return us ? (double)n * 1e6 / (double)us : 0.0;
}

void example_main(void) {
    llm_esp32s3_port_install(STORY_BOTH_CORES);
    llm_esp32s3_mem before;
    llm_esp32s3_mem_query(&before);
    say("\nllm story on ESP32-S3: %u core(s); free: internal %u KB, PSRAM %u KB\n",
        (unsigned)llm_esp32s3_workers(), (unsigned)(before.internal_free >> 10),
        (unsigned)(before.psram_free >> 10));

    /* Weights: read in place from flash through the cache, never copied. */
    const void *data;
    size_t size;
    char where[96];
#if STORY_EMBEDDED
    data = llm_model_blob;
    size = llm_model_blob_size;
    snprintf(where, sizeof where, "the app image (flash .rodata)");
#else
    static llm_esp32s3_model mapped;
    llm_status s = llm_esp32s3_model_map("model", &mapped);
    if (s != LLM_OK) halt(mapped.why, s);
    data = mapped.data;
    size = mapped.size;
    snprintf(where, sizeof where, "flash partition \"model\" at 0x%x", (unsigned)mapped.flash_offset);
#endif
    static llm_model model;
    llm_status st = llm_model_open(&model, data, size);
    if (st != LLM_OK) halt("llm_model_open", st);
    const llm_config *c = &model.config;
    say("weights: %u KB in %s, read in place at %p\n", (unsigned)(size >> 10), where, data);
    say("model: dim %u, %u layers, %u heads (%u kv), vocab %u, context %u\n", (unsigned)c->dim,
        (unsigned)c->n_layers, (unsigned)c->n_heads, (unsigned)c->n_kv_heads,
        (unsigned)c->vocab_size, (unsigned)c->seq_len);

    /* Arena: internal SRAM when it fits with a reserve, else PSRAM. */
    llm_params p = llm_params_default();
    p.seq_len = STORY_SEQ_LEN;
    p.kv_type = STORY_KV_TYPE;
    static llm_esp32s3_arena arena;
    st = llm_esp32s3_arena_alloc(&model, &p, 1, &arena);
    if (st != LLM_OK) halt("no memory for the arena", st);
    static llm_ctx ctx;
    st = llm_init(&ctx, &model, &p, arena.ptr, arena.size);
    if (st != LLM_OK) halt("llm_init", st);
    /* (2, n_layers, seq_len, kv_dim) elements, plus a bf16 scale per head
     * and position for int8. */
    const size_t kv_elems = 2u * c->n_layers * ctx.seq_len * (c->n_kv_heads * (c->dim / c->n_heads));
    const size_t kv_bytes = STORY_KV_TYPE == LLM_KV_F32   ? kv_elems * 4u
                            : STORY_KV_TYPE == LLM_KV_F16 ? kv_elems * 2u
                                                          : kv_elems + 2u * c->n_layers * ctx.seq_len *
                                                                           c->n_kv_heads * 2u;
    say("arena: %u KB in %s (KV cache %s, %u KB for %u positions)\n", (unsigned)(arena.size >> 10),
        llm_esp_mem_str(arena.where),
        STORY_KV_TYPE == LLM_KV_F32 ? "fp32" : STORY_KV_TYPE == LLM_KV_F16 ? "fp16" : "int8",
        (unsigned)(kv_bytes >> 10), (unsigned)ctx.seq_len);
    if (ctx.tok.vocab_size == 0) halt("the model has no tokenizer (convert it with --tokenizer)",
                                      LLM_ERR_NO_TOKENIZER);

    for (uint32_t round = 1; STORY_ROUNDS == 0 || round <= STORY_ROUNDS; round++) {
        llm_sampler_params sp = llm_sampler_default();
        sp.temperature = STORY_TEMPERATURE;
        sp.top_p = STORY_TOP_P;
        sp.seed = round;
        llm_sampler_set(&ctx, &sp);
        uint32_t pieces = 0;
        llm_gen_params g;
        memset(&g, 0, sizeof g);
        g.prompt = STORY_PROMPT;
        g.n_steps = STORY_STEPS;
        g.echo_prompt = 1;
        g.on_piece = on_piece;
        g.user = &pieces;
        llm_gen_stats stats;
        say("\n--- story %u (seed %u) ---\n", (unsigned)round, (unsigned)round);
        uint32_t items[2];
        llm_esp32s3_core_items(items, 1);
        st = llm_generate(&ctx, &g, &stats);
        llm_esp32s3_core_items(items, 0);
        if (st != LLM_OK) halt("llm_generate", st);
        llm_esp32s3_mem now;
        llm_esp32s3_mem_query(&now);
        say("\n\nprefill %u tokens: %u ms (%.1f tok/s) | decode %u tokens: %u ms (%.1f tok/s) | "
            "end: %s\n",
            (unsigned)stats.n_prompt, (unsigned)(stats.prefill_us / 1000),
            per_s(stats.n_prompt, stats.prefill_us), (unsigned)stats.n_generated,
            (unsigned)(stats.decode_us / 1000), per_s(stats.n_generated, stats.decode_us),
            llm_end_str(stats.end));
        if (llm_esp32s3_workers() == 2) {
            say("work: core 0 ran %u items, core 1 ran %u (mat-vec rows and attention heads)\n",
                (unsigned)items[0], (unsigned)items[1]);
        } else {
            say("work: one core\n");
        }
        say("RAM: internal %u KB used (%u KB free), PSRAM %u KB used (%u KB free); weights in %s, "
            "KV cache in %s\n",
            (unsigned)((before.internal_free - now.internal_free) >> 10),
            (unsigned)(now.internal_free >> 10),
            (unsigned)((before.psram_free - now.psram_free) >> 10), (unsigned)(now.psram_free >> 10),
            STORY_EMBEDDED ? "app flash" : "flash partition", llm_esp_mem_str(arena.where));
        if (STORY_ROUNDS == 0 || round < STORY_ROUNDS) vTaskDelay(pdMS_TO_TICKS(STORY_PAUSE_MS));
    }
#if defined(STORY_BENCH) && STORY_BENCH
    static char line[160];
    story_bench(&ctx, STORY_PROMPT, line, sizeof line);
#endif
    say("story: done\n");
    for (;;) vTaskDelay(pdMS_TO_TICKS(1000));
}

#ifndef ARDUINO
void ex_write(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

/* ESP-IDF entry: the main task is pinned to core 0, the worker goes to 1. */
void app_main(void) {
    example_main();
}
#endif
