/* Both ESP32-S3 cores for llm_port.parallel_for: the caller is worker 0 and
 * a task pinned to the other core is worker 1. ESP-IDF / Arduino-ESP32 only. */
#ifdef ESP_PLATFORM

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#include "llm_port_esp32s3.h"

/* The current job, written by the caller before it wakes the worker; the
 * notification and the semaphore are the memory barriers between cores. */
static struct {
    llm_range_fn fn;
    void *arg;
    uint32_t n;
} s_job;

/* Items (mat-vec rows, attention heads) each core ran, by core id. Each is
 * written only by the task on that core. */
static volatile uint32_t s_items[2];

static void count(uint32_t b, uint32_t e) {
    s_items[xPortGetCoreID() & 1u] += e - b;
}

static TaskHandle_t s_worker;       /* NULL until started */
static SemaphoreHandle_t s_done;    /* given by the worker after its range */
static StaticSemaphore_t s_done_buf;

static void worker_task(void *unused) {
    (void)unused;
    for (;;) {
        ulTaskNotifyTake(pdTRUE, portMAX_DELAY);
        uint32_t b, e;
        llm_parallel_range(s_job.n, 2, 1, &b, &e);
        if (b < e) {
            s_job.fn(s_job.arg, b, e);
            count(b, e);
        }
        xSemaphoreGive(s_done);
    }
}

llm_status llm_esp32s3_workers_start(void) {
    if (s_worker != NULL) return LLM_OK;
    if (s_done == NULL) s_done = xSemaphoreCreateBinaryStatic(&s_done_buf);
    /* The other core than the caller's, at the caller's priority, so the
     * two halves of a job run at the same time. */
    const BaseType_t core = xPortGetCoreID() == 0 ? 1 : 0;
    TaskHandle_t t = NULL;
    if (xTaskCreatePinnedToCore(worker_task, "llm_worker", LLM_ESP32S3_WORKER_STACK, NULL,
                                uxTaskPriorityGet(NULL), &t, core) != pdPASS) {
        return LLM_ERR_ARG;
    }
    s_worker = t;
    return LLM_OK;
}

uint32_t llm_esp32s3_workers(void) {
    return s_worker != NULL ? 2u : 1u;
}

void llm_esp32s3_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    if (n == 0) return;
    if (s_worker == NULL || n < 2 || xTaskGetCurrentTaskHandle() == s_worker) {
        fn(arg, 0, n);
        count(0, n);
        return;
    }
    s_job.fn = fn;
    s_job.arg = arg;
    s_job.n = n;
    xTaskNotifyGive(s_worker);
    uint32_t b, e;
    llm_parallel_range(n, 2, 0, &b, &e);
    if (b < e) {
        fn(arg, b, e);
        count(b, e);
    }
    xSemaphoreTake(s_done, portMAX_DELAY);
}

void llm_esp32s3_core_items(uint32_t items[2], int reset) {
    items[0] = s_items[0];
    items[1] = s_items[1];
    if (reset) s_items[0] = s_items[1] = 0;
}

#else
/* Not an ESP-IDF build: nothing here (ISO C wants a declaration). */
typedef int llm_esp32s3_workers_unused;
#endif /* ESP_PLATFORM */
