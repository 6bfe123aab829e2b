/* The POSIX-threads pool behind llm_posix_parallel_for (llm_port_posix.h). */
#if (defined(__unix__) || defined(__APPLE__)) && !defined(LLM_POSIX_NO_THREADS)
#define _POSIX_C_SOURCE 200809L
#define LLM_POSIX_THREADS 1
#include <pthread.h>
#endif

#include <stddef.h>

#include "llm_port_posix.h"

#if LLM_POSIX_THREADS

/* Waiting on a condition variable costs tens of microseconds per wake-up,
 * as much as a small model's whole mat-vec: so threads first spin on the
 * job counter for a while (GCC/Clang atomics) and only then sleep. Without
 * those builtins they sleep at once. */
#if defined(__GNUC__)
#ifdef LLM_POSIX_SPIN_ROUNDS
#define SPIN_ROUNDS LLM_POSIX_SPIN_ROUNDS
#else
#define SPIN_ROUNDS 20000
#endif
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define DEC(p) __atomic_sub_fetch((p), 1, __ATOMIC_ACQ_REL)
#if defined(__x86_64__) || defined(__i386__)
#define PAUSE() __builtin_ia32_pause()
#else
#define PAUSE() ((void)0)
#endif
#else
#define SPIN_ROUNDS 0
#define LOAD(p) (*(p))
#define STORE(p, v) (*(p) = (v))
#define DEC(p) (--*(p))
#define PAUSE() ((void)0)
#endif

/* One job at a time: the caller publishes fn/arg/n, then bumps the
 * generation (under the lock, so a sleeping thread cannot miss it); each
 * thread runs its range once per generation; the last to finish wakes the
 * caller if it sleeps. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    pthread_t threads[LLM_POSIX_MAX_WORKERS - 1]; /* (n_workers - 1) */
    uint32_t n_workers;                          /* 1 when stopped */
    uint32_t generation;                         /* bumped per job */
    uint32_t quit;
    llm_range_fn fn;
    void *arg;
    uint32_t n;
    uint32_t pending;        /* threads still working on this generation */
    uint32_t sleepers;       /* threads waiting on start_cv */
    int caller_sleeping;     /* the caller waits on done_cv */
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
       {0}, 1, 0, 0, NULL, NULL, 0, 0, 0, 0};

/* Generation current when the threads were created: each starts waiting for
 * the next one, so a job posted before a thread first runs is not missed. */
static uint32_t g_start_generation;

/* Next generation after seen, or seen when quitting. */
static uint32_t wait_job(uint32_t seen) {
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (LOAD(&g.generation) != seen || LOAD(&g.quit)) return LOAD(&g.generation);
        PAUSE();
    }
    pthread_mutex_lock(&g.mu);
    g.sleepers++;
    while (!g.quit && LOAD(&g.generation) == seen) pthread_cond_wait(&g.start_cv, &g.mu);
    g.sleepers--;
    const uint32_t gen = LOAD(&g.generation);
    pthread_mutex_unlock(&g.mu);
    return gen;
}

static void *worker_main(void *p) {
    const uint32_t w = (uint32_t)(uintptr_t)p;
    uint32_t seen = g_start_generation;
    for (;;) {
        seen = wait_job(seen);
        if (LOAD(&g.quit)) break;
        /* Published before the generation: visible after reading it. */
        const llm_range_fn fn = g.fn;
        void *const arg = g.arg;
        const uint32_t n = g.n, workers = g.n_workers;
        uint32_t b, e;
        llm_parallel_range(n, workers, w, &b, &e);
        if (b < e) fn(arg, b, e);
        if (DEC(&g.pending) == 0) {
            pthread_mutex_lock(&g.mu);
            if (g.caller_sleeping) pthread_cond_signal(&g.done_cv);
            pthread_mutex_unlock(&g.mu);
        }
    }
    return NULL;
}

void llm_posix_pool_stop(void) {
    pthread_mutex_lock(&g.mu);
    const uint32_t threads = g.n_workers - 1;
    STORE(&g.quit, 1u);
    pthread_cond_broadcast(&g.start_cv);
    pthread_mutex_unlock(&g.mu);
    for (uint32_t i = 0; i < threads; i++) pthread_join(g.threads[i], NULL);
    pthread_mutex_lock(&g.mu);
    STORE(&g.quit, 0u);
    g.n_workers = 1;
    pthread_mutex_unlock(&g.mu);
}

uint32_t llm_posix_pool_start(uint32_t n_workers) {
    llm_posix_pool_stop();
    if (n_workers < 1) n_workers = 1;
    if (n_workers > LLM_POSIX_MAX_WORKERS) n_workers = LLM_POSIX_MAX_WORKERS;
    pthread_mutex_lock(&g.mu);
    g_start_generation = g.generation;
    g.n_workers = n_workers; /* read by the threads with each job */
    pthread_mutex_unlock(&g.mu);
    uint32_t started = 0;
    for (; started + 1 < n_workers; started++) {
        /* Thread i is worker i + 1: the caller is worker 0. */
        if (pthread_create(&g.threads[started], NULL, worker_main,
                           (void *)(uintptr_t)(started + 1)) != 0)
            break;
    }
    if (started + 1 < n_workers) {
        /* Fewer threads than asked: run on the caller rather than with an
         * odd worker count the user did not choose. */
        pthread_mutex_lock(&g.mu);
        g.n_workers = started + 1; /* the threads to join */
        pthread_mutex_unlock(&g.mu);
        llm_posix_pool_stop();
    }
    return llm_posix_pool_workers();
}

uint32_t llm_posix_pool_workers(void) {
    pthread_mutex_lock(&g.mu);
    const uint32_t w = g.n_workers;
    pthread_mutex_unlock(&g.mu);
    return w;
}

void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    if (n == 0) return;
    const uint32_t workers = g.n_workers; /* changed only between jobs, by this thread */
    if (workers <= 1 || n == 1) {
        fn(arg, 0, n);
        return;
    }
    g.fn = fn;
    g.arg = arg;
    g.n = n;
    STORE(&g.pending, workers - 1);
    pthread_mutex_lock(&g.mu);
    STORE(&g.generation, g.generation + 1);
    if (g.sleepers) pthread_cond_broadcast(&g.start_cv);
    pthread_mutex_unlock(&g.mu);

    uint32_t b, e;
    llm_parallel_range(n, workers, 0, &b, &e);
    if (b < e) fn(arg, b, e);

    for (int i = 0; i < SPIN_ROUNDS && LOAD(&g.pending) != 0; i++) PAUSE();
    if (LOAD(&g.pending) != 0) {
        pthread_mutex_lock(&g.mu);
        while (LOAD(&g.pending) != 0) {
            g.caller_sleeping = 1;
            pthread_cond_wait(&g.done_cv, &g.mu);
        }
        g.caller_sleeping = 0;
        pthread_mutex_unlock(&g.mu);
    }
}

#else /* no POSIX threads: the caller does everything */

uint32_t llm_posix_pool_start(uint32_t n_workers) {
    (void)n_workers;
    return 1;
}

void llm_posix_pool_stop(void) {}

uint32_t llm_posix_pool_workers(void) {
    return 1;
}

void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    if (n != 0) fn(arg, 0, n);
}

#endif
