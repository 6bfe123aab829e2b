/* Opening a model in place: an llm blob (BLOB_FORMAT.md) or a llama2.c
 * checkpoint. Every field is validated before any tensor is read. */
#include <float.h>

#include "kernels/ref/quantize.h"
#include "llm_internal.h"

#define BLOB_HEADER_SIZE 64U
#define BLOB_ENTRY_SIZE 32U
#define BLOB_ALIGN 16U
#define LEGACY_HEADER_SIZE 28U

enum {
    KIND_TOK_EMB = 1, KIND_ATTN_NORM, KIND_WQ, KIND_WK, KIND_WV, KIND_WO, KIND_FFN_NORM,
    KIND_W1, KIND_W2, KIND_W3, KIND_FINAL_NORM, KIND_CLS, KIND_TOKENIZER, KIND_METADATA,
    KIND_COUNT
};

static const char *const kind_name[KIND_COUNT] = {
    "?", "tok_emb", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm",
    "w1", "w2", "w3", "final_norm", "cls", "tokenizer", "metadata",
};

static int is_aligned(const void *p, uintptr_t align) {
    return ((uintptr_t)p & (align - 1)) == 0;
}

/* Hyperparameter checks shared by both formats (BLOB_FORMAT.md header rules). */
static llm_status check_config(const llm_config *c) {
#define DIMS_FAIL(field, val)                                                                 \
    do {                                                                                       \
        LLM_LOGE("llm_model_open: bad " field " %u", (unsigned)(val));                         \
        return LLM_ERR_DIMS;                                                                   \
    } while (0)
    if (c->dim < 1 || c->dim > LLM_MAX_DIM) DIMS_FAIL("dim", c->dim);
    if (c->hidden_dim < 1 || c->hidden_dim > LLM_MAX_DIM) DIMS_FAIL("hidden_dim", c->hidden_dim);
    if (c->n_layers < 1 || c->n_layers > LLM_MAX_LAYERS) DIMS_FAIL("n_layers", c->n_layers);
    if (c->n_heads < 1 || c->dim % c->n_heads != 0 || (c->dim / c->n_heads) % 2 != 0)
        DIMS_FAIL("n_heads (must divide dim into even head sizes)", c->n_heads);
    if (c->n_kv_heads < 1 || c->n_heads % c->n_kv_heads != 0)
        DIMS_FAIL("n_kv_heads (must divide n_heads)", c->n_kv_heads);
    if (c->vocab_size < 1 || c->vocab_size > LLM_MAX_VOCAB) DIMS_FAIL("vocab_size", c->vocab_size);
    if (c->seq_len < 1 || c->seq_len > LLM_MAX_SEQ_LEN) DIMS_FAIL("seq_len", c->seq_len);
    /* Comparisons are false for NaN, so these also reject NaN. */
    if (!(c->rope_theta > 0.0f && c->rope_theta <= FLT_MAX)) {
        LLM_LOGE("llm_model_open: rope_theta not finite and > 0");
        return LLM_ERR_DIMS;
    }
    if (!(c->norm_eps > 0.0f && c->norm_eps <= FLT_MAX)) {
        LLM_LOGE("llm_model_open: norm_eps not finite and > 0");
        return LLM_ERR_DIMS;
    }
#undef DIMS_FAIL
    return LLM_OK;
}

static void set_f32(llm_tensor *t, const float *data, uint32_t rows, uint32_t cols) {
    t->data = data;
    t->rows = rows;
    t->cols = cols;
    t->dtype = LLM_DTYPE_F32;
    t->group_size = 0;
}

/* ------------------------------------------------------------------ llama2.c */

/* Does the first word look like a format's ASCII magic ("GGUF", "LLMX",
 * export.py's "ak42")? A llama2.c dim made of four printable bytes would be
 * over 500 million, far past LLM_MAX_DIM, so no checkpoint is mistaken. */
static int looks_like_magic(const uint8_t *p) {
    for (int i = 0; i < 4; i++) {
        if (p[i] < 0x20 || p[i] > 0x7E) return 0;
    }
    return 1;
}

static llm_status open_llama2c(llm_model *m, const uint8_t *p, size_t size) {
    if (size < LEGACY_HEADER_SIZE) {
        LLM_LOGE("llm_model_open: %zu bytes, shorter than a llama2.c header", size);
        return LLM_ERR_TRUNCATED;
    }
    int32_t h[7]; /* dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len */
    for (int i = 0; i < 7; i++) h[i] = (int32_t)llm__rd_u32(p + 4 * i);
    for (int i = 0; i < 7; i++) {
        if (h[i] <= 0 && i != 5) {
            LLM_LOGE("llm_model_open: llama2.c header field %d is %d", i, (int)h[i]);
            return LLM_ERR_DIMS;
        }
    }
    const int tied = h[5] > 0;
    llm_config *c = &m->config;
    c->dim = (uint32_t)h[0];
    c->hidden_dim = (uint32_t)h[1];
    c->n_layers = (uint32_t)h[2];
    c->n_heads = (uint32_t)h[3];
    c->n_kv_heads = (uint32_t)h[4];
    /* 0u - x is the magnitude even for INT32_MIN, which check_config rejects. */
    c->vocab_size = tied ? (uint32_t)h[5] : 0U - (uint32_t)h[5];
    c->seq_len = (uint32_t)h[6];
    c->rope_theta = 10000.0f;
    c->norm_eps = 1e-5f;
    llm_status s = check_config(c);
    if (s != LLM_OK) return s;

    /* Float counts in 64 bits: the limits keep every term below 2^45. */
    const uint64_t dim = c->dim, hid = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    const uint64_t hs = dim / c->n_heads;
    const uint64_t q_dim = c->n_heads * hs, kv_dim = c->n_kv_heads * hs;
    const uint64_t n_floats = V * dim                  /* token_embedding */
                              + L * dim                /* rms_att */
                              + L * q_dim * dim        /* wq */
                              + 2 * L * kv_dim * dim   /* wk, wv */
                              + L * dim * q_dim        /* wo */
                              + L * dim                /* rms_ffn */
                              + 3 * L * hid * dim      /* w1, w2, w3 */
                              + dim                    /* rms_final */
                              + (uint64_t)c->seq_len * hs /* freq_cis_real, _imag */
                              + (tied ? 0 : V * dim);  /* wcls */
    const uint64_t want = LEGACY_HEADER_SIZE + 4 * n_floats;
    if ((uint64_t)size < want) {
        LLM_LOGE("llm_model_open: llama2.c checkpoint %zu bytes, header implies more", size);
        return LLM_ERR_TRUNCATED;
    }
    if ((uint64_t)size > want) {
        LLM_LOGE("llm_model_open: llama2.c checkpoint %zu bytes, header implies fewer", size);
        return LLM_ERR_SIZE;
    }
    if (!is_aligned(p, 4)) {
        LLM_LOGE("llm_model_open: llama2.c data not 4-byte aligned");
        return LLM_ERR_ALIGN;
    }

    /* The whole file fits in memory, so every offset below fits size_t. */
    const float *f = (const float *)(const void *)(p + LEGACY_HEADER_SIZE);
    const size_t d = (size_t)dim, qd = (size_t)q_dim, kd = (size_t)kv_dim, hd = (size_t)hid;
    const size_t nl = (size_t)L;
    set_f32(&m->tok_emb, f, c->vocab_size, c->dim);
    const float *rms_att = f + (size_t)V * d;
    const float *wq = rms_att + nl * d;
    const float *wk = wq + nl * qd * d;
    const float *wv = wk + nl * kd * d;
    const float *wo = wv + nl * kd * d;
    const float *rms_ffn = wo + nl * d * qd;
    const float *w1 = rms_ffn + nl * d;
    const float *w2 = w1 + nl * hd * d;
    const float *w3 = w2 + nl * d * hd;
    const float *rms_final = w3 + nl * hd * d;
    const float *wcls = rms_final + d + (size_t)c->seq_len * (size_t)hs;
    for (size_t l = 0; l < nl; l++) {
        llm_layer *y = &m->layers[l];
        set_f32(&y->attn_norm, rms_att + l * d, c->dim, 1);
        set_f32(&y->wq, wq + l * qd * d, (uint32_t)qd, c->dim);
        set_f32(&y->wk, wk + l * kd * d, (uint32_t)kd, c->dim);
        set_f32(&y->wv, wv + l * kd * d, (uint32_t)kd, c->dim);
        set_f32(&y->wo, wo + l * d * qd, c->dim, (uint32_t)qd);
        set_f32(&y->ffn_norm, rms_ffn + l * d, c->dim, 1);
        set_f32(&y->w1, w1 + l * hd * d, c->hidden_dim, c->dim);
        set_f32(&y->w2, w2 + l * d * hd, c->dim, c->hidden_dim);
        set_f32(&y->w3, w3 + l * hd * d, c->hidden_dim, c->dim);
    }
    set_f32(&m->final_norm, rms_final, c->dim, 1);
    if (tied) {
        m->cls = m->tok_emb;
    } else {
        set_f32(&m->cls, wcls, c->vocab_size, c->dim);
    }
    m->format = LLM_FORMAT_LLAMA2C;
    return LLM_OK;
}

/* ------------------------------------------------------------------ blob */

/* The model slot a table entry fills, or NULL for a kind/layer outside the
 * format. Per-layer kinds need layer < n_layers, the others layer 0. */
static llm_tensor *slot_of(llm_model *m, uint32_t kind, uint32_t layer) {
    const int per_layer = kind >= KIND_ATTN_NORM && kind <= KIND_W3;
    if (kind < 1 || kind >= KIND_COUNT) return NULL;
    if (per_layer ? layer >= m->config.n_layers : layer != 0) return NULL;
    llm_layer *y = &m->layers[per_layer ? layer : 0];
    switch (kind) {
    case KIND_TOK_EMB: return &m->tok_emb;
    case KIND_ATTN_NORM: return &y->attn_norm;
    case KIND_WQ: return &y->wq;
    case KIND_WK: return &y->wk;
    case KIND_WV: return &y->wv;
    case KIND_WO: return &y->wo;
    case KIND_FFN_NORM: return &y->ffn_norm;
    case KIND_W1: return &y->w1;
    case KIND_W2: return &y->w2;
    case KIND_W3: return &y->w3;
    case KIND_FINAL_NORM: return &m->final_norm;
    case KIND_CLS: return &m->cls;
    default: return NULL; /* the tokenizer and metadata have no llm_tensor slot */
    }
}

/* Expected (rows, cols) of a float kind; the tokenizer's rows are free. */
static void shape_of(const llm_config *c, uint32_t kind, uint32_t *rows, uint32_t *cols) {
    const uint32_t hs = c->dim / c->n_heads;
    *cols = c->dim;
    switch (kind) {
    case KIND_TOK_EMB: case KIND_CLS: *rows = c->vocab_size; break;
    case KIND_WQ: *rows = c->n_heads * hs; break;
    case KIND_WK: case KIND_WV: *rows = c->n_kv_heads * hs; break;
    case KIND_WO: *rows = c->dim; *cols = c->n_heads * hs; break;
    case KIND_W1: case KIND_W3: *rows = c->hidden_dim; break;
    case KIND_W2: *rows = c->dim; *cols = c->hidden_dim; break;
    default: *rows = c->dim; *cols = 1; break; /* norms */
    }
}

/* A decoded table entry. */
typedef struct entry {
    uint32_t kind, layer, dtype, ndim, group_size, rows, cols, offset, nbytes;
    int reserved_zero;
} entry;

static entry read_entry(const uint8_t *e) {
    entry t;
    t.kind = llm__rd_u16(e);
    t.layer = llm__rd_u16(e + 2);
    t.dtype = e[4];
    t.ndim = e[5];
    t.group_size = llm__rd_u16(e + 6);
    t.rows = llm__rd_u32(e + 8);
    t.cols = llm__rd_u32(e + 12);
    t.offset = llm__rd_u32(e + 16);
    t.nbytes = llm__rd_u32(e + 20);
    t.reserved_zero = 1;
    for (int i = 24; i < 32; i++) t.reserved_zero &= e[i] == 0;
    return t;
}

static const char *entry_name(uint32_t kind) {
    return kind < KIND_COUNT ? kind_name[kind] : "?";
}

/* Checks entry i against the config and the entries before it, in the order
 * BLOB_FORMAT.md lists, and fills its model slot. */
static llm_status check_entry(llm_model *m, const uint8_t *blob, uint32_t i, uint32_t table_end,
                              uint32_t total) {
    const entry t = read_entry(blob + BLOB_HEADER_SIZE + (size_t)i * BLOB_ENTRY_SIZE);
    const char *nm = entry_name(t.kind);
    const int is_meta = t.kind == KIND_METADATA;
    /* The tokenizer and the metadata are raw bytes without an llm_tensor. */
    const int is_raw = t.kind == KIND_TOKENIZER || is_meta;
    const uint8_t *const *bytes_slot = is_meta ? &m->meta : &m->tokenizer;

    /* LLM_ERR_TENSOR_TABLE: kind, layer, duplicates, reserved bytes. */
    llm_tensor *slot = slot_of(m, t.kind, t.layer);
    if (!is_raw && !slot) {
        LLM_LOGE("llm_model_open: tensor %u: bad kind %u / layer %u", (unsigned)i,
                 (unsigned)t.kind, (unsigned)t.layer);
        return LLM_ERR_TENSOR_TABLE;
    }
    if (is_raw && t.layer != 0) {
        LLM_LOGE("llm_model_open: tensor %u: %s layer %u", (unsigned)i, nm, (unsigned)t.layer);
        return LLM_ERR_TENSOR_TABLE;
    }
    if (is_raw ? *bytes_slot != NULL : slot->data != NULL) {
        LLM_LOGE("llm_model_open: tensor %u: duplicate %s layer %u", (unsigned)i, nm,
                 (unsigned)t.layer);
        return LLM_ERR_TENSOR_TABLE;
    }
    if (!t.reserved_zero) {
        LLM_LOGE("llm_model_open: tensor %u (%s): reserved bytes not 0", (unsigned)i, nm);
        return LLM_ERR_TENSOR_TABLE;
    }

    /* LLM_ERR_DTYPE: u8 tokenizer and metadata; f32 weights, and q8/q4 for
     * matrices with an allowed group size (only quantized dtypes have groups). */
    const int is_matrix = !is_raw && t.kind != KIND_ATTN_NORM && t.kind != KIND_FFN_NORM &&
                          t.kind != KIND_FINAL_NORM;
    const int is_quant = t.dtype == LLM_DTYPE_Q8 || t.dtype == LLM_DTYPE_Q4;
    const int dtype_ok = is_raw ? t.dtype == LLM_DTYPE_U8
                                : t.dtype == LLM_DTYPE_F32 || (is_quant && is_matrix);
    if (!dtype_ok) {
        LLM_LOGE("llm_model_open: tensor %u (%s): dtype %u not supported", (unsigned)i, nm,
                 (unsigned)t.dtype);
        return LLM_ERR_DTYPE;
    }
    if (is_quant ? !llm_q_group_ok(t.group_size) : t.group_size != 0) {
        LLM_LOGE("llm_model_open: tensor %u (%s): group_size %u not allowed for dtype %u",
                 (unsigned)i, nm, (unsigned)t.group_size, (unsigned)t.dtype);
        return LLM_ERR_DTYPE;
    }

    /* LLM_ERR_SHAPE: ndim, shape, nbytes. Vectors are (n, 1) with ndim 1; no
     * tensor is empty, which also keeps every offset distinct. */
    uint32_t rows = t.rows, cols = 1;
    if (!is_raw) shape_of(&m->config, t.kind, &rows, &cols);
    const uint32_t want_ndim = cols == 1 ? 1U : 2U;
    if (t.ndim != want_ndim || t.rows != rows || t.cols != cols || t.rows == 0) {
        LLM_LOGE("llm_model_open: tensor %u (%s): ndim %u (%u, %u), want %u (%u, %u)",
                 (unsigned)i, nm, (unsigned)t.ndim, (unsigned)t.rows, (unsigned)t.cols,
                 (unsigned)want_ndim, (unsigned)rows, (unsigned)cols);
        return LLM_ERR_SHAPE;
    }
    uint64_t want_bytes = is_raw ? (uint64_t)rows : 4ULL * rows * cols;
    if (is_quant) { /* codes, then bf16 params per group (kernels/ref/quantize.h) */
        const int is_q4 = t.dtype == LLM_DTYPE_Q4;
        const uint32_t cols_pad = llm_q_cols_pad(is_q4, cols, t.group_size);
        const uint32_t params = 2U * llm_q_group_params(is_q4) * (cols_pad / t.group_size);
        want_bytes = (uint64_t)rows * (llm_q_row_bytes(is_q4, cols_pad) + params);
    }
    if ((uint64_t)t.nbytes != want_bytes) {
        LLM_LOGE("llm_model_open: tensor %u (%s): nbytes %u, shape implies more or fewer",
                 (unsigned)i, nm, (unsigned)t.nbytes);
        return LLM_ERR_SHAPE;
    }

    /* LLM_ERR_BOUNDS: inside [table_end, total), no 32-bit wrap, no overlap. */
    const uint64_t end = (uint64_t)t.offset + t.nbytes;
    if (t.offset < table_end || end > total) {
        LLM_LOGE("llm_model_open: tensor %u (%s): bytes %u..+%u outside %u..%u", (unsigned)i, nm,
                 (unsigned)t.offset, (unsigned)t.nbytes, (unsigned)table_end, (unsigned)total);
        return LLM_ERR_BOUNDS;
    }
    for (uint32_t j = 0; j < i; j++) {
        /* Earlier entries passed these checks, so their ranges are sane. */
        const uint8_t *e = blob + BLOB_HEADER_SIZE + (size_t)j * BLOB_ENTRY_SIZE;
        const uint64_t o = llm__rd_u32(e + 16), oend = o + llm__rd_u32(e + 20);
        if (t.offset < oend && o < end) {
            LLM_LOGE("llm_model_open: tensor %u (%s) overlaps tensor %u", (unsigned)i, nm,
                     (unsigned)j);
            return LLM_ERR_BOUNDS;
        }
    }

    /* LLM_ERR_ALIGN: offset and absolute address (the blob base may be off). */
    const uint8_t *data = blob + t.offset;
    if (t.offset % BLOB_ALIGN != 0 || !is_aligned(data, BLOB_ALIGN)) {
        LLM_LOGE("llm_model_open: tensor %u (%s): offset %u not %u-byte aligned in memory",
                 (unsigned)i, nm, (unsigned)t.offset, (unsigned)BLOB_ALIGN);
        return LLM_ERR_ALIGN;
    }

    if (is_meta) {
        m->meta = data; /* validated after the table, then kept by llm__meta_open */
        m->meta_size = t.nbytes;
    } else if (is_raw) {
        m->tokenizer = data;
        m->tokenizer_size = t.nbytes;
    } else {
        slot->data = data;
        slot->rows = t.rows;
        slot->cols = t.cols;
        slot->dtype = (uint8_t)t.dtype;
        slot->group_size = (uint16_t)t.group_size;
    }
    return LLM_OK;
}

/* The bytes between tensors must be the zero padding the format promises.
 * Walks the tensors in offset order; they are non-empty and do not overlap. */
static llm_status check_padding(const uint8_t *blob, uint32_t n, uint32_t table_end,
                                uint32_t total) {
    uint64_t cur = table_end;
    for (;;) {
        uint64_t next = total, next_end = total;
        for (uint32_t j = 0; j < n; j++) {
            const uint8_t *e = blob + BLOB_HEADER_SIZE + (size_t)j * BLOB_ENTRY_SIZE;
            const uint64_t o = llm__rd_u32(e + 16);
            if (o >= cur && o < next) {
                next = o;
                next_end = o + llm__rd_u32(e + 20);
            }
        }
        for (uint64_t b = cur; b < next; b++) {
            if (blob[b] != 0) {
                LLM_LOGE("llm_model_open: padding byte %u is not 0", (unsigned)b);
                return LLM_ERR_BOUNDS;
            }
        }
        if (next == total) return LLM_OK;
        cur = next_end;
    }
}

static llm_status open_blob(llm_model *m, const uint8_t *p, size_t size) {
    if (size < BLOB_HEADER_SIZE) {
        LLM_LOGE("llm_model_open: %zu bytes, shorter than the 64-byte blob header", size);
        return LLM_ERR_TRUNCATED;
    }
    /* An unknown version may lay out the rest differently: check it before
     * trusting total_size (as the Python reader does). */
    const uint32_t version = llm__rd_u16(p + 4), header_size = llm__rd_u16(p + 6);
    const uint32_t flags = llm__rd_u32(p + 8);
    if (version != 1 || header_size != BLOB_HEADER_SIZE || flags != 0) {
        LLM_LOGE("llm_model_open: blob version %u header_size %u flags 0x%x, want 1 64 0",
                 (unsigned)version, (unsigned)header_size, (unsigned)flags);
        return LLM_ERR_VERSION;
    }
    const uint32_t total = llm__rd_u32(p + 56);
    if ((uint64_t)size < total) {
        LLM_LOGE("llm_model_open: buffer %zu bytes, blob total_size %u", size, (unsigned)total);
        return LLM_ERR_TRUNCATED;
    }
    if (total < BLOB_HEADER_SIZE || total % BLOB_ALIGN != 0) {
        LLM_LOGE("llm_model_open: total_size %u not a multiple of 16 of at least 64",
                 (unsigned)total);
        return LLM_ERR_BOUNDS;
    }
#if LLM_VERIFY_CHECKSUM
    static const uint8_t zero4[4] = {0, 0, 0, 0};
    uint32_t crc = llm__crc32(0, p, 60);
    crc = llm__crc32(crc, zero4, 4);
    crc = llm__crc32(crc, p + BLOB_HEADER_SIZE, total - BLOB_HEADER_SIZE);
    if (crc != llm__rd_u32(p + 60)) {
        LLM_LOGE("llm_model_open: blob crc32 0x%x, header says 0x%x", (unsigned)crc,
                 (unsigned)llm__rd_u32(p + 60));
        return LLM_ERR_CHECKSUM;
    }
#endif

    llm_config *c = &m->config;
    c->dim = llm__rd_u32(p + 12);
    c->hidden_dim = llm__rd_u32(p + 16);
    c->n_layers = llm__rd_u32(p + 20);
    c->n_heads = llm__rd_u32(p + 24);
    c->n_kv_heads = llm__rd_u32(p + 28);
    c->vocab_size = llm__rd_u32(p + 32);
    c->seq_len = llm__rd_u32(p + 36);
    c->rope_theta = llm__rd_f32(p + 40);
    c->norm_eps = llm__rd_f32(p + 44);
    llm_status s = check_config(c);
    if (s != LLM_OK) return s;

    const uint32_t n = llm__rd_u32(p + 48), table_offset = llm__rd_u32(p + 52);
    if (n < 1 || n > 9 * c->n_layers + 5 || table_offset != BLOB_HEADER_SIZE) {
        LLM_LOGE("llm_model_open: n_tensors %u (1..%u), table_offset %u (64)", (unsigned)n,
                 (unsigned)(9 * c->n_layers + 5), (unsigned)table_offset);
        return LLM_ERR_TENSOR_TABLE;
    }
    const uint32_t table_end = BLOB_HEADER_SIZE + n * BLOB_ENTRY_SIZE; /* n <= 2309 */
    if (table_end > total) {
        LLM_LOGE("llm_model_open: tensor table ends at %u, past total_size %u",
                 (unsigned)table_end, (unsigned)total);
        return LLM_ERR_BOUNDS;
    }

    for (uint32_t i = 0; i < n; i++) {
        s = check_entry(m, p, i, table_end, total);
        if (s != LLM_OK) return s;
    }
    for (uint32_t kind = KIND_TOK_EMB; kind <= KIND_FINAL_NORM; kind++) {
        const int per_layer = kind != KIND_TOK_EMB && kind != KIND_FINAL_NORM;
        for (uint32_t l = 0; l < (per_layer ? c->n_layers : 1U); l++) {
            if (!slot_of(m, kind, l)->data) {
                LLM_LOGE("llm_model_open: missing tensor %s layer %u", kind_name[kind],
                         (unsigned)l);
                return LLM_ERR_TENSOR_TABLE;
            }
        }
    }
    if (!m->cls.data) m->cls = m->tok_emb;
    s = check_padding(p, n, table_end, total);
    if (s != LLM_OK) return s;

    if (m->tokenizer) {
        llm_tokenizer tok;
        llm__arena count = {NULL, 0, 0};
        if (llm__tokenizer_layout(&tok, m->tokenizer, m->tokenizer_size, c->vocab_size, &count) !=
            LLM_OK) {
            LLM_LOGE("llm_model_open: embedded tokenizer malformed or vocab differs");
            return LLM_ERR_TOKENIZER;
        }
    }
    if (m->meta) {
        const uint8_t *rec = m->meta;
        m->meta = NULL; /* set again only once the record is valid */
        s = llm__meta_open(m, rec, m->meta_size);
        if (s != LLM_OK) return s;
    }
    m->format = LLM_FORMAT_BLOB;
    return LLM_OK;
}

llm_status llm_model_open(llm_model *m, const void *data, size_t size) {
    if (!m) return LLM_ERR_ARG;
    memset(m, 0, sizeof *m);
    if (!data && size != 0) return LLM_ERR_ARG;
    const uint8_t *p = (const uint8_t *)data;
    m->bos_id = LLM_DEFAULT_BOS;
    m->eos_id = LLM_DEFAULT_EOS;
    llm_status s;
    if (size < 4) {
        LLM_LOGE("llm_model_open: %zu bytes, too short for any model", size);
        s = LLM_ERR_TRUNCATED;
    } else if (memcmp(p, "LLMB", 4) == 0) {
        s = open_blob(m, p, size);
    } else if (looks_like_magic(p)) {
        LLM_LOGE("llm_model_open: magic 0x%x is neither LLMB nor a llama2.c header",
                 (unsigned)llm__rd_u32(p));
        s = LLM_ERR_MAGIC;
    } else {
        s = open_llama2c(m, p, size);
    }
    if (s != LLM_OK) memset(m, 0, sizeof *m);
    return s;
}
