/* One transformer step: llama2.c's forward pass over the caller's arena. */
#include <math.h>

#include "kernels/kernels.h"
#include "llm_internal.h"

#ifdef LLM_PROFILE
/* Profiling hook, compiled in only with -DLLM_PROFILE; the platform defines
 * it (e.g. lib/board_mps). Called as llm_forward enters each region;
 * a profiler charges the work up to the next call to that region. */
enum { LLM_PROF_OUTSIDE = 0, LLM_PROF_MATVEC = 1, LLM_PROF_ATTENTION = 2, LLM_PROF_OTHER = 3 };
void llm_profile_region(int region);
#define PROF(region) llm_profile_region(LLM_PROF_##region)
#else
#define PROF(region) ((void)0)
#endif

/* Up to three matrices applied to one input, as one parallel job: item i is
 * row i of the matrices stacked in order (wq, wk, wv or w1, w3), so both
 * cores share one dispatch. Each row is computed by the same kernel call
 * whatever the split, so results are bit-identical to one worker. */
typedef struct mv_job {
    const float *x;           /* (cols) shared input */
    const llm_tensor *t[3];   /* (rows_m, cols) each */
    float *out[3];            /* (rows_m) each */
    uint32_t n_mats;
    /* x quantized once per job for q8/q4 matrices (llm_k_quantize_q8): */
    const int8_t *xq;         /* (n_pad) */
    const float *xs;          /* (n_pad / group_size) */
    const int32_t *xsum;      /* (n_pad / group_size) */
} mv_job;

/* Padded input length of a q8/q4 tensor; 0 for f32. */
static uint32_t q_cols_pad(const llm_tensor *t) {
    if (t->dtype != LLM_DTYPE_Q8 && t->dtype != LLM_DTYPE_Q4) return 0;
    return llm_q_cols_pad(t->dtype == LLM_DTYPE_Q4, t->cols, t->group_size);
}

/* out(end-begin) = rows begin..end-1 of t(rows, cols) @ x(cols), written to
 * out + begin: f32 weights take x, q8/q4 weights the job's quantized x. */
static void matvec_rows(float *out, const llm_tensor *t, const mv_job *j, uint32_t begin,
                        uint32_t end) {
    const uint32_t n = end - begin;
    if (t->dtype == LLM_DTYPE_F32) {
        const float *w = (const float *)t->data + (size_t)begin * t->cols;
        llm_k_matvec_f32(out + begin, w, j->x, n, t->cols);
        return;
    }
    const int is_q4 = t->dtype == LLM_DTYPE_Q4;
    const uint32_t n_pad = q_cols_pad(t), gs = t->group_size;
    const size_t row_bytes = llm_q_row_bytes(is_q4, n_pad);
    const size_t row_params = (size_t)llm_q_group_params(is_q4) * (n_pad / gs);
    const uint8_t *codes = (const uint8_t *)t->data;         /* (rows, row_bytes) */
    const uint16_t *params = (const uint16_t *)(const void *)(codes + t->rows * row_bytes);
    codes += begin * row_bytes;                                /* (rows, row_params) bf16 */
    params += begin * row_params;
    if (is_q4) {
        llm_k_matvec_q4(out + begin, codes, params, j->xq, j->xs, j->xsum, n, n_pad, gs);
    } else {
        llm_k_matvec_q8(out + begin, (const int8_t *)codes, params, j->xq, j->xs, n, n_pad, gs);
    }
}

static void mv_job_rows(void *arg, uint32_t begin, uint32_t end) {
    const mv_job *j = (const mv_job *)arg;
    uint32_t first = 0; /* item of row 0 of matrix m */
    for (uint32_t m = 0; m < j->n_mats && begin < end; m++) {
        const uint32_t last = first + j->t[m]->rows; /* one past its last item */
        if (begin < last) {
            const uint32_t stop = end < last ? end : last;
            matvec_rows(j->out[m], j->t[m], j, begin - first, stop - first);
            begin = stop;
        }
        first = last;
    }
}

/* The down projection w2 (dim, hidden_dim) as a job of its own kind: its
 * row count is wo's (dim, dim), and jobs of one fn and n must have one
 * cost per item (llm_port.parallel_for). */
static void mv_job_rows_down(void *arg, uint32_t begin, uint32_t end) {
    mv_job_rows(arg, begin, end);
}

/* out_m(t_m->rows) = t_m @ x for each of n_mats (1..3) matrices, posted as
 * fn (mv_job_rows or a kind of its own, as mv_job_rows_down). x is
 * quantized once before the rows are split, into the ctx's buffers, when the
 * matrices are q8/q4; matrices that would need x quantized differently (not
 * the case for any converter recipe) run as separate jobs. */
static void matvec_par(llm_ctx *ctx, mv_job *j, llm_range_fn fn) {
    const uint32_t n_pad = q_cols_pad(j->t[0]), gs = j->t[0]->group_size;
    for (uint32_t m = 1; m < j->n_mats; m++) {
        if (q_cols_pad(j->t[m]) != n_pad || (n_pad != 0 && j->t[m]->group_size != gs)) {
            for (uint32_t k = 0; k < j->n_mats; k++) {
                mv_job one = {j->x, {j->t[k], NULL, NULL}, {j->out[k], NULL, NULL}, 1, NULL, NULL,
                              NULL};
                matvec_par(ctx, &one, fn);
            }
            return;
        }
    }
    uint32_t rows = 0;
    for (uint32_t m = 0; m < j->n_mats; m++) rows += j->t[m]->rows;
    PROF(MATVEC);
    if (n_pad != 0) {
        llm_k_quantize_q8(ctx->xq, ctx->xq_scale, ctx->xq_sum, j->x, j->t[0]->cols, n_pad, gs);
        j->xq = ctx->xq;
        j->xs = ctx->xq_scale;
        j->xsum = ctx->xq_sum;
    }
    llm__parallel_for(fn, j, rows);
    PROF(OTHER);
}

static void matvec(llm_ctx *ctx, float *out, const llm_tensor *t, const float *x,
                   llm_range_fn fn) {
    mv_job j = {x, {t, NULL, NULL}, {out, NULL, NULL}, 1, NULL, NULL, NULL};
    matvec_par(ctx, &j, fn);
}

/* Index of layer l, position pos in a KV cache (n_layers, seq_len, ...). */
static size_t kv_index(const llm_ctx *ctx, uint32_t l, uint32_t pos) {
    return (size_t)l * ctx->seq_len + pos;
}

/* Row of layer l, position pos in a KV cache (n_layers, seq_len, kv_dim) of
 * the ctx's kv_type. */
static void *kv_row(const llm_ctx *ctx, void *cache, uint32_t l, uint32_t pos, uint32_t kv_dim) {
    const size_t elem = ctx->kv_type == LLM_KV_F32 ? 4 : ctx->kv_type == LLM_KV_F16 ? 2 : 1;
    return (uint8_t *)cache + kv_index(ctx, l, pos) * kv_dim * elem;
}

/* Attention of query heads begin..end-1 at one layer, as a parallel job:
 * heads write disjoint slices of xb and att. */
typedef struct att_job {
    llm_ctx *ctx;
    const void *k0, *v0;      /* (pos+1, kv_dim) this layer's cache rows, of kv_type */
    const uint16_t *ks0, *vs0; /* (pos+1, n_kv_heads) their bf16 scales (LLM_KV_Q8) */
    uint32_t n_pos, hs, kv_dim, kv_mul;
} att_job;

static void att_job_heads(void *arg, uint32_t begin, uint32_t end) {
    const att_job *j = (const att_job *)arg;
    llm_ctx *ctx = j->ctx;
    for (uint32_t h = begin; h < end; h++) {
        const uint32_t g = h / j->kv_mul; /* kv head */
        const size_t kv_off = (size_t)g * j->hs;
        float *out = ctx->xb + (size_t)h * j->hs, *att = ctx->att + (size_t)h * ctx->seq_len;
        if (ctx->kv_type == LLM_KV_Q8) {
            const uint32_t n_kv = j->kv_dim / j->hs;
            llm_k_attention_q8(out, ctx->qq + (size_t)h * j->hs, llm_bf16_to_f32(ctx->q_scale[h]),
                               (const int8_t *)j->k0 + kv_off, j->ks0 + g,
                               (const int8_t *)j->v0 + kv_off, j->vs0 + g, j->n_pos, j->hs,
                               j->kv_dim, n_kv, att);
            continue;
        }
        const float *q = ctx->q + (size_t)h * j->hs;
        if (ctx->kv_type == LLM_KV_F32) {
            llm_k_attention(out, q, (const float *)j->k0 + kv_off, (const float *)j->v0 + kv_off,
                            j->n_pos, j->hs, j->kv_dim, att);
        } else {
            llm_k_attention_f16(out, q, (const uint16_t *)j->k0 + kv_off,
                                (const uint16_t *)j->v0 + kv_off, j->n_pos, j->hs, j->kv_dim, att);
        }
    }
}

/* Store the new position's keys and values (from kv_tmp) in an f16/q8 cache. */
static void kv_store(llm_ctx *ctx, uint32_t l, uint32_t pos, const float *k, const float *v,
                     uint32_t n_kv_heads, uint32_t hs) {
    const uint32_t kv_dim = n_kv_heads * hs;
    void *kd = kv_row(ctx, ctx->key_cache, l, pos, kv_dim);
    void *vd = kv_row(ctx, ctx->value_cache, l, pos, kv_dim);
    if (ctx->kv_type == LLM_KV_F16) {
        llm_k_kv_store_f16((uint16_t *)kd, k, kv_dim);
        llm_k_kv_store_f16((uint16_t *)vd, v, kv_dim);
    } else {
        const size_t s = kv_index(ctx, l, pos) * n_kv_heads;
        llm_k_kv_store_q8((int8_t *)kd, ctx->key_scale + s, k, n_kv_heads, hs);
        llm_k_kv_store_q8((int8_t *)vd, ctx->value_scale + s, v, n_kv_heads, hs);
    }
}

/* x(dim) = row token of the embedding table t(vocab_size, dim). */
static void embed(float *x, const llm_tensor *t, int32_t token) {
    const uint32_t dim = t->cols;
    if (t->dtype == LLM_DTYPE_F32) {
        memcpy(x, (const float *)t->data + (size_t)token * dim, dim * sizeof(float));
        return;
    }
    const int is_q4 = t->dtype == LLM_DTYPE_Q4;
    const uint32_t n_pad = q_cols_pad(t);
    const size_t row_bytes = llm_q_row_bytes(is_q4, n_pad);
    const size_t row_params = (size_t)llm_q_group_params(is_q4) * (n_pad / t->group_size);
    const uint8_t *codes = (const uint8_t *)t->data + (size_t)token * row_bytes;
    const uint16_t *params = (const uint16_t *)(const void *)((const uint8_t *)t->data +
                                                              t->rows * row_bytes) +
                             (size_t)token * row_params;
    if (is_q4) {
        llm_k_dequant_q4(x, codes, params, dim, t->group_size);
    } else {
        llm_k_dequant_q8(x, (const int8_t *)codes, params, dim, t->group_size);
    }
}

llm_status llm__forward(llm_ctx *ctx, int32_t token, uint32_t pos, float **logits) {
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

    const uint32_t dim = c->dim;
    const uint32_t hs = dim / c->n_heads;
    const uint32_t kv_dim = c->n_kv_heads * hs;
    const uint32_t kv_mul = c->n_heads / c->n_kv_heads; /* query heads per kv head */
    float *x = ctx->x;                                  /* (dim) */
    ctx->tokens[pos] = token;
    PROF(OTHER);

    embed(x, &m->tok_emb, token);

    /* cos, sin per rotation pair: the same for every head, layer, q and k. */
    for (uint32_t j = 0; j < hs / 2; j++) {
        const float val = (float)pos * ctx->rope_freq[j];
        ctx->rope_cs[2 * j] = cosf(val);
        ctx->rope_cs[2 * j + 1] = sinf(val);
    }

    for (uint32_t l = 0; l < c->n_layers; l++) {
        const llm_layer *w = &m->layers[l];
        /* (kv_dim) each: straight into an f32 cache, else stored after RoPE. */
        const int direct = ctx->kv_type == LLM_KV_F32;
        float *k = direct ? (float *)kv_row(ctx, ctx->key_cache, l, pos, kv_dim) : ctx->kv_tmp;
        float *v = direct ? (float *)kv_row(ctx, ctx->value_cache, l, pos, kv_dim)
                          : ctx->kv_tmp + kv_dim;

        llm_k_rmsnorm(ctx->xb, x, (const float *)w->attn_norm.data, dim, c->norm_eps);
        mv_job qkv = {ctx->xb, {&w->wq, &w->wk, &w->wv}, {ctx->q, k, v}, 3, NULL, NULL, NULL};
        matvec_par(ctx, &qkv, mv_job_rows);
        llm_k_rope(ctx->q, c->n_heads, hs, ctx->rope_cs);
        llm_k_rope(k, c->n_kv_heads, hs, ctx->rope_cs);
        if (!direct) kv_store(ctx, l, pos, k, v, c->n_kv_heads, hs);
        /* An int8 cache meets an int8 query: every score is an integer dot. */
        if (ctx->kv_type == LLM_KV_Q8) {
            llm_k_kv_store_q8(ctx->qq, ctx->q_scale, ctx->q, c->n_heads, hs);
        }

        const size_t s0 = kv_index(ctx, l, 0) * c->n_kv_heads; /* layer l's first scale */
        att_job aj = {ctx,
                      kv_row(ctx, ctx->key_cache, l, 0, kv_dim),
                      kv_row(ctx, ctx->value_cache, l, 0, kv_dim),
                      ctx->key_scale ? ctx->key_scale + s0 : NULL,
                      ctx->value_scale ? ctx->value_scale + s0 : NULL,
                      pos + 1, hs, kv_dim, kv_mul};
        PROF(ATTENTION);
        llm__parallel_for(att_job_heads, &aj, c->n_heads);
        PROF(OTHER);
        matvec(ctx, ctx->xb2, &w->wo, ctx->xb, mv_job_rows);
        llm_k_add(x, ctx->xb2, dim);

        llm_k_rmsnorm(ctx->xb, x, (const float *)w->ffn_norm.data, dim, c->norm_eps);
        mv_job up = {ctx->xb, {&w->w1, &w->w3, NULL}, {ctx->hb, ctx->hb2, NULL}, 2, NULL, NULL, NULL};
        matvec_par(ctx, &up, mv_job_rows);
        llm_k_swiglu(ctx->hb, ctx->hb2, c->hidden_dim);
        matvec(ctx, ctx->xb, &w->w2, ctx->hb, mv_job_rows_down);
        llm_k_add(x, ctx->xb, dim);
    }

    llm_k_rmsnorm(x, x, (const float *)m->final_norm.data, dim, c->norm_eps);
    matvec(ctx, ctx->logits, &m->cls, x, mv_job_rows);
    PROF(OUTSIDE);
    if (logits) *logits = ctx->logits;
    return LLM_OK;
}

llm_status llm_forward(llm_ctx *ctx, int32_t token, uint32_t pos, float **logits) {
    const llm_status s = llm__forward(ctx, token, pos, logits);
    if (s == LLM_OK) {
        ctx->n_past = pos + 1;
        ctx->n_queued = 0;
    }
    return s;
}
