/* A full context: the caller's policy, and the shift that drops old
 * positions and re-rotates the cached keys of the ones it moves. */
#include <math.h>

#include "kernels/kernels.h"
#include "llm_internal.h"

llm_status llm_set_full_policy(llm_ctx *ctx, llm_full_policy policy, uint32_t n_keep,
                               uint32_t n_discard) {
    if (!ctx || !ctx->model || (policy != LLM_FULL_STOP && policy != LLM_FULL_SHIFT)) {
        return LLM_ERR_ARG;
    }
    if (n_keep >= ctx->seq_len || n_discard >= ctx->seq_len) {
        LLM_LOGE("llm_set_full_policy: n_keep %u, n_discard %u: each must be < context %u",
                 (unsigned)n_keep, (unsigned)n_discard, (unsigned)ctx->seq_len);
        return LLM_ERR_ARG;
    }
    ctx->full_policy = (uint8_t)policy;
    ctx->n_keep = n_keep;
    ctx->n_discard = n_discard;
    return LLM_OK;
}

llm_status llm_kv_shift(llm_ctx *ctx, uint32_t n_keep, uint32_t n_discard) {
    if (!ctx || !ctx->model || !ctx->tokens) return LLM_ERR_ARG;
    if (n_discard == 0 || n_keep > ctx->n_past || n_discard > ctx->n_past - n_keep) {
        LLM_LOGE("llm_kv_shift: keep %u, drop %u of %u positions", (unsigned)n_keep,
                 (unsigned)n_discard, (unsigned)ctx->n_past);
        return LLM_ERR_ARG;
    }
    const llm_config *c = &ctx->model->config;
    const uint32_t hs = c->dim / c->n_heads, nkv = c->n_kv_heads;
    const size_t kv_dim = (size_t)nkv * hs;
    const size_t elem = ctx->kv_type == LLM_KV_F32 ? 4 : ctx->kv_type == LLM_KV_F16 ? 2 : 1;
    const uint32_t from = n_keep + n_discard;   /* first position that moves */
    const uint32_t n_move = ctx->n_past - from; /* positions that move */

    /* Rotation by -n_discard positions: cos and sin of -n_discard * freq_j,
     * in the per-position scratch the next forward pass overwrites. */
    float *cs = ctx->rope_cs; /* (hs/2, 2) */
    for (uint32_t j = 0; j < hs / 2; j++) {
        const float a = (float)n_discard * ctx->rope_freq[j];
        cs[2 * j] = cosf(a);
        cs[2 * j + 1] = -sinf(a);
    }
    for (uint32_t l = 0; l < c->n_layers && n_move > 0; l++) {
        const size_t dst = (size_t)l * ctx->seq_len + n_keep, src = (size_t)l * ctx->seq_len + from;
        uint8_t *k = (uint8_t *)ctx->key_cache, *v = (uint8_t *)ctx->value_cache;
        memmove(k + dst * kv_dim * elem, k + src * kv_dim * elem, n_move * kv_dim * elem);
        memmove(v + dst * kv_dim * elem, v + src * kv_dim * elem, n_move * kv_dim * elem);
        void *rows = k + dst * kv_dim * elem; /* (n_move, nkv, hs) of kv_type */
        if (ctx->kv_type == LLM_KV_F32) {
            llm_k_kv_rotate_f32((float *)rows, n_move, nkv, hs, cs);
        } else if (ctx->kv_type == LLM_KV_F16) {
            llm_k_kv_rotate_f16((uint16_t *)rows, n_move, nkv, hs, cs, ctx->kv_tmp);
        } else {
            uint16_t *ks = ctx->key_scale, *vs = ctx->value_scale; /* (.., nkv) per position */
            memmove(ks + dst * nkv, ks + src * nkv, n_move * nkv * sizeof(uint16_t));
            memmove(vs + dst * nkv, vs + src * nkv, n_move * nkv * sizeof(uint16_t));
            llm_k_kv_rotate_q8((int8_t *)rows, ks + dst * nkv, n_move, nkv, hs, cs, ctx->kv_tmp);
        }
    }
    /* The tokens move with their positions, the queued ones too. */
    memmove(ctx->tokens + n_keep, ctx->tokens + from,
            (size_t)(n_move + ctx->n_queued) * sizeof(int32_t));
    ctx->n_past -= n_discard;
    return LLM_OK;
}

int llm__make_room(llm_ctx *ctx, uint32_t need) {
    for (;;) {
        const uint32_t used = ctx->n_past + ctx->n_queued;
        const uint32_t room = ctx->seq_len - used;
        if (room >= need) return 1;
        if (ctx->full_policy != LLM_FULL_SHIFT || ctx->n_past <= ctx->n_keep) return 0;
        const uint32_t avail = ctx->n_past - ctx->n_keep; /* positions that may go */
        uint32_t d = ctx->n_discard ? ctx->n_discard : avail / 2;
        if (d < need - room) d = need - room;
        if (d < 1) d = 1;
        if (d > avail) d = avail;
        if (llm_kv_shift(ctx, ctx->n_keep, d) != LLM_OK) return 0;
    }
}
