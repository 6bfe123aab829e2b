/*
 * Instructions per position on each core (STORY_BENCH=1, used by
 * extra_scripts/bench/bench_esp32s3.py): greedy forward passes over
 * STORY_BENCH_POSITIONS positions after the prompt's, counted with each
 * core's ICOUNT register (the Xtensa debug option's instruction counter;
 * ICOUNTLEVEL 1 counts what runs at interrupt level 0, so interrupt handlers
 * are left out). In QEMU it counts instructions exactly; silicon counts the
 * same, but cycles per instruction differ (see the README).
 *
 *   bench: positions 256, per position: core 0 812345, core 1 798765 instructions, 3.1 ms
 *   bench regions (core 0, per position): matvec 123456, attention 234567, other 34567
 *
 * With LLM_PROFILE the library calls llm_profile_region as llm_forward
 * enters each region (lib/llm/src/forward.c); the instructions the calling
 * core runs until the next call are charged to that region (a few per call
 * are the hook's own).
 */
#include <stdio.h>
#include <string.h>

#include "example.h"
#include "llm.h"

#if defined(STORY_BENCH) && STORY_BENCH

#include "esp_ipc.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#ifndef STORY_BENCH_POSITIONS
#define STORY_BENCH_POSITIONS 256
#endif

static void icount_zero(void *unused) {
    (void)unused;
    const uint32_t zero = 0, level = 1;
    __asm__ volatile("wsr.icount %0\n\twsr.icountlevel %1\n\tisync" ::"r"(zero), "r"(level));
}

static void icount_read(void *out) {
    uint32_t v;
    __asm__ volatile("rsr.icount %0" : "=r"(v));
    *(uint32_t *)out = v;
}

/* fn on both cores: this one directly, the other through an IPC call. */
static void on_both(void (*fn)(void *), void *arg0, void *arg1) {
    const uint32_t self = (uint32_t)xPortGetCoreID();
    fn(self == 0 ? arg0 : arg1);
    esp_ipc_call_blocking(self ^ 1u, fn, self == 0 ? arg1 : arg0);
}

#ifdef LLM_PROFILE
/* Regions of forward.c: 0 outside llm_forward, 1 mat-vec, 2 attention, 3 the rest. */
static uint64_t s_region_icount[4];
static int s_region;
static uint32_t s_region_start;

void llm_profile_region(int region);
void llm_profile_region(int region) {
    uint32_t now;
    __asm__ volatile("rsr.icount %0" : "=r"(now));
    s_region_icount[s_region & 3] += now - s_region_start;
    s_region = region;
    s_region_start = now;
}
#endif

void story_bench(llm_ctx *ctx, const char *prompt, char *line, size_t line_cap) {
    int32_t toks[64];
    size_t n_prompt = 0;
    if (llm_encode(ctx, prompt, 1, 0, toks, 64, &n_prompt) != LLM_OK || n_prompt == 0) return;
    uint32_t total = (uint32_t)n_prompt + STORY_BENCH_POSITIONS;
    if (total > ctx->seq_len) total = ctx->seq_len;
    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = 0.0f; /* greedy: the library's argmax */
    llm_sampler_set(ctx, &sp);
    int32_t token = toks[0];
    float *logits = NULL;
    /* The prompt's positions first, uncounted. */
    uint32_t pos = 0;
    for (; pos + 1 < n_prompt; pos++) {
        if (llm_forward(ctx, token, pos, &logits) != LLM_OK) return;
        token = toks[pos + 1];
    }
    uint32_t count[2];
    on_both(icount_zero, NULL, NULL);
#ifdef LLM_PROFILE
    for (int r = 0; r < 4; r++) s_region_icount[r] = 0;
    s_region = 0;
    s_region_start = 0;
#endif
    const int64_t t0 = esp_timer_get_time();
    for (; pos < total; pos++) {
        if (llm_forward(ctx, token, pos, &logits) != LLM_OK) return;
        token = llm_sample(ctx, logits, NULL, 0);
    }
    const int64_t us = esp_timer_get_time() - t0;
    on_both(icount_read, &count[0], &count[1]);
    const uint32_t n = total - (uint32_t)n_prompt + 1;
    snprintf(line, line_cap,
             "bench: positions %u, per position: core 0 %u, core 1 %u instructions, %.2f ms\n",
             (unsigned)n, (unsigned)(count[0] / n), (unsigned)(count[1] / n),
             (double)us / 1000.0 / (double)n);
    ex_write(line, strlen(line));
#ifdef LLM_PROFILE
    llm_profile_region(0);
    snprintf(line, line_cap,
             "bench regions (core 0, per position): matvec %u, attention %u, other %u\n",
             (unsigned)(s_region_icount[1] / n), (unsigned)(s_region_icount[2] / n),
             (unsigned)(s_region_icount[3] / n));
    ex_write(line, strlen(line));
#endif
}

#endif /* STORY_BENCH */
