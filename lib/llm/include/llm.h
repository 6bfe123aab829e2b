/*
 * llm: run small Llama-2-architecture language models on microcontrollers.
 *
 * Usage, with no heap:
 *   llm_model model;             // a view of a const blob; weights stay in place
 *   llm_model_open(&model, blob, blob_len);
 *   llm_params p = llm_params_default();
 *   size_t need; llm_arena_size(&model, &p, &need);
 *   llm_ctx ctx; llm_init(&ctx, &model, &p, arena, arena_len);  // arena >= need
 *   llm_generate(&ctx, &gen, &stats);
 *
 * The library never allocates, never prints and never exits: buffers come
 * from the caller's arena, text goes to the caller's callback, and logging
 * and time go through the port hooks (llm_port_set).
 */
#ifndef LLM_H
#define LLM_H

#include <stddef.h>
#include <stdint.h>

#include "llm_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ status */

typedef enum llm_status {
    LLM_OK = 0,
    LLM_ERR_ARG,            /* NULL pointer or parameter out of range */
    LLM_ERR_TRUNCATED,      /* data shorter than its header says */
    LLM_ERR_SIZE,           /* llama2.c checkpoint longer than its header says */
    LLM_ERR_MAGIC,          /* neither an llm blob nor a llama2.c checkpoint */
    LLM_ERR_VERSION,        /* blob format version not supported */
    LLM_ERR_CHECKSUM,       /* blob CRC-32 mismatch */
    LLM_ERR_DIMS,           /* zero, inconsistent or absurd hyperparameters */
    LLM_ERR_TENSOR_TABLE,   /* unknown tensor kind/layer, duplicate or missing tensor */
    LLM_ERR_DTYPE,          /* unknown or unsupported tensor dtype */
    LLM_ERR_SHAPE,          /* tensor shape or byte size differs from the config */
    LLM_ERR_BOUNDS,         /* tensor offset/size outside the blob or overflowing */
    LLM_ERR_ALIGN,          /* tensor not 16-byte aligned */
    LLM_ERR_TOKENIZER,      /* tokenizer data malformed or vocab size mismatch */
    LLM_ERR_NO_TOKENIZER,   /* text operation but no tokenizer was given */
    LLM_ERR_ARENA_TOO_SMALL,/* arena smaller than llm_arena_size() */
    LLM_ERR_PROMPT_TOO_LONG,/* prompt tokens do not fit the context or buffer */
    LLM_ERR_UTF8,           /* text is not valid UTF-8 */
    LLM_ERR_CONTEXT_FULL,   /* position >= context length */
    /* llm_state_save / llm_state_restore */
    LLM_ERR_STATE_BUFFER,   /* save: buffer smaller than llm_state_size() */
    LLM_ERR_STATE_TRUNCATED,/* restore: buffer shorter than the state it holds */
    LLM_ERR_STATE_MAGIC,    /* restore: not a saved state */
    LLM_ERR_STATE_VERSION,  /* restore: state format version not supported */
    LLM_ERR_STATE_CORRUPT,  /* restore: header or payload CRC-32 mismatch */
    LLM_ERR_STATE_MODEL,    /* restore: saved with another model (config or weights) */
    LLM_ERR_STATE_KV_TYPE,  /* restore: saved with another kv_type */
    LLM_ERR_STATE_CONTEXT,  /* restore: more positions than this context's seq_len */
    LLM_ERR_NOT_FOUND,      /* llm_model_meta: no such key */
    /* Malformed blob metadata (BLOB_FORMAT.md "Metadata", checked in this order): */
    LLM_ERR_META_TRUNCATED, /* a length runs past the end of the record */
    LLM_ERR_META_VERSION,   /* record version is not 1 */
    LLM_ERR_META_COUNT,     /* pair count outside 1..LLM_META_MAX_PAIRS */
    LLM_ERR_META_KEY,       /* key empty, too long, or not [a-z][a-z0-9_.]* */
    LLM_ERR_META_TERMINATOR,/* the byte after a key or value is not NUL */
    LLM_ERR_META_VALUE,     /* value not UTF-8 or contains NUL */
    LLM_ERR_META_DUPLICATE, /* a key appears twice */
    LLM_ERR_META_TRAILING,  /* bytes after the last pair */
    LLM_ERR_META_TOKEN_ID,  /* bos_id/eos_id not a plain decimal below vocab_size */
    LLM_STATUS_COUNT
} llm_status;

/* Stable name of a status, e.g. "LLM_ERR_CHECKSUM"; never NULL. */
const char *llm_status_str(llm_status s);

/* ------------------------------------------------------------------ port */

enum { LLM_LOG_ERROR = 1, LLM_LOG_WARN = 2, LLM_LOG_INFO = 3, LLM_LOG_DEBUG = 4 };

/* A slice of parallel work: process items begin..end-1 (begin < end). */
typedef void (*llm_range_fn)(void *arg, uint32_t begin, uint32_t end);

/* Platform hooks; any member may be NULL. Set once, before llm_init. */
typedef struct llm_port {
    /* One complete, NUL-terminated message without trailing newline. */
    void (*log)(int level, const char *msg, void *user);
    /* Monotonic microseconds; used only for llm_gen_stats. */
    uint64_t (*time_us)(void *user);
    void *user;
    /* Run fn over items 0..n-1 (n >= 1) and return when all are done.
     * NULL runs fn(arg, 0, n) on the calling thread. A hook must:
     *  - call fn(arg, begin, end) with begin < end <= n on ranges that
     *    cover every item in [0, n) exactly once (any number and sizes;
     *    llm_parallel_range gives one even split per worker);
     *  - return only after every call has returned, with their writes
     *    visible to the caller (and the caller's earlier writes visible to
     *    them);
     *  - expect no order between ranges: they may run at once, on any
     *    thread, the calling thread included, which may run some or all.
     * The library in turn never nests jobs (fn does not call parallel_for),
     * posts them from one thread at a time (the one in llm_forward), writes
     * disjoint outputs per range, and computes each item the same way
     * whatever range it falls in: any split gives the same bits. Jobs of
     * one fn and n have the same work per item (a hook may time them as
     * one kind: the mat-vecs of one shape, a step's attention). */
    void (*parallel_for)(llm_range_fn fn, void *arg, uint32_t n, void *user);
} llm_port;

/* Install the hooks (copied). NULL restores the defaults (silent, time 0). */
void llm_port_set(const llm_port *port);

/* Worker w's share of n items split among n_workers (1..): contiguous,
 * in worker order, sizes differing by at most one, the larger first; workers
 * past n get an empty range (*begin == *end). For parallel_for hooks. */
void llm_parallel_range(uint32_t n, uint32_t n_workers, uint32_t w, uint32_t *begin,
                        uint32_t *end);

/* ------------------------------------------------------------------ model */

/* Tensor dtypes as stored in the blob (see lib/llm/BLOB_FORMAT.md). */
typedef enum llm_dtype {
    LLM_DTYPE_F32 = 0,
    LLM_DTYPE_F16 = 1, /* reserved */
    LLM_DTYPE_Q8 = 2,  /* int8, one bf16 scale per group (matrices only) */
    LLM_DTYPE_Q4 = 3,  /* int4, a bf16 scale and offset per group (matrices only) */
    LLM_DTYPE_U8 = 4   /* raw bytes (embedded tokenizer) */
} llm_dtype;

typedef struct llm_tensor {
    const void *data;    /* in the caller's blob, never copied */
    uint32_t rows, cols; /* (rows, cols) row-major; a vector is (n, 1) */
    uint8_t dtype;       /* llm_dtype */
    uint16_t group_size; /* quantization group, 0 for float */
} llm_tensor;

typedef struct llm_layer {
    llm_tensor attn_norm; /* (dim) */
    llm_tensor wq;        /* (n_heads*head_size, dim) */
    llm_tensor wk;        /* (n_kv_heads*head_size, dim) */
    llm_tensor wv;        /* (n_kv_heads*head_size, dim) */
    llm_tensor wo;        /* (dim, n_heads*head_size) */
    llm_tensor ffn_norm;  /* (dim) */
    llm_tensor w1;        /* (hidden_dim, dim) gate */
    llm_tensor w2;        /* (dim, hidden_dim) down */
    llm_tensor w3;        /* (hidden_dim, dim) up */
} llm_layer;

typedef struct llm_config {
    uint32_t dim;        /* embedding width */
    uint32_t hidden_dim; /* feed-forward width */
    uint32_t n_layers;
    uint32_t n_heads;    /* query heads; head_size = dim / n_heads */
    uint32_t n_kv_heads; /* key/value heads, divides n_heads (GQA) */
    uint32_t vocab_size;
    uint32_t seq_len;    /* longest context the model was trained for */
    float rope_theta;    /* 10000 for llama2.c models */
    float norm_eps;      /* RMSNorm epsilon, 1e-5 for llama2.c models */
} llm_config;

enum { LLM_FORMAT_LLAMA2C = 1, LLM_FORMAT_BLOB = 2 };

typedef struct llm_model {
    llm_config config;
    llm_tensor tok_emb;    /* (vocab_size, dim) */
    llm_tensor final_norm; /* (dim) */
    llm_tensor cls;        /* (vocab_size, dim); same data as tok_emb when tied */
    llm_layer layers[LLM_MAX_LAYERS];
    const uint8_t *tokenizer; /* embedded tokenizer (llama2.c format) or NULL */
    size_t tokenizer_size;
    const uint8_t *meta;      /* (meta_size) validated metadata record or NULL */
    size_t meta_size;
    uint32_t meta_count;      /* metadata pairs, 0 without metadata */
    int32_t bos_id;           /* metadata bos_id, else 1: 0..vocab_size-1 */
    int32_t eos_id;           /* metadata eos_id, else 2: 0..vocab_size-1 */
    uint8_t format;           /* LLM_FORMAT_* */
    uint8_t tokenizer_flags;  /* LLM_TOK_* of the embedded tokenizer (BLOB_FORMAT.md) */
} llm_model;

/*
 * Open a model held in memory: an llm blob (BLOB_FORMAT.md) or a llama2.c
 * checkpoint (legacy 7-int header; negative vocab size = untied classifier).
 * data must be 4-byte aligned (16 for blobs) and outlive the model. Every
 * field, offset and size is validated before any tensor is read. For a blob,
 * size may exceed the blob's total size (e.g. a flash partition); a llama2.c
 * checkpoint must be exactly its file length.
 */
llm_status llm_model_open(llm_model *m, const void *data, size_t size);

/* ------------------------------------------------------------------ metadata */

/* Limits of the blob metadata record (BLOB_FORMAT.md "Metadata"). */
enum { LLM_META_MAX_PAIRS = 64, LLM_META_MAX_KEY = 64 };

/* Key/value pairs of an opened model's metadata, in blob order: 0 for a
 * llama2.c checkpoint or a blob without metadata, else 1..LLM_META_MAX_PAIRS. */
uint32_t llm_model_meta_count(const llm_model *m);

/* Pair i (0..count-1). *key and *value point into the blob and are
 * NUL-terminated; *len is the value's length without the NUL (len may be
 * NULL). LLM_ERR_ARG when i >= count or m, key or value is NULL. */
llm_status llm_model_meta_at(const llm_model *m, uint32_t i, const char **key,
                             const char **value, size_t *len);

/* The value of key (NUL-terminated, compared bytewise), as llm_model_meta_at
 * gives it; LLM_ERR_NOT_FOUND when the model has no such key (*value NULL). */
llm_status llm_model_meta(const llm_model *m, const char *key, const char **value, size_t *len);

/* ------------------------------------------------------------------ context */

typedef enum llm_kv_type {
    LLM_KV_F32 = 0, /* float32 key/value cache */
    LLM_KV_F16 = 1, /* IEEE half: half the RAM, rounding error ~5e-4 relative */
    LLM_KV_Q8 = 2   /* int8 plus a bf16 scale per head and position */
} llm_kv_type;

typedef struct llm_params {
    uint32_t seq_len;        /* context to allocate: 1..model seq_len; 0 = model's */
    llm_kv_type kv_type;
    /* llama2.c tokenizer.bin; NULL = the blob's embedded one (or none). */
    const void *tokenizer;
    size_t tokenizer_size;
} llm_params;

/* Defaults: full context, fp32 KV cache, embedded tokenizer. */
llm_params llm_params_default(void);

/* Arena bytes llm_init will use for this model and these params. */
llm_status llm_arena_size(const llm_model *m, const llm_params *p, size_t *bytes);

/* Tokenizer flags, stored with a blob's embedded tokenizer. */
enum {
    /* No dummy prefix before a text that already starts with a space, which
     * then stands for it (transformers' Metaspace pre-tokenizer); without
     * the flag the prefix always comes first (SentencePiece, llama2.c). */
    LLM_TOK_PREFIX_UNLESS_SPACE = 1u,
    LLM_TOK_FLAGS_KNOWN = 1u
};

typedef struct llm_tokenizer {
    const uint8_t *data;      /* llama2.c tokenizer.bin, read in place */
    uint32_t flags;           /* LLM_TOK_*; 0 for a separate tokenizer.bin */
    uint32_t vocab_size;
    uint32_t max_token_len;
    const uint32_t *offsets;  /* (vocab_size) byte offset of each token's record */
    const uint16_t *sorted;   /* (vocab_size) ids sorted by token bytes */
    int32_t bos_id, eos_id;   /* the model's, for llm_encode / llm_decode */
    char *merge_buf;          /* (2*max_token_len + 2) scratch for BPE merges */
} llm_tokenizer;

typedef struct llm_sampler_params {
    float temperature;       /* 0 = greedy argmax; > 0 divides logits */
    float top_p;             /* nucleus mass in (0,1); <= 0 or >= 1 disables */
    uint32_t top_k;          /* keep the k most likely; 0 disables */
    float repeat_penalty;    /* > 1 penalises recent tokens; 1 disables */
    uint32_t repeat_last_n;  /* window for repeat_penalty, in positions */
    uint64_t seed;           /* xorshift64* state; 0 is replaced by 1 */
} llm_sampler_params;

/* Defaults: temperature 1, top_p 0.9, no top-k, no penalty, seed 1. */
llm_sampler_params llm_sampler_default(void);

typedef struct llm_prob_index { float prob; int32_t index; } llm_prob_index;

typedef struct llm_sampler {
    llm_sampler_params p;
    uint64_t rng;               /* xorshift64* state */
    llm_prob_index *candidates; /* (vocab_size) scratch */
} llm_sampler;

/* The whole mutable state; every pointer points into the caller's arena. */
typedef struct llm_ctx {
    const llm_model *model;
    llm_tokenizer tok;          /* vocab_size 0 when there is no tokenizer */
    llm_sampler sampler;
    uint32_t seq_len;           /* allocated context */
    llm_kv_type kv_type;
    float *x;                   /* (dim) residual stream */
    float *xb, *xb2;            /* (dim) scratch */
    float *hb, *hb2;            /* (hidden_dim) feed-forward scratch */
    float *q;                   /* (n_heads*head_size) */
    float *att;                 /* (n_heads, seq_len) attention scores */
    float *logits;              /* (vocab_size) */
    float *rope_freq;           /* (head_size/2) 1 / theta^(2i/head_size) */
    float *rope_cs;             /* (head_size/2, 2) cos, sin at the current position */
    void *key_cache;            /* (n_layers, seq_len, kv_dim) of kv_type */
    void *value_cache;          /* (n_layers, seq_len, kv_dim) of kv_type */
    uint16_t *key_scale;        /* (n_layers, seq_len, n_kv_heads) bf16; LLM_KV_Q8 only */
    uint16_t *value_scale;      /* (n_layers, seq_len, n_kv_heads) bf16; LLM_KV_Q8 only */
    float *kv_tmp;              /* (2, kv_dim) new k, v before storing; not for LLM_KV_F32 */
    int8_t *qq;                 /* (n_heads*head_size) q quantized per head; LLM_KV_Q8 only */
    uint16_t *q_scale;          /* (n_heads) its bf16 scales; LLM_KV_Q8 only */
    int8_t *xq;                 /* (xq_len + 16) activations quantized for q8/q4 weights */
    float *xq_scale;            /* (xq_len / 16) their per-group scales */
    int32_t *xq_sum;            /* (xq_len / 16) per-group sums of the quants */
    uint32_t xq_len;            /* longest padded input of a quantized matrix; 0 if none */
    int32_t *tokens;            /* (seq_len) token at each position: fed ones, then queued */
    uint32_t n_past;            /* positions in the KV cache: tokens[0..n_past) were run */
    uint32_t n_queued;          /* tokens[n_past..n_past+n_queued) wait to be run (the last
                                   sampled token, appended text); n_past + n_queued <= seq_len */
    uint8_t full_policy;        /* llm_full_policy, LLM_FULL_STOP after llm_init */
    uint32_t n_keep;            /* LLM_FULL_SHIFT: positions 0..n_keep-1 are never dropped */
    uint32_t n_discard;         /* LLM_FULL_SHIFT: positions dropped per shift, 0 = half */
    uint8_t *arena;
    size_t arena_size, arena_used;
} llm_ctx;

/* Carve the arena; arena must be LLM_ARENA_ALIGN-aligned. */
llm_status llm_init(llm_ctx *ctx, const llm_model *m, const llm_params *p,
                    void *arena, size_t arena_size);

/* Bytes of the arena llm_init used; equals llm_arena_size(). */
size_t llm_arena_used(const llm_ctx *ctx);

/* ------------------------------------------------------------------ inference */

/* Run one token at position pos (0 <= pos < ctx->seq_len, positions filled in
 * order); *logits points at ctx->logits, (vocab_size) floats. The low-level
 * step: afterwards the context holds positions 0..pos (n_past = pos + 1) and
 * nothing queued. */
llm_status llm_forward(llm_ctx *ctx, int32_t token, uint32_t pos, float **logits);

/* Tokenize NUL-terminated UTF-8 text as llama2.c does (dummy-prefix space,
 * left out before a leading space when the embedded tokenizer has
 * LLM_TOK_PREFIX_UNLESS_SPACE, code-point lookup, <0xXX> byte fallback,
 * greedy best-score merges), with optional BOS / EOS (the model's bos_id /
 * eos_id: 1 and 2 unless its metadata says otherwise). Writes at most
 * max_tokens ids. Merging runs in
 * tokens itself as 16-bit ids, so the unmerged sequence (up to one id per
 * byte, plus BOS and the dummy prefix) must fit 2 * max_tokens ids; that or a
 * result over max_tokens gives LLM_ERR_PROMPT_TOO_LONG. Uses the ctx's merge
 * scratch: one call at a time per ctx. */
llm_status llm_encode(const llm_ctx *ctx, const char *text, int bos, int eos,
                      int32_t *tokens, size_t max_tokens, size_t *n_tokens);

/* Text of token after prev, by llama2.c's rules: the leading space is dropped
 * after BOS (the model's bos_id), <0xXX> gives the raw byte, and a single
 * byte that is neither printable nor whitespace gives length 0. Returns the
 * length; *piece is not NUL-terminated. */
size_t llm_decode(const llm_ctx *ctx, int32_t prev, int32_t token, const char **piece);

/* (Re)seed and configure the sampler. */
void llm_sampler_set(llm_ctx *ctx, const llm_sampler_params *p);

/* Pick the next token from logits (vocab_size floats, modified in place).
 * history/n_history are the tokens seen so far, for repeat_penalty. Returns
 * -1 when ctx or logits is NULL. */
int32_t llm_sample(llm_ctx *ctx, float *logits, const int32_t *history, size_t n_history);

/* ------------------------------------------------------------------ state */

/*
 * A context's state after n_pos positions, in a caller-owned buffer (RAM, a
 * flash page, a file): keys and values of positions 0..n_pos-1 of every
 * layer in the ctx's kv_type (q8: with their scales), and the tokens fed at
 * those positions. Prefill a fixed prompt once, save it, then start each
 * conversation by restoring it and calling llm_forward at position n_pos:
 * the logits are bit-identical to those of the saved ctx continuing there.
 *
 * Size in bytes, with kv_dim = n_kv_heads * (dim / n_heads) and
 * e = 4 (LLM_KV_F32), 2 (LLM_KV_F16) or 1 (LLM_KV_Q8):
 *     48 + n_pos * (2 * n_layers * (kv_dim * e + s) + 4)
 * where s = 2 * n_kv_heads for LLM_KV_Q8 (bf16 scales), else 0.
 * stories260K (5 layers, kv_dim 32, 4 kv heads), 200 positions: f32 256,848,
 * f16 128,848, q8 80,848 bytes.
 *
 * Layout: a 48-byte header of little-endian u32s (magic "LLMS", version 1,
 * header size, kv_type, n_pos, n_layers, kv_dim, n_kv_heads, a CRC-32 of
 * the model's config and of the shape, dtype and first 64 bytes of each
 * tensor the cache depends on plus its norm vectors, payload size, payload
 * CRC-32, and a CRC-32 of the header's first 44 bytes), then the payload:
 * keys (n_layers, n_pos, kv_dim), values (n_layers, n_pos, kv_dim), for
 * LLM_KV_Q8 key scales (n_layers, n_pos, n_kv_heads) and value scales
 * (the same), each in the cache's element type and the CPU's byte order
 * (all supported targets are little-endian), then tokens (n_pos) as u32.
 * The buffer needs no alignment. Restore into a ctx of the same model
 * (checked by the fingerprint, not the blob's address), the same kv_type and
 * a seq_len >= n_pos; any other seq_len, arena or tokenizer is fine.
 */

/* Bytes llm_state_save needs for positions 0..n_pos-1 (0..ctx->seq_len). */
llm_status llm_state_size(const llm_ctx *ctx, uint32_t n_pos, size_t *bytes);

/* Write the state of positions 0..n_pos-1 (0..ctx->seq_len; the caller has
 * run them) to buf(buf_len); *written (may be NULL) gets llm_state_size's
 * figure. LLM_ERR_STATE_BUFFER when buf_len is smaller; nothing is written
 * on failure. */
llm_status llm_state_save(const llm_ctx *ctx, uint32_t n_pos, void *buf, size_t buf_len,
                          size_t *written);

/* Load a state saved by llm_state_save from buf(len) (len may exceed the
 * state, e.g. a whole flash page); *n_pos (may be NULL) gets its position
 * count: the next llm_forward runs at position *n_pos, and the ctx holds
 * those positions (n_past = *n_pos, nothing queued), so llm_continue or
 * llm_chat_append carries on after them. The header, model
 * fingerprint, kv_type, context length and both CRCs are checked before the
 * ctx is touched: on any failure (LLM_ERR_STATE_*) the ctx is unchanged.
 * Cache rows at n_pos and after keep what they held; llm_forward overwrites
 * each as it reaches it. */
llm_status llm_state_restore(llm_ctx *ctx, const void *buf, size_t len, uint32_t *n_pos);

/* ------------------------------------------------------------------ generation */

/* Receives each piece of text; return non-zero to stop generation. */
typedef int (*llm_piece_fn)(const char *piece, size_t len, void *user);

typedef enum llm_end {
    LLM_END_EOS = 0,     /* the model produced its BOS or EOS id (end of text) */
    LLM_END_BUDGET,      /* n_steps positions done */
    LLM_END_CONTEXT,     /* the context is full */
    LLM_END_STOP_STRING, /* a stop string appeared (it is not emitted) */
    LLM_END_CALLBACK     /* on_piece returned non-zero */
} llm_end;

/* Stable name, e.g. "eos", "budget"; never NULL. */
const char *llm_end_str(llm_end e);

typedef struct llm_gen_params {
    const char *prompt;          /* UTF-8, NUL-terminated; "" allowed */
    uint32_t n_steps;            /* forward passes this call runs, prompt included: for
                                    llm_generate the positions (llama2.c -n); 0 = seq_len */
    uint32_t max_new;            /* most tokens sampled; 0 = no limit but n_steps */
    int echo_prompt;             /* emit the prompt's pieces too, as llama2.c does */
    const char *const *stop;     /* stop strings, each 1..LLM_MAX_STOP_LEN bytes */
    uint32_t n_stop;             /* 0..LLM_MAX_STOPS */
    llm_piece_fn on_piece;       /* may be NULL */
    void *user;
} llm_gen_params;

typedef struct llm_gen_stats {
    uint32_t n_prompt;     /* tokens queued when the call began: the prompt incl. BOS (for
                              llm_continue also appended and last sampled tokens) */
    uint32_t n_generated;  /* sampled tokens, excluding a final BOS/EOS */
    uint64_t prefill_us;   /* forward passes over the prompt */
    uint64_t decode_us;    /* forward passes and sampling after it */
    llm_end end;
} llm_gen_stats;

/* Encode the prompt with BOS, run it, then sample with the ctx's sampler until
 * an end condition; streams text through on_piece. Starts at position 0,
 * dropping what the context held. The last sampled token (an EOS too) is
 * left queued, so llm_continue can carry on from here. */
llm_status llm_generate(llm_ctx *ctx, const llm_gen_params *g, llm_gen_stats *stats);

/* The same from where the context stands: keeps the KV cache, appends the
 * prompt's tokens (no BOS; the dummy-prefix space only where a sequence
 * starts: an empty context, or right after BOS)
 * after the queued ones, runs the queue from position n_past, then samples.
 * echo_prompt echoes this prompt's pieces only. Nothing queued and nothing
 * to append: LLM_ERR_ARG (LLM_OK with LLM_END_CONTEXT when the context is
 * full). */
llm_status llm_continue(llm_ctx *ctx, const llm_gen_params *g, llm_gen_stats *stats);

/* Start over: an empty context (n_past 0, nothing queued). The KV cache
 * keeps its bytes; positions are overwritten as they are run again. */
void llm_ctx_reset(llm_ctx *ctx);

/* Forget the KV cache but keep the tokens: every token of the context is
 * queued again (n_past 0), so the next llm_continue recomputes the whole
 * context. After a shift, this gives the kept tokens' exact states instead
 * of the shift's approximation, at the cost of a full prefill. */
void llm_ctx_recompute(llm_ctx *ctx);

/* Queue text's tokens after the context's (run by the next llm_continue):
 * bos / eos add those tokens around it; the dummy-prefix space is added when
 * the text starts a sequence (empty context, or bos). When the tokens do not
 * fit the context, LLM_FULL_SHIFT shifts first; else LLM_ERR_PROMPT_TOO_LONG
 * and nothing is queued. */
llm_status llm_append_text(llm_ctx *ctx, const char *text, int bos, int eos);

/* ------------------------------------------------------------------ full context */

/* What llm_generate / llm_continue do when a token needs a position and the
 * context (seq_len) is full. */
typedef enum llm_full_policy {
    /* End with LLM_END_CONTEXT (the default); a token sampled at the last
     * position is emitted but has no position to be queued at. */
    LLM_FULL_STOP = 0,
    /* Drop positions n_keep..n_keep+d-1 (d = n_discard, 0 = half of the
     * positions after n_keep), move the later ones down by d and re-rotate
     * their cached keys to the new positions, then go on. The kept tokens'
     * cached values and deeper-layer keys still reflect the dropped text:
     * an approximation of recomputing them, good while n_keep holds what
     * matters (the system prompt). */
    LLM_FULL_SHIFT = 1
} llm_full_policy;

/* Choose the policy. n_keep: positions never dropped (0..seq_len-1);
 * n_discard: positions dropped per shift (0 = half of those after n_keep). */
llm_status llm_set_full_policy(llm_ctx *ctx, llm_full_policy policy, uint32_t n_keep,
                               uint32_t n_discard);

/* One shift by hand: drop positions n_keep..n_keep+n_discard-1 of the
 * n_past run ones (n_keep + n_discard <= n_past, n_discard >= 1); later
 * positions and the queued tokens move down by n_discard, their cached keys
 * re-rotated by -n_discard positions (fp16 and int8 caches: dequantized,
 * rotated, stored again with fresh int8 scales). */
llm_status llm_kv_shift(llm_ctx *ctx, uint32_t n_keep, uint32_t n_discard);

/* ------------------------------------------------------------------ chat */

/* A chat template: how a conversation's turns become tokens (chat.c). */
typedef struct llm_chat_template llm_chat_template;

/* Built-in templates by name: "llama2" (Llama 2 chat: [INST] ... [/INST],
 * <<SYS>> system prompt) and "zephyr" (Zephyr / TinyLlama chat: <|system|>,
 * <|user|>, <|assistant|> blocks ended by EOS). NULL when unknown. */
const llm_chat_template *llm_chat_template_find(const char *name);

/* The template the model names in its blob metadata, or NULL. */
const llm_chat_template *llm_chat_template_of(const llm_model *m);

/* Its name, e.g. "llama2"; "" for NULL. */
const char *llm_chat_template_name(const llm_chat_template *t);

/* Queue one user turn as t renders it (then llm_continue generates the
 * reply): on an empty context the conversation's start and the system
 * prompt (NULL or "" for none); after a reply, the reply's closing EOS when
 * the model did not end with one. All or nothing, as llm_append_text. */
llm_status llm_chat_append(llm_ctx *ctx, const llm_chat_template *t, const char *system,
                           const char *user);

#ifdef __cplusplus
}
#endif

#endif /* LLM_H */
