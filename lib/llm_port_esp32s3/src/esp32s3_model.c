/* Model weights mapped in place from a flash data partition. ESP-IDF /
 * Arduino-ESP32 only. */
#ifdef ESP_PLATFORM

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_partition.h"

#include "llm_port_esp32s3.h"

/* ESP-IDF 5 gave partitions their own mmap types; 4.4 (Arduino-ESP32 2.x)
 * uses the SPI flash driver's. */
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 0, 0)
#define MMAP_DATA ESP_PARTITION_MMAP_DATA
typedef esp_partition_mmap_handle_t mmap_handle_t;
#else
#define MMAP_DATA SPI_FLASH_MMAP_DATA
typedef spi_flash_mmap_handle_t mmap_handle_t;
#endif

static const char *TAG = "llm";

/* Fill out->why and log it; returns s. */
static llm_status fail(llm_esp32s3_model *out, llm_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
    ESP_LOGE(TAG, "%s (%s)", out->why, llm_status_str(s));
    return s;
}

llm_status llm_esp32s3_model_map(const char *label, llm_esp32s3_model *out) {
    if (!label || !out) return LLM_ERR_ARG;
    memset(out, 0, sizeof *out);
    const esp_partition_t *part =
        esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (part == NULL) {
        return fail(out, LLM_ERR_ARG,
                    "no \"%s\" partition in the partition table (flash one with it: see "
                    "boards/esp32s3/partitions_llm_*.csv)", label);
    }
    /* The header through the flash driver: no mapping needed to size it. */
    uint8_t head[64];
    const size_t head_len = part->size < sizeof head ? part->size : sizeof head;
    if (esp_partition_read(part, 0, head, head_len) != ESP_OK) {
        return fail(out, LLM_ERR_ARG, "cannot read partition \"%s\"", label);
    }
    size_t bytes = 0;
    llm_status s = llm_esp_model_extent(head, head_len, part->size, &bytes);
    if (s != LLM_OK) {
        return fail(out, s, "no model in the \"%s\" partition at 0x%x (it starts %02x %02x %02x %02x)%s",
                    label, (unsigned)part->address, head[0], head[1], head[2], head[3],
                    s == LLM_ERR_MAGIC ? ": flash one (see boards/esp32s3.ini)" : "");
    }
    const void *ptr = NULL;
    mmap_handle_t handle;
    if (esp_partition_mmap(part, 0, bytes, MMAP_DATA, &ptr, &handle) != ESP_OK) {
        return fail(out, LLM_ERR_ARG, "cannot map %u bytes of partition \"%s\" (free MMU pages?)",
                    (unsigned)bytes, label);
    }
    out->data = ptr;
    out->size = bytes;
    out->flash_offset = (uint32_t)part->address;
    out->part_size = part->size;
    out->handle = (uint32_t)handle;
    return LLM_OK;
}

void llm_esp32s3_model_unmap(llm_esp32s3_model *m) {
    if (!m || !m->data) return;
    esp_partition_munmap((mmap_handle_t)m->handle);
    memset(m, 0, sizeof *m);
}

#else
typedef int llm_esp32s3_model_unused;
#endif /* ESP_PLATFORM */
