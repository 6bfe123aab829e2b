/* Logging, time and arena allocation of the ESP32-S3 port. ESP-IDF /
 * Arduino-ESP32 only. */
#ifdef ESP_PLATFORM

#include "esp_heap_caps.h"
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_timer.h"

#include "llm_port_esp32s3.h"

static const char *TAG = "llm";

static void port_log(int level, const char *msg, void *user) {
    (void)user;
    if (level <= LLM_LOG_ERROR) {
        ESP_LOGE(TAG, "%s", msg);
    } else if (level == LLM_LOG_WARN) {
        ESP_LOGW(TAG, "%s", msg);
    } else {
        ESP_LOGI(TAG, "%s", msg);
    }
}

static uint64_t port_time_us(void *user) {
    (void)user;
    return (uint64_t)esp_timer_get_time();
}

void llm_esp32s3_port_install(int both_cores) {
    llm_port port = {port_log, port_time_us, NULL, NULL};
    if (both_cores && llm_esp32s3_workers_start() == LLM_OK) {
        port.parallel_for = llm_esp32s3_parallel_for;
    }
    llm_port_set(&port);
}

void llm_esp32s3_mem_query(llm_esp32s3_mem *out) {
    const uint32_t in_caps = MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT;
    const uint32_t ps_caps = MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT;
    out->internal_free = heap_caps_get_free_size(in_caps);
    out->internal_largest = heap_caps_get_largest_free_block(in_caps);
    out->psram_free = heap_caps_get_free_size(ps_caps);
    out->psram_largest = heap_caps_get_largest_free_block(ps_caps);
}

/* Alignment slack the placement check adds: an aligned block may start up
 * to LLM_ARENA_ALIGN - 1 bytes into a free block. */
#define ALIGN_SLACK ((size_t)LLM_ARENA_ALIGN)

llm_status llm_esp32s3_arena_alloc(const llm_model *m, llm_params *p, int shrink,
                                   llm_esp32s3_arena *out) {
    if (!m || !p || !out) return LLM_ERR_ARG;
    out->ptr = NULL;
    out->size = 0;
    out->where = LLM_ESP_MEM_NONE;
    size_t need = 0;
    llm_status s = llm_arena_size(m, p, &need);
    if (s != LLM_OK) return s;
    llm_esp32s3_mem mem;
    llm_esp32s3_mem_query(&mem);
    llm_esp_mem where = llm_esp_place_arena(need + ALIGN_SLACK, mem.internal_largest,
                                            mem.psram_largest, LLM_ESP_INTERNAL_RESERVE);
    if (where == LLM_ESP_MEM_NONE) {
        if (!shrink) {
            ESP_LOGE(TAG, "arena of %u bytes fits neither internal RAM (largest block %u) nor "
                          "PSRAM (%u)", (unsigned)need, (unsigned)mem.internal_largest,
                     (unsigned)mem.psram_largest);
            return LLM_ERR_ARENA_TOO_SMALL;
        }
        const size_t in_budget = mem.internal_largest > LLM_ESP_INTERNAL_RESERVE + ALIGN_SLACK
                                     ? mem.internal_largest - LLM_ESP_INTERNAL_RESERVE - ALIGN_SLACK
                                     : 0;
        const size_t ps_budget = mem.psram_largest > ALIGN_SLACK ? mem.psram_largest - ALIGN_SLACK : 0;
        const uint32_t in_len = llm_esp_fit_seq_len(m, p, in_budget);
        const uint32_t ps_len = llm_esp_fit_seq_len(m, p, ps_budget);
        const uint32_t fit = in_len >= ps_len ? in_len : ps_len;
        if (fit == 0) return LLM_ERR_ARENA_TOO_SMALL;
        ESP_LOGW(TAG, "context shortened from %u to %u positions to fit the free memory",
                 (unsigned)(p->seq_len ? p->seq_len : m->config.seq_len), (unsigned)fit);
        p->seq_len = fit;
        s = llm_arena_size(m, p, &need);
        if (s != LLM_OK) return s;
        where = llm_esp_place_arena(need + ALIGN_SLACK, mem.internal_largest, mem.psram_largest,
                                    LLM_ESP_INTERNAL_RESERVE);
        if (where == LLM_ESP_MEM_NONE) return LLM_ERR_ARENA_TOO_SMALL;
    }
    const uint32_t caps = (where == LLM_ESP_MEM_INTERNAL ? MALLOC_CAP_INTERNAL : MALLOC_CAP_SPIRAM) |
                          MALLOC_CAP_8BIT;
    void *ptr = heap_caps_aligned_alloc(LLM_ARENA_ALIGN, need, caps);
    if (ptr == NULL) return LLM_ERR_ARENA_TOO_SMALL;
    out->ptr = ptr;
    out->size = need;
    out->where = where;
    return LLM_OK;
}

void llm_esp32s3_arena_free(llm_esp32s3_arena *a) {
    if (!a || !a->ptr) return;
#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 0, 0)
    heap_caps_aligned_free(a->ptr); /* IDF 4.x: aligned blocks need their own free */
#else
    heap_caps_free(a->ptr);
#endif
    a->ptr = NULL;
    a->size = 0;
    a->where = LLM_ESP_MEM_NONE;
}

#else
typedef int llm_esp32s3_port_unused;
#endif /* ESP_PLATFORM */
