/* Context setup: parameters, the arena layout and llm_init. */
#include <math.h>

#include "kernels/ref/quantize.h"
#include "llm_internal.h"

llm_params llm_params_default(void) {
    llm_params p;
    memset(&p, 0, sizeof p);
    p.seq_len = 0;
    p.kv_type = LLM_KV_F32;
    p.tokenizer = NULL;
    p.tokenizer_size = 0;
    return p;
}

/* Aligns the running offset, so counting (base NULL) and carving a real,
 * aligned arena produce the same offsets. An overflowing request saturates
 * used at SIZE_MAX, which no arena can satisfy. */
void *llm__alloc(llm__arena *a, size_t n) {
    const size_t mask = (size_t)LLM_ARENA_ALIGN - 1;
    if (a->used > SIZE_MAX - mask) {
        a->used = SIZE_MAX;
        return NULL;
    }
    const size_t off = (a->used + mask) & ~mask;
    if (n > SIZE_MAX - off) {
        a->used = SIZE_MAX;
        return NULL;
    }
    a->used = off + n;
    if (!a->base || a->used > a->cap) return NULL;
    return a->base + off;
}

/* n elements of elem bytes, or NULL when the product overflows size_t (the
 * arena then saturates and the caller reports it). */
static void *alloc_n(llm__arena *a, uint64_t n, size_t elem) {
    const uint64_t bytes = n * (uint64_t)elem; /* n < 2^48 for validated configs */
    if (bytes > (uint64_t)SIZE_MAX) {
        a->used = SIZE_MAX;
        return NULL;
    }
    return llm__alloc(a, (size_t)bytes);
}

/* Bytes per cached key or value; 0 for an unknown type. */
static size_t kv_elem_size(llm_kv_type t) {
    switch (t) {
    case LLM_KV_F32: return sizeof(float);
    case LLM_KV_F16: return sizeof(uint16_t);
    case LLM_KV_Q8: return sizeof(int8_t);
    default: return 0;
    }
}

/* Padded input length (values) of t when it is q8/q4, else 0. */
static uint32_t quant_cols(const llm_tensor *t) {
    if (t->dtype != LLM_DTYPE_Q8 && t->dtype != LLM_DTYPE_Q4) return 0;
    return llm_q_cols_pad(t->dtype == LLM_DTYPE_Q4, t->cols, t->group_size);
}

/* Longest padded input (values) of the model's q8/q4 matrices; 0 if none. */
static uint32_t quant_input_len(const llm_model *m) {
    uint32_t len = quant_cols(&m->tok_emb);
    const uint32_t cls = quant_cols(&m->cls);
    len = cls > len ? cls : len;
    for (uint32_t l = 0; l < m->config.n_layers; l++) {
        const llm_layer *y = &m->layers[l];
        const llm_tensor *lt[7] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3};
        for (int i = 0; i < 7; i++) {
            const uint32_t n = quant_cols(lt[i]);
            len = n > len ? n : len;
        }
    }
    return len;
}

/* Checks the model and params; *seq_len gets the context to allocate. */
static llm_status check_args(const llm_model *m, const llm_params *p, uint32_t *seq_len) {
    if (!m || !p) return LLM_ERR_ARG;
    const llm_config *c = &m->config;
    if ((m->format != LLM_FORMAT_LLAMA2C && m->format != LLM_FORMAT_BLOB) || c->dim == 0 ||
        c->n_heads == 0 || c->n_kv_heads == 0 || c->n_layers == 0 || c->vocab_size == 0 ||
        c->seq_len == 0 || c->n_layers > LLM_MAX_LAYERS) {
        LLM_LOGE("llm_init: model not opened by llm_model_open");
        return LLM_ERR_ARG;
    }
    if (p->seq_len > c->seq_len) {
        LLM_LOGE("llm_init: seq_len %u > model seq_len %u", (unsigned)p->seq_len,
                 (unsigned)c->seq_len);
        return LLM_ERR_ARG;
    }
    if (kv_elem_size(p->kv_type) == 0) {
        LLM_LOGE("llm_init: kv_type %d not supported", (int)p->kv_type);
        return LLM_ERR_ARG;
    }
    if (!p->tokenizer && p->tokenizer_size != 0) {
        LLM_LOGE("llm_init: tokenizer NULL with size %zu", p->tokenizer_size);
        return LLM_ERR_ARG;
    }
    *seq_len = p->seq_len ? p->seq_len : c->seq_len;
    return LLM_OK;
}

/* The one arena layout, shared by llm_arena_size (a counting arena, base
 * NULL: pointers stay NULL) and llm_init (the real arena). Arguments are
 * already checked. */
static llm_status layout(llm_ctx *ctx, const llm_model *m, const llm_params *p, uint32_t seq_len,
                         llm__arena *a) {
    const llm_config *c = &m->config;
    const uint32_t hs = c->dim / c->n_heads;
    const uint64_t kv_dim = (uint64_t)c->n_kv_heads * hs;
    const uint64_t kv_n = (uint64_t)c->n_layers * seq_len * kv_dim;
    const size_t kv_elem = kv_elem_size(p->kv_type);

    ctx->x = alloc_n(a, c->dim, sizeof(float));                        /* (dim) */
    ctx->xb = alloc_n(a, c->dim, sizeof(float));                       /* (dim) */
    ctx->xb2 = alloc_n(a, c->dim, sizeof(float));                      /* (dim) */
    ctx->hb = alloc_n(a, c->hidden_dim, sizeof(float));                /* (hidden_dim) */
    ctx->hb2 = alloc_n(a, c->hidden_dim, sizeof(float));               /* (hidden_dim) */
    ctx->q = alloc_n(a, (uint64_t)c->n_heads * hs, sizeof(float));     /* (n_heads*hs) */
    ctx->att = alloc_n(a, (uint64_t)c->n_heads * seq_len, sizeof(float)); /* (n_heads, seq_len) */
    ctx->logits = alloc_n(a, c->vocab_size, sizeof(float));            /* (vocab_size) */
    ctx->rope_freq = alloc_n(a, hs / 2, sizeof(float));                /* (hs/2) */
    ctx->rope_cs = alloc_n(a, hs, sizeof(float));                      /* (hs/2, 2) */
    ctx->key_cache = alloc_n(a, kv_n, kv_elem);   /* (n_layers, seq_len, kv_dim) */
    ctx->value_cache = alloc_n(a, kv_n, kv_elem); /* (n_layers, seq_len, kv_dim) */
    if (p->kv_type == LLM_KV_Q8) {
        const uint64_t n_scales = (uint64_t)c->n_layers * seq_len * c->n_kv_heads;
        ctx->key_scale = alloc_n(a, n_scales, sizeof(uint16_t));   /* (n_layers, seq_len, n_kv_heads) */
        ctx->value_scale = alloc_n(a, n_scales, sizeof(uint16_t)); /* (n_layers, seq_len, n_kv_heads) */
        ctx->qq = alloc_n(a, (uint64_t)c->n_heads * hs, sizeof(int8_t)); /* (n_heads*hs) */
        ctx->q_scale = alloc_n(a, c->n_heads, sizeof(uint16_t));         /* (n_heads) */
    }
    if (p->kv_type != LLM_KV_F32) ctx->kv_tmp = alloc_n(a, 2 * kv_dim, sizeof(float)); /* (2, kv_dim) */
    ctx->xq_len = quant_input_len(m);
    if (ctx->xq_len > 0) {
        /* 16 spare bytes: a SIMD kernel may load a whole 16-byte vector at the end. */
        ctx->xq = alloc_n(a, (uint64_t)ctx->xq_len + 16U, sizeof(int8_t)); /* (xq_len + 16) */
        ctx->xq_scale = alloc_n(a, ctx->xq_len / LLM_Q_GROUP_MIN, sizeof(float));  /* (xq_len / 16) */
        ctx->xq_sum = alloc_n(a, ctx->xq_len / LLM_Q_GROUP_MIN, sizeof(int32_t)); /* (xq_len / 16) */
    }
    ctx->tokens = alloc_n(a, seq_len, sizeof(int32_t));                /* (seq_len) */
    ctx->sampler.candidates = alloc_n(a, c->vocab_size, sizeof(llm_prob_index)); /* (vocab) */

    memset(&ctx->tok, 0, sizeof ctx->tok);
    const uint8_t *tok = p->tokenizer ? (const uint8_t *)p->tokenizer : m->tokenizer;
    const size_t tok_size = p->tokenizer ? p->tokenizer_size : m->tokenizer_size;
    if (tok) {
        llm_status s = llm__tokenizer_layout(&ctx->tok, tok, tok_size, c->vocab_size, a);
        if (s != LLM_OK) {
            memset(&ctx->tok, 0, sizeof ctx->tok);
            return s;
        }
    }
    ctx->tok.bos_id = m->bos_id;
    ctx->tok.eos_id = m->eos_id;
    if (a->used == SIZE_MAX) {
        LLM_LOGE("llm_init: arena size overflows size_t (seq_len %u)", (unsigned)seq_len);
        return LLM_ERR_ARG;
    }
    return LLM_OK;
}

llm_status llm_arena_size(const llm_model *m, const llm_params *p, size_t *bytes) {
    if (!bytes) return LLM_ERR_ARG;
    *bytes = 0;
    uint32_t seq_len = 0;
    llm_status s = check_args(m, p, &seq_len);
    if (s != LLM_OK) return s;
    llm_ctx scratch; /* receives NULL pointers only */
    memset(&scratch, 0, sizeof scratch);
    llm__arena a = {NULL, 0, 0};
    s = layout(&scratch, m, p, seq_len, &a);
    if (s == LLM_OK) *bytes = a.used;
    return s;
}

llm_status llm_init(llm_ctx *ctx, const llm_model *m, const llm_params *p, void *arena,
                    size_t arena_size) {
    if (!ctx) return LLM_ERR_ARG;
    memset(ctx, 0, sizeof *ctx);
    size_t need = 0;
    llm_status s = llm_arena_size(m, p, &need);
    if (s != LLM_OK) return s;
    if (!arena || ((uintptr_t)arena & ((uintptr_t)LLM_ARENA_ALIGN - 1)) != 0) {
        LLM_LOGE("llm_init: arena not %d-byte aligned", LLM_ARENA_ALIGN);
        return LLM_ERR_ARG;
    }
    if (arena_size < need) {
        LLM_LOGE("llm_init: arena %zu bytes, need %zu", arena_size, need);
        return LLM_ERR_ARENA_TOO_SMALL;
    }
    /* Zeroing first gives a zero KV cache (all-zero bits are 0.0f) and
     * defined scratch; the tokenizer then fills its own buffers. */
    memset(arena, 0, need);
    llm__arena a = {(uint8_t *)arena, arena_size, 0};
    uint32_t seq_len = p->seq_len ? p->seq_len : m->config.seq_len;
    s = layout(ctx, m, p, seq_len, &a);
    if (s != LLM_OK || a.used != need) {
        memset(ctx, 0, sizeof *ctx);
        return s != LLM_OK ? s : LLM_ERR_ARG;
    }
    ctx->model = m;
    ctx->seq_len = seq_len;
    ctx->kv_type = p->kv_type;
    ctx->arena = (uint8_t *)arena;
    ctx->arena_size = arena_size;
    ctx->arena_used = a.used;

    const uint32_t hs = m->config.dim / m->config.n_heads;
    for (uint32_t j = 0; j < hs / 2; j++) {
        /* Written as llama2.c's run.c does, so the angles match it bit for bit. */
        ctx->rope_freq[j] = 1.0f / powf(m->config.rope_theta, (float)(2 * j) / (float)hs);
    }
    const llm_sampler_params sp = llm_sampler_default();
    llm_sampler_set(ctx, &sp);
    return LLM_OK;
}

size_t llm_arena_used(const llm_ctx *ctx) {
    return ctx ? ctx->arena_used : 0;
}
