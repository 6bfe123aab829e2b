/*
 * Parallel split of the library's work (test/test_parallel.py):
 *
 *   workers <n> [seq]          every later job of the firmware's parallel_for
 *                              hook (fw_parallel_for, installed at start-up)
 *                              is split into n ranges (1..64): on n threads
 *                              where the target has them (host: the POSIX
 *                              pool; ESP32-S3 and the MPS2 AN521: both
 *                              cores when n is 2), else,
 *                              or with "seq", one range after another on this
 *                              thread, last range first. Prints workers
 *                              threads (1 when real threads run the ranges).
 *   workers <n> adapt          host only: the POSIX pool in adaptive mode
 *                              (llm_posix_pool_adapt), each kind of job on
 *                              the pool or on this thread as timing decides;
 *                              elsewhere fw_error=usage
 *   parallel split <n> <workers>
 *                              llm_parallel_range for each worker:
 *                              begin=<list> end=<list>
 *   parallel cover <n> [<jobs> <work>]
 *                              the library's dispatch (llm__parallel_for) over
 *                              n items, jobs times in a row (default 1), each
 *                              item counting its visits: counts=<list>; each
 *                              visit also runs <work> steps of a random number
 *                              generator (default 0), so that many small jobs
 *                              in a row, each a few microseconds long like a
 *                              small model's, exercise the pool's hand-off and
 *                              its wake-ups (a lost wake-up hangs)
 *   parallel cores             items each core ran through the port's
 *                              parallel_for since the last `parallel cores`
 *                              (ESP32-S3, the MPS2 AN521): items=<core 0>,
 *                              <core 1>, core 0 being the one that runs this
 *                              firmware's loop; elsewhere fw_error=no_cores
 *   parallel matvec <d> <n> <seed>
 *                              llm_k_matvec_f32 on w(d, n), x(n) split by rows
 *                              over the current workers (k=) and in one call
 *                              (ref=), float bits; inputs as the kernel
 *                              command's (xorshift64*, scale 1)
 */
#include <stdlib.h>
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_rng.h"
#include "fw_state.h"
#include "kernels/kernels.h"
#include "llm_internal.h"
#if defined(ESP_PLATFORM)
#include "llm_port_esp32s3.h"
#elif defined(BOARD_MPS2_AN521)
/* lib/board_mps's board.h, declared here: including it would make
 * PlatformIO's dependency finder (which ignores #if) link that library into
 * every build of this firmware. */
uint32_t board_cores_start(void);
void board_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);
uint64_t board_core_items(uint32_t core);
#else
#include "llm_port_posix.h"
#endif

#define FW_MAX_WORKERS 64

static uint32_t g_workers = 1; /* ranges per job */
static int g_threads;          /* a thread pool runs them */

void fw_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    if (g_threads) {
#if defined(ESP_PLATFORM)
        llm_esp32s3_parallel_for(fn, arg, n, user);
#elif defined(BOARD_MPS2_AN521)
        board_parallel_for(fn, arg, n, user);
#else
        llm_posix_parallel_for(fn, arg, n, user);
#endif
        return;
    }
    (void)user;
    /* Last range first: a result that depended on the order of the ranges,
     * or on one range seeing another's output, would change. */
    for (uint32_t w = g_workers; w-- > 0;) {
        uint32_t b, e;
        llm_parallel_range(n, g_workers, w, &b, &e);
        if (b < e) fn(arg, b, e);
    }
}

/* Threads for n workers where the target has them; 1 when they run. */
static int start_threads(uint32_t n) {
#if defined(ESP_PLATFORM)
    return n == 2 && llm_esp32s3_workers_start() == LLM_OK;
#elif defined(BOARD_MPS2_AN521)
    return n == 2 && board_cores_start() == 2u;
#else
    static int joined_at_exit;
    if (!joined_at_exit) {
        /* quit exits the process: join the pool first (sanitizers, clean
         * shutdown). */
        atexit(llm_posix_pool_stop);
        joined_at_exit = 1;
    }
    return n > 1 && llm_posix_pool_start(n) == n;
#endif
}

void fw_cmd_workers(const char *cmd, char *args) {
    uint32_t n;
    char *w_n = fw_word(&args), *w_mode = fw_word(&args);
    const int adapt = w_mode != NULL && strcmp(w_mode, "adapt") == 0;
#if defined(ESP_PLATFORM) || defined(BOARD_MPS2_AN521)
    const int adapt_ok = 0;
#else
    const int adapt_ok = 1;
#endif
    if (fw_parse_u32(w_n, &n) != 0 || n < 1 || n > FW_MAX_WORKERS ||
        (w_mode != NULL && strcmp(w_mode, "seq") != 0 && !(adapt && adapt_ok)) ||
        fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
#if !defined(ESP_PLATFORM) && !defined(BOARD_MPS2_AN521)
    llm_posix_pool_stop();
#endif
    g_threads = 0;
    g_workers = n;
    if (w_mode == NULL || adapt) g_threads = start_threads(n);
#if !defined(ESP_PLATFORM) && !defined(BOARD_MPS2_AN521)
    if (adapt && g_threads) llm_posix_pool_adapt(1);
#endif
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("workers", g_workers);
    fw_out_kv_u("threads", (uint64_t)g_threads);
    fw_out_end();
}

static void out_list(const char *key, const uint32_t *v, size_t n) {
    fw_out_key(key);
    if (n == 0) fw_out_str("-");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) fw_out_str(",");
        fw_out_u(v[i]);
    }
}

static void cmd_split(const char *cmd, char *args) {
    uint32_t n, workers;
    if (fw_parse_u32(fw_word(&args), &n) != 0 || fw_parse_u32(fw_word(&args), &workers) != 0 ||
        workers > FW_MAX_WORKERS || fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    uint32_t begin[FW_MAX_WORKERS], end[FW_MAX_WORKERS];
    const uint32_t shown = workers ? workers : 1; /* 0 workers behave as 1 */
    for (uint32_t w = 0; w < shown; w++) llm_parallel_range(n, workers, w, &begin[w], &end[w]);
    fw_out_begin(cmd, LLM_OK);
    out_list("begin", begin, shown);
    out_list("end", end, shown);
    fw_out_end();
}

typedef struct cover_job {
    uint32_t *counts; /* (n) */
    uint32_t work;    /* generator steps per visit */
} cover_job;

static void count_items(void *arg, uint32_t begin, uint32_t end) {
    const cover_job *j = (const cover_job *)arg;
    for (uint32_t i = begin; i < end; i++) {
        uint32_t x = i + 1; /* xorshift32: work the compiler cannot drop */
        for (uint32_t k = 0; k < j->work; k++) x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        j->counts[i] += 1u + (x == 0); /* never 0 from a non-zero start */
    }
}

static void cmd_cover(const char *cmd, char *args) {
    uint32_t n, jobs = 1, work = 0;
    char *w_jobs;
    if (fw_parse_u32(fw_word(&args), &n) != 0 || n > (1u << 16) ||
        ((w_jobs = fw_word(&args)) != NULL &&
         (fw_parse_u32(w_jobs, &jobs) != 0 || jobs < 1 || jobs > 10000000u ||
          fw_parse_u32(fw_word(&args), &work) != 0 || work > 1000000u)) ||
        fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    uint32_t *counts = fw_port_alloc((size_t)n * sizeof(uint32_t)); /* (n) */
    if (counts == NULL) {
        fw_reply_error(cmd, "out_of_memory");
        return;
    }
    memset(counts, 0, (size_t)n * sizeof(uint32_t));
    cover_job job = {counts, work};
    for (uint32_t j = 0; j < jobs; j++) llm__parallel_for(count_items, &job, n);
    fw_out_begin(cmd, LLM_OK);
    out_list("counts", counts, n);
    fw_out_end();
    fw_port_free(counts);
}

static void cmd_cores(const char *cmd, char *args) {
    if (fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
#if defined(ESP_PLATFORM)
    uint32_t counted[2]; /* the port's, since the last call (reset here) */
    llm_esp32s3_core_items(counted, 1);
    const uint64_t items[2] = {counted[0], counted[1]};
#elif defined(BOARD_MPS2_AN521)
    static uint64_t seen[2]; /* the counters at the last call */
    uint64_t items[2];
    for (uint32_t c = 0; c < 2u; c++) {
        const uint64_t now = board_core_items(c);
        items[c] = now - seen[c];
        seen[c] = now;
    }
#else
    fw_reply_error(cmd, "no_cores");
    return;
#endif
#if defined(ESP_PLATFORM) || defined(BOARD_MPS2_AN521)
    fw_out_begin(cmd, LLM_OK);
    fw_out_key("items");
    fw_out_u(items[0]);
    fw_out_str(",");
    fw_out_u(items[1]);
    fw_out_end();
#endif
}

typedef struct mv_split {
    float *out;     /* (d) */
    const float *w; /* (d, n) */
    const float *x; /* (n) */
    uint32_t n;
} mv_split;

static void mv_rows(void *arg, uint32_t begin, uint32_t end) {
    const mv_split *j = (const mv_split *)arg;
    llm_k_matvec_f32(j->out + begin, j->w + (size_t)begin * j->n, j->x, end - begin, j->n);
}

static void cmd_matvec(const char *cmd, char *args) {
    uint32_t d, n;
    uint64_t seed;
    if (fw_parse_u32(fw_word(&args), &d) != 0 || fw_parse_u32(fw_word(&args), &n) != 0 ||
        fw_parse_u64(fw_word(&args), &seed) != 0 || d == 0 || n == 0 || d > 4096 || n > 4096 ||
        fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    float *w = fw_port_alloc((size_t)d * n * sizeof(float)); /* (d, n) */
    float *x = fw_port_alloc((size_t)n * sizeof(float));     /* (n) */
    float *k = fw_port_alloc((size_t)d * sizeof(float));     /* (d) split */
    float *ref = fw_port_alloc((size_t)d * sizeof(float));   /* (d) one call */
    if (w == NULL || x == NULL || k == NULL || ref == NULL) {
        fw_reply_error(cmd, "out_of_memory");
    } else {
        rng r = {seed != 0 ? seed : 1};
        for (size_t i = 0; i < (size_t)d * n; i++) w[i] = 2.0f * rng_f32(&r) - 1.0f;
        for (size_t i = 0; i < n; i++) x[i] = 2.0f * rng_f32(&r) - 1.0f;
        mv_split job = {k, w, x, n};
        llm__parallel_for(mv_rows, &job, d);
        llm_k_matvec_f32(ref, w, x, d, n);
        fw_out_begin(cmd, LLM_OK);
        fw_out_str(" k=");
        fw_out_f32_hex(k, d);
        fw_out_str(" ref=");
        fw_out_f32_hex(ref, d);
        fw_out_end();
    }
    fw_port_free(w);
    fw_port_free(x);
    fw_port_free(k);
    fw_port_free(ref);
}

void fw_cmd_parallel(const char *cmd, char *args) {
    char *op = fw_word(&args);
    if (op != NULL && strcmp(op, "split") == 0) {
        cmd_split(cmd, args);
    } else if (op != NULL && strcmp(op, "cover") == 0) {
        cmd_cover(cmd, args);
    } else if (op != NULL && strcmp(op, "cores") == 0) {
        cmd_cores(cmd, args);
    } else if (op != NULL && strcmp(op, "matvec") == 0) {
        cmd_matvec(cmd, args);
    } else {
        fw_reply_error(cmd, "usage");
    }
}
