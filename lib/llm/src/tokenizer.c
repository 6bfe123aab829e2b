/* Tokenizer: llama2.c's tokenizer.bin read in place, its BPE encoder and its
 * decoder, with the same results as llama2.c's run.c but no heap. */
#include "llm_internal.h"

/* A token id never reached by a vocabulary (ids are < LLM_MAX_VOCAB <= 65535). */
#define NO_ID 0xFFFFu

/* run.c starts its best-merge search here: pairs scoring lower never merge. */
#define MERGE_FLOOR (-1e10f)

/* ------------------------------------------------------------------ vocab */

/* Bytes and length of token id (< vocab_size). */
static const uint8_t *tok_str(const llm_tokenizer *t, uint32_t id, uint32_t *len) {
    const uint8_t *rec = t->data + t->offsets[id];
    *len = llm__rd_u32(rec + 4); /* validated: 0..max_token_len */
    return rec + 8;
}

static float tok_score(const llm_tokenizer *t, uint32_t id) {
    return llm__rd_f32(t->data + t->offsets[id]);
}

/* strcmp order on (bytes, length): memcmp, then the shorter prefix first. */
static int cmp_bytes(const uint8_t *a, uint32_t na, const uint8_t *b, uint32_t nb) {
    const int c = memcmp(a, b, na < nb ? na : nb);
    if (c != 0) return c;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

/* Order of the sorted index: token bytes, then lower id first. */
static int cmp_ids(const llm_tokenizer *t, uint16_t a, uint16_t b) {
    uint32_t na, nb;
    const uint8_t *sa = tok_str(t, a, &na);
    const uint8_t *sb = tok_str(t, b, &nb);
    const int c = cmp_bytes(sa, na, sb, nb);
    if (c != 0) return c;
    return a < b ? -1 : a > b ? 1 : 0;
}

static void sift_down(const llm_tokenizer *t, uint16_t *h, uint32_t i, uint32_t n) {
    const uint16_t v = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cmp_ids(t, h[c + 1], h[c]) > 0) c++;
        if (cmp_ids(t, h[c], v) <= 0) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

/* Heap sort of the ids: O(n log n) with no recursion, no heap, no qsort. */
static void sort_ids(const llm_tokenizer *t, uint16_t *ids, uint32_t n) {
    for (uint32_t i = n / 2; i-- > 0;) sift_down(t, ids, i, n);
    for (uint32_t end = n; end-- > 1;) {
        const uint16_t top = ids[0];
        ids[0] = ids[end];
        ids[end] = top;
        sift_down(t, ids, 0, end);
    }
}

/* Id of the token whose bytes are s(n), the lowest such id, or NO_ID. */
static uint32_t lookup(const llm_tokenizer *t, const uint8_t *s, uint32_t n) {
    uint32_t lo = 0, hi = t->vocab_size; /* first entry >= s is in [lo, hi] */
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        uint32_t len;
        const uint8_t *m = tok_str(t, t->sorted[mid], &len);
        if (cmp_bytes(m, len, s, n) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == t->vocab_size) return NO_ID;
    uint32_t len;
    const uint8_t *m = tok_str(t, t->sorted[lo], &len);
    return cmp_bytes(m, len, s, n) == 0 ? t->sorted[lo] : NO_ID;
}

llm_status llm__tokenizer_layout(llm_tokenizer *t, const uint8_t *data, size_t size,
                                 uint32_t vocab_size, llm__arena *a) {
    if (!t || !a) return LLM_ERR_ARG;
    memset(t, 0, sizeof *t);
    if (!data || size < 4 || vocab_size == 0 || vocab_size > LLM_MAX_VOCAB) {
        LLM_LOGE("tokenizer: %zu bytes for vocab %u", size, (unsigned)vocab_size);
        return LLM_ERR_TOKENIZER;
    }
#if SIZE_MAX > UINT32_MAX
    if (size > UINT32_MAX) return LLM_ERR_TOKENIZER; /* offsets are 32-bit */
#endif
    const uint32_t max_len = llm__rd_u32(data);
    /* Validate every record before anything is stored. The merge buffer is
     * sized by the longest token actually present, which the header's
     * max_token_length only bounds. */
    size_t pos = 4;
    uint32_t longest = 0;
    for (uint32_t i = 0; i < vocab_size; i++) {
        if (size - pos < 8) {
            LLM_LOGE("tokenizer: record %u truncated", (unsigned)i);
            return LLM_ERR_TOKENIZER;
        }
        const uint32_t len = llm__rd_u32(data + pos + 4);
        /* len > INT32_MAX is a negative i32 length. */
        if (len > INT32_MAX || len > max_len || len > size - pos - 8) {
            LLM_LOGE("tokenizer: record %u has bad length %u", (unsigned)i, (unsigned)len);
            return LLM_ERR_TOKENIZER;
        }
        if (len > longest) longest = len;
        pos += 8 + (size_t)len;
    }
    if (pos != size) {
        LLM_LOGE("tokenizer: %zu bytes after %u tokens", size - pos, (unsigned)vocab_size);
        return LLM_ERR_TOKENIZER;
    }

    uint32_t *offsets = llm__alloc(a, (size_t)vocab_size * sizeof(uint32_t)); /* (vocab_size) */
    uint16_t *sorted = llm__alloc(a, (size_t)vocab_size * sizeof(uint16_t));  /* (vocab_size) */
    char *merge_buf = llm__alloc(a, 2 * (size_t)longest + 2); /* (2*max_token_len + 2) */
    t->data = data;
    t->vocab_size = vocab_size;
    t->max_token_len = longest;
    if (!a->base) return LLM_OK; /* counting only */
    if (!offsets || !sorted || !merge_buf) {
        memset(t, 0, sizeof *t);
        return LLM_ERR_ARENA_TOO_SMALL;
    }
    pos = 4;
    for (uint32_t i = 0; i < vocab_size; i++) {
        offsets[i] = (uint32_t)pos;
        sorted[i] = (uint16_t)i;
        pos += 8 + (size_t)llm__rd_u32(data + pos + 4);
    }
    t->offsets = offsets;
    t->sorted = sorted;
    t->merge_buf = merge_buf;
    sort_ids(t, sorted, vocab_size);
    return LLM_OK;
}

/* ------------------------------------------------------------------ encode */

/* Length of the valid UTF-8 sequence at s (avail >= 1 bytes), or 0:
 * overlong forms, surrogates, code points above U+10FFFF, stray continuation
 * bytes and sequences cut by the end are invalid. */
uint32_t llm__utf8_len(const uint8_t *s, size_t avail) {
    const uint8_t c = s[0];
    if (c < 0x80) return 1;
    uint32_t n;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;      /* overlong */
        else if (c == 0xED) hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;      /* overlong */
        else if (c == 0xF4) hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n > avail) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (uint32_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
    }
    return n;
}

/* Token ids live as 16-bit values in byte scratch while merging; byte access
 * keeps this free of aliasing rules when the scratch is the int32 output. */
static uint32_t get16(const uint8_t *w, size_t i) {
    uint16_t v;
    memcpy(&v, w + 2 * i, sizeof v);
    return v;
}

static void put16(uint8_t *w, size_t i, uint32_t v) {
    const uint16_t u = (uint16_t)v;
    memcpy(w + 2 * i, &u, sizeof u);
}

/* Id of the token spelled as token a followed by token b, or NO_ID. */
static uint32_t pair_id(const llm_tokenizer *t, uint32_t a, uint32_t b) {
    uint32_t na, nb;
    const uint8_t *sa = tok_str(t, a, &na);
    const uint8_t *sb = tok_str(t, b, &nb);
    uint8_t *buf = (uint8_t *)t->merge_buf; /* (2*max_token_len + 2) */
    memcpy(buf, sa, na);
    memcpy(buf + na, sb, nb);
    return lookup(t, buf, na + nb);
}

/* Appends id to the work sequence, if there is room. */
static int push(uint8_t *w, size_t cap, size_t *n, uint32_t id) {
    if (*n >= cap) return 0;
    put16(w, (*n)++, id);
    return 1;
}

/*
 * run.c's merge loop over tok(n): merge the adjacent pair whose joined text
 * is the highest-scoring token (the first such pair on ties), until no pair
 * joins. With cache (n entries, separate from tok) each pair's merge id is
 * kept, so a merge costs two lookups instead of a rescan of every pair.
 * Returns the new length.
 */
static size_t merge(const llm_tokenizer *t, uint8_t *tok, uint8_t *cache, size_t n) {
    if (cache) {
        for (size_t i = 0; i + 1 < n; i++) {
            put16(cache, i, pair_id(t, get16(tok, i), get16(tok, i + 1)));
        }
    }
    while (n >= 2) {
        float best = MERGE_FLOOR;
        uint32_t best_id = NO_ID;
        size_t best_i = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            const uint32_t id =
                cache ? get16(cache, i) : pair_id(t, get16(tok, i), get16(tok, i + 1));
            if (id != NO_ID && tok_score(t, id) > best) {
                best = tok_score(t, id);
                best_id = id;
                best_i = i;
            }
        }
        if (best_id == NO_ID) break;
        put16(tok, best_i, best_id);
        for (size_t i = best_i + 1; i + 1 < n; i++) put16(tok, i, get16(tok, i + 1));
        n--;
        if (cache) {
            /* Pairs left of best_i keep their ids; the two touching the new
             * token change; the rest shift down with their tokens. */
            for (size_t i = best_i + 1; i + 1 < n; i++) put16(cache, i, get16(cache, i + 1));
            if (best_i > 0) put16(cache, best_i - 1, pair_id(t, get16(tok, best_i - 1), best_id));
            if (best_i + 1 < n) put16(cache, best_i, pair_id(t, best_id, get16(tok, best_i + 1)));
        }
    }
    return n;
}

/* The first byte of the concatenated parts, 0 when they are all empty. */
static uint8_t first_byte(const llm__str *parts, size_t n_parts) {
    for (size_t p = 0; p < n_parts; p++) {
        if (parts[p].n) return (uint8_t)parts[p].s[0];
    }
    return 0;
}

llm_status llm__encode_parts(const llm_tokenizer *t, const llm__str *parts, size_t n_parts,
                            int bos, int prefix, int eos, void *work, size_t work_bytes,
                            int32_t *out, size_t max_out, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!t || (!parts && n_parts) || !work || !out || !n_out) return LLM_ERR_ARG;
    if (t->vocab_size == 0 || !t->sorted) return LLM_ERR_NO_TOKENIZER;
    if ((bos && (t->bos_id < 0 || (uint32_t)t->bos_id >= t->vocab_size)) ||
        (eos && (t->eos_id < 0 || (uint32_t)t->eos_id >= t->vocab_size))) {
        return LLM_ERR_TOKENIZER;
    }
    size_t total = 0;
    for (size_t p = 0; p < n_parts; p++) {
        const uint8_t *s = (const uint8_t *)parts[p].s;
        if (!s && parts[p].n) return LLM_ERR_ARG;
        for (size_t i = 0; i < parts[p].n;) {
            const uint32_t len = llm__utf8_len(s + i, parts[p].n - i);
            if (len == 0) return LLM_ERR_UTF8;
            i += len;
        }
        total += parts[p].n;
    }

    uint8_t *w = (uint8_t *)work; /* (cap) 16-bit ids, then optionally (cap/2) pair cache */
    const size_t cap = work_bytes / 2;
    size_t n = 0;
    int fits = 1;
    if (bos) fits &= push(w, cap, &n, (uint32_t)t->bos_id);
    if (prefix && total != 0 &&
        !(first_byte(parts, n_parts) == ' ' && (t->flags & LLM_TOK_PREFIX_UNLESS_SPACE))) {
        /* The dummy prefix; a vocabulary without " " falls back to its byte. */
        const uint8_t space = ' ';
        uint32_t id = lookup(t, &space, 1);
        if (id == NO_ID) id = LLM_BYTE0 + space;
        if (id >= t->vocab_size) return LLM_ERR_TOKENIZER; /* no byte tokens */
        fits &= push(w, cap, &n, id);
    }
    for (size_t p = 0; p < n_parts && fits; p++) {
        const uint8_t *s = (const uint8_t *)parts[p].s;
        for (size_t i = 0; i < parts[p].n && fits;) {
            const uint32_t len = llm__utf8_len(s + i, parts[p].n - i);
            const uint32_t id = lookup(t, s + i, len);
            if (id != NO_ID) {
                fits &= push(w, cap, &n, id);
            } else {
                for (uint32_t k = 0; k < len; k++) {
                    const uint32_t b = LLM_BYTE0 + s[i + k];
                    if (b >= t->vocab_size) return LLM_ERR_TOKENIZER; /* no byte tokens */
                    fits &= push(w, cap, &n, b);
                }
            }
            i += len;
        }
    }
    if (!fits) return LLM_ERR_PROMPT_TOO_LONG;

    uint8_t *cache = 2 * n <= cap ? w + 2 * n : NULL; /* (n) */
    n = merge(t, w, cache, n);
    if (n + (eos ? 1u : 0u) > max_out) return LLM_ERR_PROMPT_TOO_LONG;
    /* Widen from the end: when work is out itself, entry i is read before
     * out[i] overwrites entries 2i and 2i+1, which are never read again. */
    for (size_t i = n; i-- > 0;) out[i] = (int32_t)get16(w, i);
    if (eos) out[n++] = t->eos_id;
    *n_out = n;
    return LLM_OK;
}

llm_status llm__encode(const llm_tokenizer *t, const char *text, int bos, int eos, void *work,
                       size_t work_bytes, int32_t *out, size_t max_out, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!text) return LLM_ERR_ARG;
    const llm__str part = {text, strlen(text)};
    return llm__encode_parts(t, &part, 1, bos, 1, eos, work, work_bytes, out, max_out, n_out);
}

llm_status llm_encode(const llm_ctx *ctx, const char *text, int bos, int eos, int32_t *tokens,
                      size_t max_tokens, size_t *n_tokens) {
    if (n_tokens) *n_tokens = 0;
    if (!ctx || !text || !tokens || !n_tokens) return LLM_ERR_ARG;
    if (max_tokens > SIZE_MAX / sizeof(int32_t)) max_tokens = SIZE_MAX / sizeof(int32_t);
    return llm__encode(&ctx->tok, text, bos, eos, tokens, max_tokens * sizeof(int32_t), tokens,
                       max_tokens, n_tokens);
}

/* ------------------------------------------------------------------ decode */

#define B4(b) (b), (b) + 1, (b) + 2, (b) + 3
#define B16(b) B4(b), B4((b) + 4), B4((b) + 8), B4((b) + 12)
#define B64(b) B16(b), B16((b) + 16), B16((b) + 32), B16((b) + 48)
/* Byte b is byte_table[b]: where a <0xXX> piece points. */
static const unsigned char byte_table[256] = {B64(0), B64(64), B64(128), B64(192)};

static int hex_val(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t llm_decode(const llm_ctx *ctx, int32_t prev, int32_t token, const char **piece) {
    static const char empty[] = "";
    if (!piece) return 0;
    *piece = empty;
    if (!ctx || ctx->tok.vocab_size == 0 || !ctx->tok.offsets || token < 0 ||
        (uint32_t)token >= ctx->tok.vocab_size) {
        return 0;
    }
    uint32_t len;
    const uint8_t *s = tok_str(&ctx->tok, (uint32_t)token, &len);
    /* SentencePiece drops the leading space of the first word. */
    if (prev == ctx->tok.bos_id && len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    if (len == 6 && s[0] == '<' && s[1] == '0' && s[2] == 'x' && s[5] == '>') {
        const int hi = hex_val(s[3]), lo = hex_val(s[4]);
        if (hi >= 0 && lo >= 0) {
            s = byte_table + (hi << 4 | lo);
            len = 1;
        }
    }
    if (len == 1) {
        /* Lone control or non-ASCII bytes could drive a terminal; drop them
         * as run.c's safe_printf does (isprint || isspace, "C" locale). */
        const uint8_t c = s[0];
        if (!((c >= 0x20 && c <= 0x7E) || (c >= '\t' && c <= '\r'))) return 0;
    }
    *piece = (const char *)s;
    return len;
}
