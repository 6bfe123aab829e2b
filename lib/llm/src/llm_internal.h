/* Internal declarations shared by the library's source files. */
#ifndef LLM_INTERNAL_H
#define LLM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm.h"

/* BOS / EOS ids of a model whose metadata names none (llama2.c's). */
#define LLM_DEFAULT_BOS 1
#define LLM_DEFAULT_EOS 2
#define LLM_BYTE0 3 /* id of <0x00>; byte b is token LLM_BYTE0 + b */

/* Little-endian loads from possibly unaligned bytes. */
static inline uint32_t llm__rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint16_t llm__rd_u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline float llm__rd_f32(const uint8_t *p) {
    uint32_t u = llm__rd_u32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Bump allocator over the caller's arena. With base == NULL it only counts,
 * so the size query and llm_init share one layout function. */
typedef struct llm__arena {
    uint8_t *base;
    size_t cap, used;
} llm__arena;

/* Next LLM_ARENA_ALIGN-aligned block of n bytes; NULL when only counting or
 * when it does not fit (used still grows, so the caller sees the total). */
void *llm__alloc(llm__arena *a, size_t n);

/* Log through the port hook. fmt understands %s %d %u %zu %x and %%. */
void llm__log(int level, const char *fmt, ...);
uint64_t llm__time_us(void);

/* Run fn over items 0..n-1 through the port's parallel_for hook, or inline
 * when there is none (port.c). Nothing happens for n == 0. */
void llm__parallel_for(llm_range_fn fn, void *arg, uint32_t n);

#define LLM_LOGE(...) do { if (LLM_LOG_LEVEL >= LLM_LOG_ERROR) llm__log(LLM_LOG_ERROR, __VA_ARGS__); } while (0)
#define LLM_LOGW(...) do { if (LLM_LOG_LEVEL >= LLM_LOG_WARN) llm__log(LLM_LOG_WARN, __VA_ARGS__); } while (0)
#define LLM_LOGI(...) do { if (LLM_LOG_LEVEL >= LLM_LOG_INFO) llm__log(LLM_LOG_INFO, __VA_ARGS__); } while (0)

/* llm_forward without moving the context position (n_past, n_queued):
 * generation keeps those itself. Stores token at tokens[pos]. */
llm_status llm__forward(llm_ctx *ctx, int32_t token, uint32_t pos, float **logits);

/* Make room for one more position when the context is full, as the ctx's
 * policy says (shift.c): 1 when there is room now, 0 when the context stays
 * full (LLM_FULL_STOP, or nothing left to drop). */
int llm__make_room(llm_ctx *ctx, uint32_t need);

/* CRC-32 (IEEE 802.3, as zlib.crc32) continuing from crc (0 to start). */
uint32_t llm__crc32(uint32_t crc, const uint8_t *p, size_t n);

/* Tokenizer (tokenizer.c). Validate llama2.c tokenizer.bin bytes against
 * vocab_size and take its arena buffers (offsets, sorted ids, merge scratch).
 * With a counting arena (base NULL) it only validates and counts; with a real
 * one it also fills offsets and the sorted index. */
llm_status llm__tokenizer_layout(llm_tokenizer *t, const uint8_t *data, size_t size,
                                 uint32_t vocab_size, llm__arena *a);

/* llm_encode into out(max_out), merging in separate scratch: work(work_bytes)
 * holds the unmerged ids as 16-bit values (plus a pair cache when there is
 * room), so the text may need up to work_bytes/2 ids before merging. work may
 * be out itself (llm_encode does that). */
llm_status llm__encode(const llm_tokenizer *t, const char *text, int bos, int eos, void *work,
                       size_t work_bytes, int32_t *out, size_t max_out, size_t *n_out);

/* Length of the valid UTF-8 sequence at s (avail >= 1 bytes), or 0
 * when invalid (tokenizer.c). */
uint32_t llm__utf8_len(const uint8_t *s, size_t avail);

/* Validate a metadata record of n bytes (BLOB_FORMAT.md "Metadata") against
 * m->config and point m's meta fields and bos_id / eos_id at it (meta.c). */
llm_status llm__meta_open(llm_model *m, const uint8_t *rec, size_t n);

/* A slice of UTF-8 text: n bytes at s, no NUL needed (each slice valid
 * UTF-8 on its own). */
typedef struct llm__str {
    const char *s;
    size_t n;
} llm__str;

/* llm__encode of the concatenated parts(n_parts); prefix: add the
 * dummy-prefix space (SentencePiece's, at the start of a sequence) when the
 * text is non-empty. llm__encode is this with one part and prefix 1. */
llm_status llm__encode_parts(const llm_tokenizer *t, const llm__str *parts, size_t n_parts,
                            int bos, int prefix, int eos, void *work, size_t work_bytes,
                            int32_t *out, size_t max_out, size_t *n_out);

/* Queue the tokens of parts (bos / eos around them; the dummy prefix when
 * they start a sequence) after the context's, shifting first under
 * LLM_FULL_SHIFT; all or nothing (generate.c). */
llm_status llm__append(llm_ctx *ctx, const llm__str *parts, size_t n_parts, int bos, int eos);

#endif /* LLM_INTERNAL_H */
