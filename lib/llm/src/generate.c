/* Generation: llama2.c run.c's loop (forced prompt tokens, then sampling)
 * with streamed text, stop strings and timing. */
#include "llm_internal.h"

/* The sampled text stream, matched against the stop strings. The longest
 * tail that could still begin a stop string is held back until the next
 * piece shows whether it does. */
typedef struct {
    const llm_gen_params *g;
    size_t stop_len[LLM_MAX_STOPS];
    char hold[LLM_MAX_STOP_LEN]; /* (hold_len) bytes not yet emitted */
    size_t hold_len;             /* < LLM_MAX_STOP_LEN */
} stream;

/* Passes s(n) to the callback; returns 0 once the callback asks to stop. */
static int deliver(stream *st, const char *s, size_t n) {
    if (n == 0 || !st->g->on_piece) return 1;
    return st->g->on_piece(s, n, st->g->user) == 0;
}

/* Byte k of the virtual string hold + piece. */
static char at(const stream *st, const char *piece, size_t k) {
    return k < st->hold_len ? st->hold[k] : piece[k - st->hold_len];
}

/* Whether stop string j matches hold + piece (n bytes) from position k: in
 * full, or (partial) as far as the text goes without reaching its end. */
static int matches_at(const stream *st, const char *piece, size_t n, size_t k, uint32_t j,
                      int partial) {
    const char *stop = st->g->stop[j];
    const size_t len = st->stop_len[j];
    if (partial ? n - k >= len : n - k < len) return 0;
    for (size_t i = 0; i < len && k + i < n; i++) {
        if (at(st, piece, k + i) != stop[i]) return 0;
    }
    return 1;
}

/*
 * Adds a sampled piece to the stream and emits what is certainly text. A stop
 * string ends the stream when it completes: the one that completes first (the
 * longest of those ending at the same byte), as if the text came byte by
 * byte, so the result does not depend on how it is split into pieces.
 * Returns LLM_END_STOP_STRING or LLM_END_CALLBACK to end, else -1.
 */
static int stream_piece(stream *st, const char *piece, size_t len) {
    const size_t n = st->hold_len + len;
    size_t best_end = SIZE_MAX, best_start = 0;
    size_t cut = n; /* first position where a stop string may still begin */
    for (size_t k = 0; k < n; k++) {
        for (uint32_t j = 0; j < st->g->n_stop; j++) {
            if (matches_at(st, piece, n, k, j, 0)) {
                const size_t e = k + st->stop_len[j];
                if (e < best_end) { /* k grows, so on equal ends the first k stays */
                    best_end = e;
                    best_start = k;
                }
            } else if (cut == n && matches_at(st, piece, n, k, j, 1)) {
                cut = k;
            }
        }
    }
    const int full = best_end != SIZE_MAX;
    if (full) cut = best_start;
    /* Emit bytes 0..cut-1: hold's part, then piece's. */
    const size_t from_hold = cut < st->hold_len ? cut : st->hold_len;
    if (!deliver(st, st->hold, from_hold)) return LLM_END_CALLBACK;
    if (cut > st->hold_len && !deliver(st, piece, cut - st->hold_len)) return LLM_END_CALLBACK;
    if (full) return LLM_END_STOP_STRING;
    /* Hold bytes cut..n-1, fewer than LLM_MAX_STOP_LEN since a partial match
     * is shorter than its stop string: the rest of hold, then piece's end. */
    const size_t h = st->hold_len - from_hold;
    if (from_hold > 0) memmove(st->hold, st->hold + from_hold, h);
    const size_t piece_from = cut > st->hold_len ? cut - st->hold_len : 0;
    memcpy(st->hold + h, piece + piece_from, len - piece_from);
    st->hold_len = h + len - piece_from;
    return -1;
}

/* Bytes of the KV cache, which is free scratch until the first forward pass. */
static size_t kv_scratch_bytes(const llm_ctx *ctx) {
    const llm_config *c = &ctx->model->config;
    if (ctx->kv_type != LLM_KV_F32 || !ctx->key_cache) return 0;
    const uint64_t kv_dim = (uint64_t)c->n_kv_heads * (c->dim / c->n_heads);
    const uint64_t bytes = (uint64_t)c->n_layers * ctx->seq_len * kv_dim * sizeof(float);
    return bytes > (uint64_t)SIZE_MAX ? SIZE_MAX : (size_t)bytes;
}

static llm_status check_params(const llm_gen_params *g, size_t *stop_len) {
    if (!g->prompt || g->n_stop > LLM_MAX_STOPS || (g->n_stop > 0 && !g->stop)) {
        return LLM_ERR_ARG;
    }
    for (uint32_t j = 0; j < g->n_stop; j++) {
        if (!g->stop[j]) return LLM_ERR_ARG;
        size_t len = 0;
        while (len <= LLM_MAX_STOP_LEN && g->stop[j][len] != '\0') len++;
        if (len == 0 || len > LLM_MAX_STOP_LEN) {
            LLM_LOGE("llm_generate: stop string %u must be 1..%d bytes", (unsigned)j,
                     LLM_MAX_STOP_LEN);
            return LLM_ERR_ARG;
        }
        stop_len[j] = len;
    }
    return LLM_OK;
}

llm_status llm_generate(llm_ctx *ctx, const llm_gen_params *g, llm_gen_stats *stats) {
    llm_gen_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->end = LLM_END_BUDGET;
    if (!ctx || !ctx->model || !ctx->tokens || !g) return LLM_ERR_ARG;
    stream st;
    memset(&st, 0, sizeof st);
    st.g = g;
    llm_status s = check_params(g, st.stop_len);
    if (s != LLM_OK) return s;

    /* The unmerged prompt needs up to one id per byte; tokenizing in the
     * idle KV cache lets a prompt far longer than seq_len bytes still encode
     * into seq_len tokens. */
    size_t n_prompt = 0;
    const size_t scratch = kv_scratch_bytes(ctx);
    if (scratch > (size_t)ctx->seq_len * sizeof(int32_t)) {
        s = llm__encode(&ctx->tok, g->prompt, 1, 0, ctx->key_cache, scratch, ctx->tokens,
                        ctx->seq_len, &n_prompt);
    } else {
        s = llm_encode(ctx, g->prompt, 1, 0, ctx->tokens, ctx->seq_len, &n_prompt);
    }
    if (s != LLM_OK) return s;
    stats->n_prompt = (uint32_t)n_prompt;

    const uint32_t steps = (g->n_steps == 0 || g->n_steps > ctx->seq_len) ? ctx->seq_len
                                                                            : g->n_steps;
    int end = steps < ctx->seq_len ? LLM_END_BUDGET : LLM_END_CONTEXT;
    int32_t token = ctx->tokens[0];
    uint32_t pos = 0;
    while (pos < steps) {
        ctx->tokens[pos] = token; /* the history llm_sample penalises */
        const uint64_t t0 = llm__time_us();
        float *logits = NULL;
        s = llm_forward(ctx, token, pos, &logits);
        if (s != LLM_OK) return s;
        const uint64_t t1 = llm__time_us();
        const int sampled = pos + 1 >= n_prompt;
        int32_t next;
        if (!sampled) {
            next = ctx->tokens[pos + 1];
            stats->prefill_us += t1 - t0;
        } else {
            next = llm_sample(ctx, logits, ctx->tokens, (size_t)pos + 1);
            if (pos + 1 == n_prompt) {
                stats->prefill_us += t1 - t0;
                stats->decode_us += llm__time_us() - t1;
            } else {
                stats->decode_us += llm__time_us() - t0;
            }
        }
        pos++;
        if (sampled && (next == ctx->model->bos_id || next == ctx->model->eos_id)) {
            end = LLM_END_EOS;
            break;
        }
        if (next < 0) return LLM_ERR_ARG; /* llm_sample rejected the context */
        if (sampled) stats->n_generated++;
        const char *piece;
        const size_t len = llm_decode(ctx, token, next, &piece);
        if (sampled) {
            const int r = stream_piece(&st, piece, len);
            if (r >= 0) {
                end = r;
                break;
            }
        } else if (g->echo_prompt && !deliver(&st, piece, len)) {
            end = LLM_END_CALLBACK;
            break;
        }
        token = next;
    }
    /* A held tail that never became a stop string is text: flush it. */
    if (end != LLM_END_STOP_STRING && end != LLM_END_CALLBACK) deliver(&st, st.hold, st.hold_len);
    stats->end = (llm_end)end;
    return LLM_OK;
}
