/* Blob metadata (BLOB_FORMAT.md "Metadata"): the record's validation, in the
 * order the format lists, and read-only access to its pairs in place. */
#include "llm_internal.h"

#define META_VERSION 1U
#define META_HEAD 4U /* u16 version, u16 count */
#define PAIR_HEAD 4U /* u16 key_len, u16 value_len */

/* A pair of a record whose bytes up to its end are known to be in range. */
typedef struct pair {
    const char *key, *value; /* NUL-terminated, in the record */
    size_t key_len, value_len;
    size_t end; /* offset of the next pair */
} pair;

static pair pair_at(const uint8_t *rec, size_t pos) {
    pair q;
    q.key_len = llm__rd_u16(rec + pos);
    q.value_len = llm__rd_u16(rec + pos + 2);
    q.key = (const char *)(rec + pos + PAIR_HEAD);
    q.value = q.key + q.key_len + 1;
    q.end = pos + PAIR_HEAD + q.key_len + 1 + q.value_len + 1;
    return q;
}

/* [a-z][a-z0-9_.]*: plain ASCII keys that read the same in every tool. */
static int key_ok(const char *k, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char c = k[i];
        const int alpha = c >= 'a' && c <= 'z';
        if (!(alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '_' || c == '.')))) return 0;
    }
    return 1;
}

/* UTF-8 by the tokenizer's rules and no NUL. */
static int value_ok(const char *v, size_t n) {
    const uint8_t *s = (const uint8_t *)v;
    for (size_t i = 0; i < n;) {
        const uint32_t len = s[i] == 0 ? 0 : llm__utf8_len(s + i, n - i);
        if (len == 0) return 0;
        i += len;
    }
    return 1;
}

/* A token id the way the writer prints it: "0" or digits without a leading
 * zero, below vocab_size (<= 65535, so at most 5 digits). */
static int parse_token_id(const char *v, size_t n, uint32_t vocab_size, int32_t *id) {
    if (n == 0 || n > 5 || (n > 1 && v[0] == '0')) return 0;
    uint32_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        x = x * 10U + (uint32_t)(v[i] - '0');
    }
    if (x >= vocab_size) return 0;
    *id = (int32_t)x;
    return 1;
}

static llm_status meta_fail(llm_status s, uint32_t i, const char *why) {
    LLM_LOGE("llm_model_open: metadata pair %u: %s", (unsigned)i, why);
    return s;
}

llm_status llm__meta_open(llm_model *m, const uint8_t *rec, size_t n) {
    if (n < META_HEAD) return meta_fail(LLM_ERR_META_TRUNCATED, 0, "record shorter than 4 bytes");
    const uint32_t version = llm__rd_u16(rec), count = llm__rd_u16(rec + 2);
    if (version != META_VERSION) {
        LLM_LOGE("llm_model_open: metadata version %u, want 1", (unsigned)version);
        return LLM_ERR_META_VERSION;
    }
    if (count < 1 || count > LLM_META_MAX_PAIRS) {
        LLM_LOGE("llm_model_open: metadata count %u outside 1..%u", (unsigned)count,
                 (unsigned)LLM_META_MAX_PAIRS);
        return LLM_ERR_META_COUNT;
    }
    size_t pos = META_HEAD;
    for (uint32_t i = 0; i < count; i++) {
        if (n - pos < PAIR_HEAD) {
            return meta_fail(LLM_ERR_META_TRUNCATED, i, "lengths past the end");
        }
        const size_t key_len = llm__rd_u16(rec + pos), value_len = llm__rd_u16(rec + pos + 2);
        if (key_len < 1 || key_len > LLM_META_MAX_KEY) {
            return meta_fail(LLM_ERR_META_KEY, i, "key length outside 1..64");
        }
        if (n - pos - PAIR_HEAD < key_len + 1 + value_len + 1) {
            return meta_fail(LLM_ERR_META_TRUNCATED, i, "key or value past the end");
        }
        const pair q = pair_at(rec, pos);
        if (q.key[key_len] != 0 || q.value[value_len] != 0) {
            return meta_fail(LLM_ERR_META_TERMINATOR, i, "key or value not followed by NUL");
        }
        if (!key_ok(q.key, key_len)) {
            return meta_fail(LLM_ERR_META_KEY, i, "key not [a-z][a-z0-9_.]*");
        }
        if (!value_ok(q.value, value_len)) {
            return meta_fail(LLM_ERR_META_VALUE, i, "value not UTF-8 or holds NUL");
        }
        for (size_t p = META_HEAD; p < pos;) { /* earlier pairs, already checked */
            const pair e = pair_at(rec, p);
            if (e.key_len == key_len && memcmp(e.key, q.key, key_len) == 0) {
                return meta_fail(LLM_ERR_META_DUPLICATE, i, "key appears twice");
            }
            p = e.end;
        }
        pos = q.end;
    }
    if (pos != n) {
        LLM_LOGE("llm_model_open: metadata ends at %zu of %zu bytes", pos, n);
        return LLM_ERR_META_TRAILING;
    }
    m->meta = rec;
    m->meta_size = n;
    m->meta_count = count;

    static const char *const id_keys[2] = {"bos_id", "eos_id"};
    int32_t *ids[2] = {&m->bos_id, &m->eos_id};
    for (int k = 0; k < 2; k++) {
        const char *v;
        size_t len;
        if (llm_model_meta(m, id_keys[k], &v, &len) == LLM_OK &&
            !parse_token_id(v, len, m->config.vocab_size, ids[k])) {
            LLM_LOGE("llm_model_open: metadata %s is not a decimal below vocab_size %u",
                     id_keys[k], (unsigned)m->config.vocab_size);
            return LLM_ERR_META_TOKEN_ID;
        }
    }
    return LLM_OK;
}

uint32_t llm_model_meta_count(const llm_model *m) {
    return m && m->meta ? m->meta_count : 0;
}

llm_status llm_model_meta_at(const llm_model *m, uint32_t i, const char **key,
                             const char **value, size_t *len) {
    if (key) *key = NULL;
    if (value) *value = NULL;
    if (len) *len = 0;
    if (!key || !value || i >= llm_model_meta_count(m)) return LLM_ERR_ARG;
    pair q = pair_at(m->meta, META_HEAD);
    for (uint32_t j = 0; j < i; j++) q = pair_at(m->meta, q.end);
    *key = q.key;
    *value = q.value;
    if (len) *len = q.value_len;
    return LLM_OK;
}

llm_status llm_model_meta(const llm_model *m, const char *key, const char **value, size_t *len) {
    if (value) *value = NULL;
    if (len) *len = 0;
    if (!key || !value) return LLM_ERR_ARG;
    const uint32_t count = llm_model_meta_count(m);
    size_t pos = META_HEAD;
    for (uint32_t j = 0; j < count; j++) {
        const pair q = pair_at(m->meta, pos);
        if (strcmp(q.key, key) == 0) {
            *value = q.value;
            if (len) *len = q.value_len;
            return LLM_OK;
        }
        pos = q.end;
    }
    return LLM_ERR_NOT_FOUND;
}
