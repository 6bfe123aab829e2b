/*
 * ESP32-S3 port of the llm library (ESP-IDF 4.4+ or Arduino-ESP32 2.x+):
 *
 *   llm_esp32s3_port_install(1);             // logging, time, both cores
 *   llm_esp32s3_model mm;
 *   llm_esp32s3_model_map("model", &mm);     // weights read in place from flash
 *   llm_model_open(&model, mm.data, mm.size);
 *   llm_params p = llm_params_default();
 *   llm_esp32s3_arena arena;
 *   llm_esp32s3_arena_alloc(&model, &p, 1, &arena); // SRAM if it fits, else PSRAM
 *   llm_init(&ctx, &model, &p, arena.ptr, arena.size);
 *
 * Both cores: a worker task pinned to the core the caller of
 * llm_esp32s3_workers_start is not on, woken by a task notification per job
 * (nothing is allocated per token). Call llm_forward / llm_generate from one
 * task pinned to the other core (app_main's task and Arduino's loop task are
 * pinned). Every job is split by llm_parallel_range over 2 workers, so results
 * are bit-identical to one core.
 *
 * The functions are defined only where ESP_PLATFORM is (ESP-IDF, Arduino-ESP32);
 * this header has no ESP-IDF types, so any build may include it.
 */
#ifndef LLM_PORT_ESP32S3_H
#define LLM_PORT_ESP32S3_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"
#include "llm_esp32s3_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stack of the worker task, in bytes (kernels need little). */
#ifndef LLM_ESP32S3_WORKER_STACK
#define LLM_ESP32S3_WORKER_STACK 4096
#endif

/* Start the second-core worker (idempotent). LLM_OK, or LLM_ERR_ARG when the
 * task could not be created: jobs then run on the caller alone. */
llm_status llm_esp32s3_workers_start(void);

/* Workers in use: 2 once started, else 1. */
uint32_t llm_esp32s3_workers(void);

/* llm_port.parallel_for over the caller and the worker; user is ignored.
 * Runs inline before llm_esp32s3_workers_start, for n < 2, and when called
 * from the worker task itself. */
void llm_esp32s3_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);

/* Items of parallel_for jobs (mat-vec rows, attention heads) each core ran
 * since the last reset, items[core id]; counted by llm_esp32s3_parallel_for,
 * so it shows that both cores work. reset != 0 zeroes the counters. Call it
 * between jobs. */
void llm_esp32s3_core_items(uint32_t items[2], int reset);

/* llm_port_set with ESP_LOG logging (tag "llm"), esp_timer microseconds and,
 * when both_cores, the worker started and its parallel_for. */
void llm_esp32s3_port_install(int both_cores);

/* A model mapped from a data partition (read in place through the flash
 * cache). */
typedef struct llm_esp32s3_model {
    const void *data;      /* (size) bytes, 16-byte aligned */
    size_t size;           /* the model's bytes (llm_esp_model_extent) */
    uint32_t flash_offset; /* partition offset in flash */
    size_t part_size;      /* partition size */
    uint32_t handle;       /* esp_partition_mmap handle */
    char why[128];         /* on failure: what went wrong, one line for the user */
} llm_esp32s3_model;

/* Find the data partition labelled label (e.g. "model"), read its header and
 * map exactly the model's bytes. LLM_ERR_ARG when there is no such partition
 * or mapping fails; llm_esp_model_extent's errors for its contents (an
 * erased partition is LLM_ERR_MAGIC: flash a model first). On failure
 * out->why says which, and the same line is logged. */
llm_status llm_esp32s3_model_map(const char *label, llm_esp32s3_model *out);
void llm_esp32s3_model_unmap(llm_esp32s3_model *m);

/* Free heap right now, for the placement rule and reports. */
typedef struct llm_esp32s3_mem {
    size_t internal_free, internal_largest; /* MALLOC_CAP_INTERNAL | 8BIT */
    size_t psram_free, psram_largest;       /* MALLOC_CAP_SPIRAM; 0 without PSRAM */
} llm_esp32s3_mem;
void llm_esp32s3_mem_query(llm_esp32s3_mem *out);

typedef struct llm_esp32s3_arena {
    void *ptr;         /* (size) bytes, LLM_ARENA_ALIGN-aligned */
    size_t size;       /* llm_arena_size for the final params */
    llm_esp_mem where; /* internal or psram */
} llm_esp32s3_arena;

/*
 * Allocate the arena for m and *p by llm_esp_place_arena (reserve
 * LLM_ESP_INTERNAL_RESERVE). When it fits nowhere and shrink is set, p->seq_len
 * becomes the longest context that fits (internal SRAM first, then PSRAM,
 * whichever allows more) and a warning is logged; without shrink that is
 * LLM_ERR_ARENA_TOO_SMALL.
 */
llm_status llm_esp32s3_arena_alloc(const llm_model *m, llm_params *p, int shrink,
                                   llm_esp32s3_arena *out);
void llm_esp32s3_arena_free(llm_esp32s3_arena *a);

/* ESP-IDF: install the console's driver (UART or USB-Serial-JTAG, as
 * sdkconfig chose) so stdin gives blocking lines (CR or LF end them) and
 * fgets works. Idempotent. LLM_ERR_ARG under Arduino (use Serial) or when
 * the driver cannot be installed. */
llm_status llm_esp32s3_console_init(void);

#ifdef __cplusplus
}
#endif

#endif /* LLM_PORT_ESP32S3_H */
