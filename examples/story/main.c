/*
 * Story generator for the Arm MPS3 AN547 (Cortex-M55) in QEMU.
 *
 * The model blob is embedded read-only in the board's QSPI flash by
 * extra_scripts/build/embed_model.py and read in place; the arena lives in the
 * internal SRAM. The story streams to stdout (the semihosting console) exactly
 * as llama2.c's run.c prints it; the statistics go to stderr: tokens/s in
 * emulated time (under `-icount shift=0` one instruction takes 1 ns) and the
 * memory used.
 *
 * Build-time options (build_flags): STORY_PROMPT, STORY_STEPS (positions incl.
 * the prompt, llama2.c -n; 0 = the whole context), STORY_TEMPERATURE (0 =
 * greedy), STORY_TOP_P, STORY_SEED, STORY_ARENA_BYTES, STORY_KV (the KV cache
 * type: LLM_KV_F32, LLM_KV_F16 or LLM_KV_Q8).
 */
#include <stdio.h>

#include "board.h"
#include "llm.h"
#include "llm_model_blob.h"

#ifndef STORY_PROMPT
#define STORY_PROMPT "Once upon a time"
#endif
#ifndef STORY_STEPS
#define STORY_STEPS 200
#endif
#ifndef STORY_TEMPERATURE
#define STORY_TEMPERATURE 0.0f
#endif
#ifndef STORY_TOP_P
#define STORY_TOP_P 0.9f
#endif
#ifndef STORY_KV
#define STORY_KV LLM_KV_F32
#endif
#ifndef STORY_SEED
#define STORY_SEED 1
#endif
/* stories260K with its full 512-token context needs about 0.7 MB. */
#ifndef STORY_ARENA_BYTES
#define STORY_ARENA_BYTES (1024u * 1024u)
#endif

static uint8_t arena[STORY_ARENA_BYTES] BOARD_BIG_BSS; /* (STORY_ARENA_BYTES) */
static llm_model model;
static llm_ctx ctx;

static int print_piece(const char *piece, size_t len, void *user) {
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/* "12.34" from a value in hundredths, without printf's float support. */
static void print_centi(const char *label, uint64_t centi, const char *unit) {
    fprintf(stderr, "%s%lu.%02lu%s", label, (unsigned long)(centi / 100u),
            (unsigned long)(centi % 100u), unit);
}

static int fail(const char *what, llm_status s) {
    fprintf(stderr, "story: %s: %s\n", what, llm_status_str(s));
    return 1;
}

int main(void) {
    board_llm_port_init();

    llm_status s = llm_model_open(&model, llm_model_blob, llm_model_blob_size);
    if (s != LLM_OK) return fail("llm_model_open", s);

    llm_params params = llm_params_default();
    params.kv_type = STORY_KV;
    size_t need = 0;
    s = llm_arena_size(&model, &params, &need);
    if (s != LLM_OK) return fail("llm_arena_size", s);
    if (need > sizeof arena) {
        fprintf(stderr, "story: the arena needs %lu bytes; build with -DSTORY_ARENA_BYTES=%lu\n",
                (unsigned long)need, (unsigned long)need);
        return 1;
    }
    s = llm_init(&ctx, &model, &params, arena, sizeof arena);
    if (s != LLM_OK) return fail("llm_init", s);

    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = STORY_TEMPERATURE;
    sp.top_p = STORY_TOP_P;
    sp.seed = STORY_SEED;
    llm_sampler_set(&ctx, &sp);

    llm_gen_params gen = {0};
    gen.prompt = STORY_PROMPT;
    gen.n_steps = STORY_STEPS;
    gen.echo_prompt = 1;
    gen.on_piece = print_piece;
    llm_gen_stats st;
    s = llm_generate(&ctx, &gen, &st);
    printf("\n");
    fflush(stdout);
    if (s != LLM_OK) return fail("llm_generate", s);

    const llm_config *c = &model.config;
    fprintf(stderr, "model: dim %lu, %lu layers, %lu heads (%lu kv), vocab %lu, context %lu; "
            "%lu-byte blob in flash at %p\n",
            (unsigned long)c->dim, (unsigned long)c->n_layers, (unsigned long)c->n_heads,
            (unsigned long)c->n_kv_heads, (unsigned long)c->vocab_size,
            (unsigned long)ctx.seq_len, (unsigned long)llm_model_blob_size,
            (const void *)llm_model_blob);
    fprintf(stderr, "tokens: %lu prompt (incl. BOS) + %lu generated, end: %s\n",
            (unsigned long)st.n_prompt, (unsigned long)st.n_generated, llm_end_str(st.end));
    fprintf(stderr, "emulated time: prefill %lu us, decode %lu us", (unsigned long)st.prefill_us,
            (unsigned long)st.decode_us);
    if (st.decode_us > 0) {
        print_centi(", ", (uint64_t)st.n_generated * 100000000u / st.decode_us, " tok/s");
    }
    fprintf(stderr, "\n");
    fprintf(stderr, "memory: arena %lu of %lu bytes; static RAM %lu (DTCM) + %lu (SRAM); "
            "stack %lu of %lu bytes; heap %lu bytes\n",
            (unsigned long)llm_arena_used(&ctx), (unsigned long)sizeof arena,
            (unsigned long)board_dtcm_static_bytes(), (unsigned long)board_isram_static_bytes(),
            (unsigned long)(board_stack_size() - board_stack_unused()),
            (unsigned long)board_stack_size(), (unsigned long)board_heap_used());
#if defined(BOARD_CORES) && BOARD_CORES > 1
    /* Counted by the board's parallel_for: shows that both cores worked. */
    fprintf(stderr, "cores: %lu (%s), items per core: %lu, %lu\n",
            (unsigned long)board_cores_start(), board_cores_note(),
            (unsigned long)board_core_items(0), (unsigned long)board_core_items(1));
#endif
    return 0;
}
