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

void llm_ctx_reset(llm_ctx *ctx) {
    if (!ctx) return;
    ctx->n_past = 0;
    ctx->n_queued = 0;
}

void llm_ctx_recompute(llm_ctx *ctx) {
    if (!ctx) return;
    ctx->n_queued += ctx->n_past;
    ctx->n_past = 0;
}

/* The last token of the context (run or queued), or -1 when it is empty. */
static int32_t last_token(const llm_ctx *ctx) {
    const uint32_t n = ctx->n_past + ctx->n_queued;
    return n > 0 ? ctx->tokens[n - 1] : -1;
}

llm_status llm__append(llm_ctx *ctx, const llm__str *parts, size_t n_parts, int bos, int eos) {
    if (!ctx || !ctx->model || !ctx->tokens || !ctx->att) return LLM_ERR_ARG;
    /* Encode in the attention scores, scratch between forward passes:
     * (n_heads, seq_len) floats hold up to 2 * n_heads * seq_len unmerged
     * ids, and the merged ids in their place. */
    const llm_config *c = &ctx->model->config;
    const size_t bytes = (size_t)c->n_heads * ctx->seq_len * sizeof(float);
    int32_t *ids = (int32_t *)(void *)ctx->att; /* (n) merged ids */
    size_t n = 0;
    const int prefix = bos || last_token(ctx) < 0 || last_token(ctx) == ctx->model->bos_id;
    llm_status s = llm__encode_parts(&ctx->tok, parts, n_parts, bos, prefix, eos, ctx->att, bytes,
                                     ids, ctx->seq_len, &n);
    if (s != LLM_OK) return s;
    /* Check first that shifting could make the room, so a turn that can
     * never fit does not drop the context on its way to failing. */
    const uint32_t floor = ctx->full_policy == LLM_FULL_SHIFT && ctx->n_keep < ctx->n_past
                               ? ctx->n_keep
                               : ctx->n_past; /* fewest positions a shift can leave */
    if (n > ctx->seq_len - floor - ctx->n_queued || !llm__make_room(ctx, (uint32_t)n)) {
        LLM_LOGE("llm_append: %zu tokens do not fit the context (%u of %u used)", n,
                 (unsigned)(ctx->n_past + ctx->n_queued), (unsigned)ctx->seq_len);
        return LLM_ERR_PROMPT_TOO_LONG;
    }
    memcpy(ctx->tokens + ctx->n_past + ctx->n_queued, ids, n * sizeof(int32_t));
    ctx->n_queued += (uint32_t)n;
    return LLM_OK;
}

llm_status llm_append_text(llm_ctx *ctx, const char *text, int bos, int eos) {
    if (!text) return LLM_ERR_ARG;
    const llm__str part = {text, strlen(text)};
    return llm__append(ctx, &part, 1, bos, eos);
}

/*
 * The generation loop from where the context stands: run the queued tokens
 * (echoing those from queue index echo_from on), then sample until an end
 * condition. Every sampled token is queued, so a later call runs it first.
 */
static llm_status run(llm_ctx *ctx, const llm_gen_params *g, stream *st, llm_gen_stats *stats,
                      uint32_t echo_from) {
    const uint32_t steps = g->n_steps == 0 ? ctx->seq_len : g->n_steps;
    stats->n_prompt = ctx->n_queued;
    if (ctx->n_queued == 0) {
        if (ctx->n_past >= ctx->seq_len) {
            stats->end = LLM_END_CONTEXT;
            return LLM_OK;
        }
        LLM_LOGE("llm_continue: nothing to continue from (no prompt, nothing queued)");
        return LLM_ERR_ARG;
    }
    int end = -1;
    uint32_t index = 0; /* queue index (from this call's start) of the token run next */
    if (g->echo_prompt && echo_from == 0) {
        const char *piece;
        const int32_t prev = ctx->n_past > 0 ? ctx->tokens[ctx->n_past - 1] : -1;
        const size_t len = llm_decode(ctx, prev, ctx->tokens[ctx->n_past], &piece);
        if (!deliver(st, piece, len)) end = LLM_END_CALLBACK;
    }
    int sampling = 0; /* the token run next was sampled by this call */
    for (uint32_t pass = 0; end < 0; pass++) {
        if (pass == steps) {
            end = ctx->n_past >= ctx->seq_len && ctx->full_policy == LLM_FULL_STOP ? LLM_END_CONTEXT
                                                                                   : LLM_END_BUDGET;
            break;
        }
        /* n_past + n_queued <= seq_len: the queued token has its position. */
        const uint32_t pos = ctx->n_past;
        const int32_t token = ctx->tokens[pos];
        const uint64_t t0 = llm__time_us();
        float *logits = NULL;
        llm_status s = llm__forward(ctx, token, pos, &logits);
        if (s != LLM_OK) return s;
        ctx->n_past++;
        ctx->n_queued--;
        index++;
        const uint64_t t1 = llm__time_us();
        if (ctx->n_queued > 0) {
            /* The next token is given: the prompt, echoed from echo_from on. */
            stats->prefill_us += t1 - t0;
            if (g->echo_prompt && index >= echo_from) {
                const char *piece;
                const size_t len = llm_decode(ctx, token, ctx->tokens[ctx->n_past], &piece);
                if (!deliver(st, piece, len)) end = LLM_END_CALLBACK;
            }
            continue;
        }
        const int32_t next = llm_sample(ctx, logits, ctx->tokens, ctx->n_past);
        if (sampling) {
            stats->decode_us += llm__time_us() - t0;
        } else {
            stats->prefill_us += t1 - t0;
            stats->decode_us += llm__time_us() - t1;
        }
        sampling = 1;
        if (next < 0) return LLM_ERR_ARG; /* llm_sample rejected the context */
        /* Queued for the next pass or call; under LLM_FULL_STOP a full
         * context has no place for it, and nothing can follow anyway. */
        if (llm__make_room(ctx, 1)) {
            ctx->tokens[ctx->n_past] = next;
            ctx->n_queued = 1;
        }
        if (next == ctx->model->bos_id || next == ctx->model->eos_id) {
            end = LLM_END_EOS;
            break;
        }
        stats->n_generated++;
        const char *piece;
        const size_t len = llm_decode(ctx, token, next, &piece);
        const int r = stream_piece(st, piece, len);
        if (r >= 0) {
            end = r;
        } else if (g->max_new != 0 && stats->n_generated >= g->max_new) {
            end = LLM_END_BUDGET;
        } else if (ctx->n_queued == 0) {
            end = LLM_END_CONTEXT;
        }
    }
    /* A held tail that never became a stop string is text: flush it. */
    if (end != LLM_END_STOP_STRING && end != LLM_END_CALLBACK) deliver(st, st->hold, st->hold_len);
    stats->end = (llm_end)end;
    return LLM_OK;
}

/* Checks the arguments and sets up stats and the stream. */
static llm_status begin(llm_ctx *ctx, const llm_gen_params *g, stream *st, llm_gen_stats *stats) {
    memset(stats, 0, sizeof *stats);
    stats->end = LLM_END_BUDGET;
    if (!ctx || !ctx->model || !ctx->tokens || !g) return LLM_ERR_ARG;
    memset(st, 0, sizeof *st);
    st->g = g;
    return check_params(g, st->stop_len);
}

llm_status llm_generate(llm_ctx *ctx, const llm_gen_params *g, llm_gen_stats *stats) {
    llm_gen_stats local;
    if (!stats) stats = &local;
    stream st;
    llm_status s = begin(ctx, g, &st, stats);
    if (s != LLM_OK) return s;
    llm_ctx_reset(ctx);

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
    ctx->n_queued = (uint32_t)n_prompt;
    return run(ctx, g, &st, stats, 1);
}

llm_status llm_continue(llm_ctx *ctx, const llm_gen_params *g, llm_gen_stats *stats) {
    llm_gen_stats local;
    if (!stats) stats = &local;
    stream st;
    llm_status s = begin(ctx, g, &st, stats);
    if (s != LLM_OK) return s;
    const uint32_t queued = ctx->n_queued;
    if (g->prompt[0] != '\0') {
        s = llm_append_text(ctx, g->prompt, 0, 0);
        if (s != LLM_OK) return s;
    }
    return run(ctx, g, &st, stats, queued);
}
