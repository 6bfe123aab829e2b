/* One transformer step: llama2.c's forward pass over the caller's arena. */
#include <math.h>

#include "kernels/kernels.h"
#include "llm_internal.h"

/* out(t->rows) = t(rows, cols) @ x(cols). Weights are F32 (the loader
 * rejects other dtypes); quantized dtypes get their kernels here. */
static void matvec(float *out, const llm_tensor *t, const float *x) {
    llm_k_matvec_f32(out, (const float *)t->data, x, t->rows, t->cols);
}

/* Row of layer l, position pos in a KV cache (n_layers, seq_len, kv_dim).
 * The one place that knows the cache element type: an fp16/int8 cache
 * changes this and the attention call. */
static float *kv_row(const llm_ctx *ctx, void *cache, uint32_t l, uint32_t pos, uint32_t kv_dim) {
    return (float *)cache + ((size_t)l * ctx->seq_len + pos) * kv_dim;
}

llm_status llm_forward(llm_ctx *ctx, int32_t token, uint32_t pos, float **logits) {
    if (!ctx || !ctx->model) return LLM_ERR_ARG;
    const llm_model *m = ctx->model;
    const llm_config *c = &m->config;
    if (token < 0 || (uint32_t)token >= c->vocab_size) {
        LLM_LOGE("llm_forward: token %d outside 0..%u", (int)token, (unsigned)(c->vocab_size - 1));
        return LLM_ERR_ARG;
    }
    if (pos >= ctx->seq_len) {
        LLM_LOGE("llm_forward: pos %u >= context %u", (unsigned)pos, (unsigned)ctx->seq_len);
        return LLM_ERR_CONTEXT_FULL;
    }
    if (ctx->kv_type != LLM_KV_F32) return LLM_ERR_ARG;

    const uint32_t dim = c->dim;
    const uint32_t hs = dim / c->n_heads;
    const uint32_t kv_dim = c->n_kv_heads * hs;
    const uint32_t kv_mul = c->n_heads / c->n_kv_heads; /* query heads per kv head */
    float *x = ctx->x;                                  /* (dim) */
    ctx->tokens[pos] = token;

    memcpy(x, (const float *)m->tok_emb.data + (size_t)token * dim, dim * sizeof(float));

    /* cos, sin per rotation pair: the same for every head, layer, q and k. */
    for (uint32_t j = 0; j < hs / 2; j++) {
        const float val = (float)pos * ctx->rope_freq[j];
        ctx->rope_cs[2 * j] = cosf(val);
        ctx->rope_cs[2 * j + 1] = sinf(val);
    }

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const llm_layer *w = &m->layers[l];
        float *k = kv_row(ctx, ctx->key_cache, l, pos, kv_dim);   /* (kv_dim) */
        float *v = kv_row(ctx, ctx->value_cache, l, pos, kv_dim); /* (kv_dim) */

        llm_k_rmsnorm(ctx->xb, x, (const float *)w->attn_norm.data, dim, c->norm_eps);
        matvec(ctx->q, &w->wq, ctx->xb);
        matvec(k, &w->wk, ctx->xb);
        matvec(v, &w->wv, ctx->xb);
        llm_k_rope(ctx->q, c->n_heads, hs, ctx->rope_cs);
        llm_k_rope(k, c->n_kv_heads, hs, ctx->rope_cs);

        const float *k0 = kv_row(ctx, ctx->key_cache, l, 0, kv_dim);   /* (pos+1, kv_dim) */
        const float *v0 = kv_row(ctx, ctx->value_cache, l, 0, kv_dim); /* (pos+1, kv_dim) */
        for (uint32_t h = 0; h < c->n_heads; h++) {
            const size_t kv_off = (size_t)(h / kv_mul) * hs;
            llm_k_attention(ctx->xb + (size_t)h * hs, ctx->q + (size_t)h * hs, k0 + kv_off,
                            v0 + kv_off, pos + 1, hs, kv_dim, ctx->att + (size_t)h * ctx->seq_len);
        }
        matvec(ctx->xb2, &w->wo, ctx->xb);
        llm_k_add(x, ctx->xb2, dim);

        llm_k_rmsnorm(ctx->xb, x, (const float *)w->ffn_norm.data, dim, c->norm_eps);
        matvec(ctx->hb, &w->w1, ctx->xb);
        matvec(ctx->hb2, &w->w3, ctx->xb);
        llm_k_swiglu(ctx->hb, ctx->hb2, c->hidden_dim);
        matvec(ctx->xb, &w->w2, ctx->hb);
        llm_k_add(x, ctx->xb, dim);
    }

    llm_k_rmsnorm(x, x, (const float *)m->final_norm.data, dim, c->norm_eps);
    matvec(ctx->logits, &m->cls, x);
    if (logits) *logits = ctx->logits;
    return LLM_OK;
}
