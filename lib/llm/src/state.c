/* Saving and restoring a context's KV cache and tokens (llm_state_*). */
#include "llm_internal.h"

/* Header: STATE_HEADER_SIZE bytes of little-endian u32 fields at these
 * offsets, then the payload (see llm.h for its layout). */
#define STATE_MAGIC 0x534D4C4CU /* "LLMS" in the file's byte order */
#define STATE_VERSION 1U
enum {
    H_MAGIC = 0,
    H_VERSION = 4,
    H_HEADER_SIZE = 8,
    H_KV_TYPE = 12,
    H_N_POS = 16,
    H_N_LAYERS = 20,
    H_KV_DIM = 24,
    H_N_KV_HEADS = 28,
    H_MODEL_FP = 32,
    H_PAYLOAD_SIZE = 36,
    H_PAYLOAD_CRC = 40,
    H_HEADER_CRC = 44, /* CRC-32 of bytes 0..43 */
    STATE_HEADER_SIZE = 48
};

static void wr_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t crc_u32(uint32_t crc, uint32_t v) {
    uint8_t b[4];
    wr_u32(b, v);
    return llm__crc32(crc, b, 4);
}

static uint32_t crc_f32(uint32_t crc, float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return crc_u32(crc, u);
}

/* A tensor's shape, dtype and leading bytes (up to 64: a few rows' worth for
 * small matrices, enough to tell two checkpoints of one shape apart), or all
 * of a norm vector (dim floats). */
static uint32_t crc_tensor(uint32_t crc, const llm_tensor *t, int whole) {
    crc = crc_u32(crc, t->rows);
    crc = crc_u32(crc, t->cols);
    crc = crc_u32(crc, (uint32_t)t->dtype << 16 | t->group_size);
    uint64_t bytes = (uint64_t)t->rows * t->cols;
    if (t->dtype == LLM_DTYPE_F32) bytes *= 4;
    if (t->dtype == LLM_DTYPE_Q4) bytes /= 2;
    if (!whole && bytes > 64) bytes = 64;
    return t->data ? llm__crc32(crc, (const uint8_t *)t->data, (size_t)bytes) : crc;
}

/* Fingerprint of everything the cached keys and values depend on: the config
 * and the shape, dtype and leading bytes of every tensor before the
 * classifier (whose rows never reach the cache), plus the norms in full. */
static uint32_t model_fingerprint(const llm_model *m) {
    const llm_config *c = &m->config;
    uint32_t crc = 0;
    const uint32_t dims[7] = {c->dim,        c->hidden_dim, c->n_layers, c->n_heads,
                              c->n_kv_heads, c->vocab_size, c->seq_len};
    for (int i = 0; i < 7; i++) crc = crc_u32(crc, dims[i]);
    crc = crc_f32(crc, c->rope_theta);
    crc = crc_f32(crc, c->norm_eps);
    crc = crc_tensor(crc, &m->tok_emb, 0);
    for (uint32_t l = 0; l < c->n_layers; l++) {
        const llm_layer *y = &m->layers[l];
        crc = crc_tensor(crc, &y->attn_norm, 1);
        crc = crc_tensor(crc, &y->ffn_norm, 1);
        const llm_tensor *mats[7] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w1, &y->w2, &y->w3};
        for (int i = 0; i < 7; i++) crc = crc_tensor(crc, mats[i], 0);
    }
    return crc;
}

/* Sizes of one layer's part of the payload at n_pos positions. */
typedef struct state_dims {
    size_t rows;   /* n_pos * kv_dim * element bytes: one layer's keys (or values) */
    size_t scales; /* n_pos * n_kv_heads * 2: their bf16 scales (LLM_KV_Q8), else 0 */
    uint32_t kv_dim, n_kv_heads, n_layers;
    uint64_t payload; /* all of it, tokens included */
} state_dims;

static state_dims dims_of(const llm_ctx *ctx, uint32_t n_pos) {
    const llm_config *c = &ctx->model->config;
    state_dims d;
    const size_t elem = ctx->kv_type == LLM_KV_F32 ? 4 : ctx->kv_type == LLM_KV_F16 ? 2 : 1;
    d.n_kv_heads = c->n_kv_heads;
    d.kv_dim = c->n_kv_heads * (c->dim / c->n_heads);
    d.n_layers = c->n_layers;
    d.rows = (size_t)n_pos * d.kv_dim * elem;
    d.scales = ctx->kv_type == LLM_KV_Q8 ? (size_t)n_pos * d.n_kv_heads * 2 : 0;
    d.payload = 2ULL * d.n_layers * ((uint64_t)d.rows + d.scales) + 4ULL * n_pos;
    return d;
}

/* The payload's pieces in order: for each (base, stride, len), len bytes at
 * base + l * stride for every layer l, then the tokens. */
typedef struct state_piece {
    uint8_t *base;
    size_t stride, len;
} state_piece;

static int pieces_of(const llm_ctx *ctx, const state_dims *d, state_piece p[4]) {
    const size_t elem = ctx->kv_type == LLM_KV_F32 ? 4 : ctx->kv_type == LLM_KV_F16 ? 2 : 1;
    const size_t stride = (size_t)ctx->seq_len * d->kv_dim * elem;
    p[0].base = (uint8_t *)ctx->key_cache;
    p[1].base = (uint8_t *)ctx->value_cache;
    p[0].stride = p[1].stride = stride;
    p[0].len = p[1].len = d->rows;
    if (ctx->kv_type != LLM_KV_Q8) return 2;
    p[2].base = (uint8_t *)ctx->key_scale;
    p[3].base = (uint8_t *)ctx->value_scale;
    p[2].stride = p[3].stride = (size_t)ctx->seq_len * d->n_kv_heads * 2;
    p[2].len = p[3].len = d->scales;
    return 4;
}

static llm_status check_ctx(const llm_ctx *ctx, uint32_t n_pos) {
    if (!ctx || !ctx->model || !ctx->key_cache || !ctx->tokens) return LLM_ERR_ARG;
    if (n_pos > ctx->seq_len) {
        LLM_LOGE("llm_state: n_pos %u > context %u", (unsigned)n_pos, (unsigned)ctx->seq_len);
        return LLM_ERR_ARG;
    }
    return LLM_OK;
}

llm_status llm_state_size(const llm_ctx *ctx, uint32_t n_pos, size_t *bytes) {
    if (!bytes) return LLM_ERR_ARG;
    *bytes = 0;
    llm_status s = check_ctx(ctx, n_pos);
    if (s != LLM_OK) return s;
    const state_dims d = dims_of(ctx, n_pos);
    /* The header stores the payload size as a u32. */
    if (d.payload > 0xFFFFFFFFULL - STATE_HEADER_SIZE || d.payload > SIZE_MAX - STATE_HEADER_SIZE) {
        return LLM_ERR_ARG;
    }
    *bytes = STATE_HEADER_SIZE + (size_t)d.payload;
    return LLM_OK;
}

llm_status llm_state_save(const llm_ctx *ctx, uint32_t n_pos, void *buf, size_t buf_len,
                          size_t *written) {
    if (written) *written = 0;
    size_t need = 0;
    llm_status s = llm_state_size(ctx, n_pos, &need);
    if (s != LLM_OK) return s;
    if (!buf) return LLM_ERR_ARG;
    if (buf_len < need) {
        LLM_LOGE("llm_state_save: buffer %zu bytes, need %zu", buf_len, need);
        return LLM_ERR_STATE_BUFFER;
    }
    const state_dims d = dims_of(ctx, n_pos);
    state_piece p[4];
    const int n_pieces = pieces_of(ctx, &d, p);
    uint8_t *out = (uint8_t *)buf;
    uint8_t *w = out + STATE_HEADER_SIZE;
    for (int i = 0; i < n_pieces; i++) {
        for (uint32_t l = 0; l < d.n_layers; l++) {
            memcpy(w, p[i].base + l * p[i].stride, p[i].len);
            w += p[i].len;
        }
    }
    for (uint32_t i = 0; i < n_pos; i++, w += 4) wr_u32(w, (uint32_t)ctx->tokens[i]);

    wr_u32(out + H_MAGIC, STATE_MAGIC);
    wr_u32(out + H_VERSION, STATE_VERSION);
    wr_u32(out + H_HEADER_SIZE, STATE_HEADER_SIZE);
    wr_u32(out + H_KV_TYPE, (uint32_t)ctx->kv_type);
    wr_u32(out + H_N_POS, n_pos);
    wr_u32(out + H_N_LAYERS, d.n_layers);
    wr_u32(out + H_KV_DIM, d.kv_dim);
    wr_u32(out + H_N_KV_HEADS, d.n_kv_heads);
    wr_u32(out + H_MODEL_FP, model_fingerprint(ctx->model));
    wr_u32(out + H_PAYLOAD_SIZE, (uint32_t)d.payload);
    wr_u32(out + H_PAYLOAD_CRC, llm__crc32(0, out + STATE_HEADER_SIZE, (size_t)d.payload));
    wr_u32(out + H_HEADER_CRC, llm__crc32(0, out, H_HEADER_CRC));
    if (written) *written = need;
    return LLM_OK;
}

llm_status llm_state_restore(llm_ctx *ctx, const void *buf, size_t len, uint32_t *n_pos) {
    if (n_pos) *n_pos = 0;
    llm_status s = check_ctx(ctx, 0);
    if (s != LLM_OK) return s;
    if (!buf) return LLM_ERR_ARG;
    const uint8_t *in = (const uint8_t *)buf;
    /* Every check reads the buffer only: the ctx changes after all pass. */
    if (len < STATE_HEADER_SIZE) {
        LLM_LOGE("llm_state_restore: %zu bytes, shorter than the header", len);
        return LLM_ERR_STATE_TRUNCATED;
    }
    if (llm__rd_u32(in + H_MAGIC) != STATE_MAGIC) {
        LLM_LOGE("llm_state_restore: not a saved state (magic %x)",
                 (unsigned)llm__rd_u32(in + H_MAGIC));
        return LLM_ERR_STATE_MAGIC;
    }
    if (llm__rd_u32(in + H_VERSION) != STATE_VERSION ||
        llm__rd_u32(in + H_HEADER_SIZE) != STATE_HEADER_SIZE) {
        LLM_LOGE("llm_state_restore: state version %u, this build reads %u",
                 (unsigned)llm__rd_u32(in + H_VERSION), STATE_VERSION);
        return LLM_ERR_STATE_VERSION;
    }
    if (llm__rd_u32(in + H_HEADER_CRC) != llm__crc32(0, in, H_HEADER_CRC)) {
        LLM_LOGE("llm_state_restore: header CRC mismatch");
        return LLM_ERR_STATE_CORRUPT;
    }
    const llm_config *c = &ctx->model->config;
    const uint32_t kv_dim = c->n_kv_heads * (c->dim / c->n_heads);
    if (llm__rd_u32(in + H_N_LAYERS) != c->n_layers || llm__rd_u32(in + H_KV_DIM) != kv_dim ||
        llm__rd_u32(in + H_N_KV_HEADS) != c->n_kv_heads ||
        llm__rd_u32(in + H_MODEL_FP) != model_fingerprint(ctx->model)) {
        LLM_LOGE("llm_state_restore: saved with another model");
        return LLM_ERR_STATE_MODEL;
    }
    const uint32_t kv = llm__rd_u32(in + H_KV_TYPE);
    if (kv != (uint32_t)ctx->kv_type) {
        LLM_LOGE("llm_state_restore: saved with KV type %u, this context has %u", (unsigned)kv,
                 (unsigned)ctx->kv_type);
        return LLM_ERR_STATE_KV_TYPE;
    }
    const uint32_t np = llm__rd_u32(in + H_N_POS);
    if (np > ctx->seq_len) {
        LLM_LOGE("llm_state_restore: %u positions, context %u", (unsigned)np,
                 (unsigned)ctx->seq_len);
        return LLM_ERR_STATE_CONTEXT;
    }
    const state_dims d = dims_of(ctx, np);
    if (llm__rd_u32(in + H_PAYLOAD_SIZE) != d.payload) {
        /* A header with a valid CRC that disagrees with its own dims. */
        LLM_LOGE("llm_state_restore: payload size %u, expected %u",
                 (unsigned)llm__rd_u32(in + H_PAYLOAD_SIZE), (unsigned)d.payload);
        return LLM_ERR_STATE_CORRUPT;
    }
    if (len - STATE_HEADER_SIZE < d.payload) {
        LLM_LOGE("llm_state_restore: %zu bytes, the state has %zu", len,
                 (size_t)(STATE_HEADER_SIZE + d.payload));
        return LLM_ERR_STATE_TRUNCATED;
    }
    const uint8_t *r = in + STATE_HEADER_SIZE;
    if (llm__rd_u32(in + H_PAYLOAD_CRC) != llm__crc32(0, r, (size_t)d.payload)) {
        LLM_LOGE("llm_state_restore: payload CRC mismatch");
        return LLM_ERR_STATE_CORRUPT;
    }
    const uint8_t *tok = r + (size_t)d.payload - 4U * np; /* (n_pos) u32 */
    for (uint32_t i = 0; i < np; i++) {
        if (llm__rd_u32(tok + 4U * i) >= c->vocab_size) {
            LLM_LOGE("llm_state_restore: token %u at position %u outside the vocabulary",
                     (unsigned)llm__rd_u32(tok + 4U * i), (unsigned)i);
            return LLM_ERR_STATE_CORRUPT;
        }
    }

    state_piece p[4];
    const int n_pieces = pieces_of(ctx, &d, p);
    for (int i = 0; i < n_pieces; i++) {
        for (uint32_t l = 0; l < d.n_layers; l++) {
            memcpy(p[i].base + l * p[i].stride, r, p[i].len);
            r += p[i].len;
        }
    }
    for (uint32_t i = 0; i < np; i++, r += 4) ctx->tokens[i] = (int32_t)llm__rd_u32(r);
    ctx->n_past = np; /* llm_continue carries on after the restored positions */
    ctx->n_queued = 0;
    if (n_pos) *n_pos = np;
    return LLM_OK;
}
