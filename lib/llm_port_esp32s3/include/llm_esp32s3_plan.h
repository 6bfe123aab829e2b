/*
 * Target-neutral decisions of the ESP32-S3 port, compiled on every target
 * so the host tests check them: where the arena goes, how long a context
 * fits a memory budget, and how many bytes of a flash partition are the
 * model.
 */
#ifndef LLM_ESP32S3_PLAN_H
#define LLM_ESP32S3_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Internal RAM kept free for the system (Wi-Fi/BT buffers, task stacks, the
 * console driver) when the arena goes there. */
#ifndef LLM_ESP_INTERNAL_RESERVE
#define LLM_ESP_INTERNAL_RESERVE (48u * 1024u)
#endif

typedef enum llm_esp_mem {
    LLM_ESP_MEM_NONE = 0,  /* fits nowhere */
    LLM_ESP_MEM_INTERNAL,  /* internal SRAM (MALLOC_CAP_INTERNAL) */
    LLM_ESP_MEM_PSRAM      /* external PSRAM (MALLOC_CAP_SPIRAM) */
} llm_esp_mem;

/* Stable name: "none", "internal", "psram". */
const char *llm_esp_mem_str(llm_esp_mem m);

/*
 * The arena placement rule. The arena is one block (the library's API), and
 * the KV cache is most of it, so the KV cache lives where the arena does:
 *   1. internal SRAM when need + reserve <= internal_largest (the largest
 *      free internal block): the fastest memory, and the common case for
 *      short contexts;
 *   2. else PSRAM when need <= psram_largest (0 on boards without PSRAM);
 *   3. else nowhere: use llm_esp_fit_seq_len to pick a shorter context.
 * All sizes in bytes; no overflow for any inputs.
 */
llm_esp_mem llm_esp_place_arena(size_t need, size_t internal_largest, size_t psram_largest,
                                size_t reserve);

/* Longest context (1..model seq_len) whose arena, with the other params
 * unchanged, fits budget bytes; 0 when not even one position fits or the
 * params are invalid. */
uint32_t llm_esp_fit_seq_len(const llm_model *m, const llm_params *p, size_t budget);

/*
 * Bytes of the model at the start of a flash partition of part_size bytes,
 * from its first head_len bytes (at least 64, or the whole partition): an
 * llm blob's total_size, or the exact length a llama2.c checkpoint's header
 * implies (llm_model_open wants that length exactly). Errors:
 * LLM_ERR_MAGIC (erased flash, all 0xFF, or another format),
 * LLM_ERR_DIMS (implausible llama2.c header), LLM_ERR_BOUNDS (bad blob
 * total_size), LLM_ERR_TRUNCATED (the model is longer than the partition
 * or head_len is too short), LLM_ERR_ARG (NULL).
 */
llm_status llm_esp_model_extent(const uint8_t *head, size_t head_len, size_t part_size,
                                size_t *bytes);

#ifdef __cplusplus
}
#endif

#endif /* LLM_ESP32S3_PLAN_H */
