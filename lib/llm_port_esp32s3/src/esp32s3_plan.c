/* Target-neutral decisions of the ESP32-S3 port (llm_esp32s3_plan.h). */
#include "llm_esp32s3_plan.h"

#include <string.h>

const char *llm_esp_mem_str(llm_esp_mem m) {
    switch (m) {
    case LLM_ESP_MEM_INTERNAL: return "internal";
    case LLM_ESP_MEM_PSRAM: return "psram";
    default: return "none";
    }
}

llm_esp_mem llm_esp_place_arena(size_t need, size_t internal_largest, size_t psram_largest,
                                size_t reserve) {
    if (need <= internal_largest && internal_largest - need >= reserve) return LLM_ESP_MEM_INTERNAL;
    if (need <= psram_largest) return LLM_ESP_MEM_PSRAM;
    return LLM_ESP_MEM_NONE;
}

uint32_t llm_esp_fit_seq_len(const llm_model *m, const llm_params *p, size_t budget) {
    if (!m || !p) return 0;
    llm_params q = *p;
    size_t bytes = 0;
    q.seq_len = 1;
    if (llm_arena_size(m, &q, &bytes) != LLM_OK || bytes > budget) return 0;
    /* The arena grows with the context, so bisect: lo fits, hi + 1 does not. */
    uint32_t lo = 1, hi = m->config.seq_len;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo + 1) / 2;
        q.seq_len = mid;
        if (llm_arena_size(m, &q, &bytes) == LLM_OK && bytes <= budget) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    return lo;
}

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Exact file length of a llama2.c legacy checkpoint from its 7-int header:
 * the weights in run.c's order, the unused freq_cis tables (seq_len *
 * head_size / 2 floats, twice) and, for a negative vocab size, a separate
 * classifier. 0 for an implausible header. */
static uint64_t legacy_length(const uint8_t *h) {
    int32_t v[7];
    for (int i = 0; i < 7; i++) v[i] = (int32_t)rd_u32(h + 4 * i);
    const int32_t dim = v[0], hidden = v[1], layers = v[2], heads = v[3], kv_heads = v[4],
                  seq = v[6];
    const int untied = v[5] < 0;
    const int64_t vocab = untied ? -(int64_t)v[5] : v[5];
    if (dim <= 0 || hidden <= 0 || layers <= 0 || heads <= 0 || kv_heads <= 0 || vocab <= 0 ||
        seq <= 0 || dim > LLM_MAX_DIM || hidden > LLM_MAX_DIM || layers > LLM_MAX_LAYERS ||
        vocab > LLM_MAX_VOCAB || seq > LLM_MAX_SEQ_LEN || dim % heads != 0 ||
        heads % kv_heads != 0 || (dim / heads) % 2 != 0)
        return 0;
    const uint64_t d = (uint64_t)dim, hs = d / (uint64_t)heads;
    const uint64_t kv_dim = hs * (uint64_t)kv_heads, L = (uint64_t)layers;
    const uint64_t per_layer = 2 * d            /* rms_att, rms_ffn */
                               + 2 * d * d      /* wq, wo */
                               + 2 * d * kv_dim /* wk, wv */
                               + 3 * d * (uint64_t)hidden; /* w1, w2, w3 */
    const uint64_t floats = (uint64_t)vocab * d * (untied ? 2u : 1u) + L * per_layer + d +
                            (uint64_t)seq * hs; /* freq_cis real + imag */
    return 28u + 4u * floats;
}

llm_status llm_esp_model_extent(const uint8_t *head, size_t head_len, size_t part_size,
                                size_t *bytes) {
    if (!head || !bytes) return LLM_ERR_ARG;
    *bytes = 0;
    if (head_len < 64 && head_len < part_size) return LLM_ERR_TRUNCATED;
    if (head_len < 28) return LLM_ERR_TRUNCATED; /* smaller than any header */
    uint64_t len;
    if (memcmp(head, "LLMB", 4) == 0) {
        if (head_len < 64) return LLM_ERR_TRUNCATED;
        len = rd_u32(head + 56);
        if (len < 64 || len % 16 != 0) return LLM_ERR_BOUNDS;
    } else {
        size_t ff = 0;
        while (ff < 28 && head[ff] == 0xFF) ff++;
        if (ff == 28) return LLM_ERR_MAGIC; /* erased flash: no model written */
        int printable = 1;
        for (int i = 0; i < 4; i++) printable &= head[i] >= 0x20 && head[i] < 0x7F;
        if (printable) return LLM_ERR_MAGIC; /* another format, e.g. llama2.c's ak42 */
        len = legacy_length(head);
        if (len == 0) return LLM_ERR_DIMS;
    }
    if (len > (uint64_t)part_size) return LLM_ERR_TRUNCATED;
    *bytes = (size_t)len;
    return LLM_OK;
}
