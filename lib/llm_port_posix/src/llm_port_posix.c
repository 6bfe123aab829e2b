/* The POSIX-threads pool behind llm_posix_parallel_for (llm_port_posix.h).
 *
 * Work is handed out, not assigned: a job is cut into blocks of items and
 * the caller and the workers claim blocks one at a time from a shared
 * counter until none is left. A thread the scheduler has taken off its core
 * therefore holds back only the block it claimed, never a fixed share: the
 * others (the caller first of all) take the rest. The caller waits only for
 * blocks already claimed. Idle threads spin for a few microseconds, then
 * sleep on a condition variable. In adaptive mode (llm_posix_pool_adapt)
 * short jobs that have been faster on the caller alone skip the pool. */
#if (defined(__unix__) || defined(__APPLE__)) && defined(__GNUC__) && \
    !defined(LLM_POSIX_NO_THREADS)
#define _POSIX_C_SOURCE 200809L
#define LLM_POSIX_THREADS 1
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#endif

#include <stddef.h>

#include "llm_port_posix.h"

#if LLM_POSIX_THREADS

/* A sleep and wake-up costs tens of microseconds, as much as a small
 * model's whole mat-vec, so a thread first spins this long for the next job
 * (workers) or for claimed blocks to finish (the caller). */
#ifndef LLM_POSIX_SPIN_US
#define LLM_POSIX_SPIN_US 5
#endif

/* Block sizes, as OpenMP's guided schedule: each claim takes the items left
 * divided by LLM_POSIX_CLAIM_SPLIT * workers, but at least the job's items
 * divided by LLM_POSIX_MIN_SPLIT * workers. Large blocks first keep claims
 * (one contended atomic each) few; small ones last let every thread finish
 * within a small block of the others, so a worker done early does not spin
 * past LLM_POSIX_SPIN_US and fall asleep while the caller ends a long block
 * (blocks of an eighth of the stories15M shape's 1536x288 w1/w3 mat-vec
 * take 8 us each at -j 2; the next job would pay the wake-up). About 11
 * claims per job with 2 workers. */
#ifndef LLM_POSIX_CLAIM_SPLIT
#define LLM_POSIX_CLAIM_SPLIT 2
#endif
#ifndef LLM_POSIX_MIN_SPLIT
#define LLM_POSIX_MIN_SPLIT 16
#endif

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define RELAXED_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define RELAXED_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Between a seq_cst store and a later seq_cst load of another variable (the
 * two wake-up handshakes below). C11 needs nothing more, nor does AArch64
 * hardware (STLR then LDAR are ordered), but QEMU's TCG translates STLR as
 * "barrier, store" and LDAR as "load, barrier", so on an x86 host the store
 * can still sit in the store buffer when the load reads: under qemu-aarch64
 * the caller then slept forever (every thread waiting) within a hundred
 * 64-token generations of stories260K. A full fence (DMB ISH, MFENCE) costs a few ns, on the sleeping
 * path and once per job. */
#define STORE_THEN_LOAD() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#if defined(__x86_64__) || defined(__i386__)
#define PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define PAUSE() __asm__ __volatile__("yield")
#else
#define PAUSE() ((void)0)
#endif

/* The job word: (sequence << 32) | items not yet claimed. The sequence
 * changes with every job, so a thread still looking at an old job can never
 * claim a block of a new one (its compare-and-swap fails). The job's other
 * fields are written before the word; the caller rewrites them only once
 * every claimed block is done. fn and arg are read only after a successful
 * claim, so a claimer always reads its own job's; the claim sizes are read
 * just before (run_blocks). */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t start_cv, done_cv;
    pthread_t threads[LLM_POSIX_MAX_WORKERS - 1]; /* (n_workers - 1) */
    uint32_t n_workers;                           /* 1 when stopped */
    uint32_t quit;
    uint64_t word;     /* see above */
    uint32_t done;     /* items of this job finished */
    uint32_t sleepers; /* workers waiting on start_cv */
    uint32_t caller_sleeping; /* the caller waits on done_cv */
    /* The job, constant from publication until its last block is done: */
    llm_range_fn fn;
    void *arg;
    uint32_t n, split, min_take; /* items; claim sizes (claim_size) */
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
       {0}, 1, 0, 0, 0, 0, 0, NULL, NULL, 0, 0, 0};

static uint32_t word_seq(uint64_t w) {
    return (uint32_t)(w >> 32);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin for at most LLM_POSIX_SPIN_US while job_changed / blocks_done
 * (below) is false; returns it. The clock is read every 64 pauses. */
#define SPIN_UNTIL(cond)                                                           \
    do {                                                                           \
        const uint64_t until_ = now_ns() + (uint64_t)LLM_POSIX_SPIN_US * 1000u;    \
        for (uint32_t i_ = 1; !(cond); i_++) {                                     \
            PAUSE();                                                               \
            if (i_ % 64 == 0 && now_ns() >= until_) break;                         \
        }                                                                          \
    } while (0)

/* A job other than seen is posted, or the pool is stopping. */
static int job_changed(uint32_t seen) {
    return word_seq(LOAD(&g.word)) != seen || LOAD(&g.quit);
}

/* Items the claim of the left items (>= 1) of the current job takes: a
 * multiple of 4 when more than 4 (the mat-vec kernels share each load of x
 * among 4 rows), so every block but the last ones starts on a multiple of
 * 4; sizes never grow as left falls. */
static uint32_t claim_size(uint32_t left) {
    uint32_t take = left / RELAXED_LOAD(&g.split);
    const uint32_t min_take = RELAXED_LOAD(&g.min_take);
    if (take < min_take) take = min_take;
    if (take > 4) take = (take + 3) / 4 * 4;
    return take < left ? take : left;
}

/* Claim and run blocks of job seq until none is left; returns the items
 * this thread ran, and *n the job's item count when it ran any. */
static uint32_t run_blocks(uint32_t seq, uint32_t *n) {
    uint32_t ran = 0;
    uint64_t w = LOAD(&g.word);
    for (;;) {
        const uint32_t left = (uint32_t)w;
        if (word_seq(w) != seq || left == 0) return ran;
        /* n, split and min_take are read before the claim, so they are
         * atomics: the caller may be writing the next job's, but then the
         * claim fails (the word moved on), and when it succeeds they were
         * this job's (stored before the word that said seq). On failure w
         * is reloaded: another thread claimed, or a new job. */
        const uint32_t take = claim_size(left), all = RELAXED_LOAD(&g.n);
        if (!__atomic_compare_exchange_n(&g.word, &w, w - take, 0, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST))
            continue;
        *n = all;
        g.fn(g.arg, all - left, all - left + take);
        ran += take;
        w = LOAD(&g.word);
    }
}

/* A worker's items of one job, counted once it finds no block left (the
 * caller counts its own the same way): one contended add per thread and job
 * rather than per block. The job's fields may change as soon as done
 * reaches n. */
static void worker_job(uint32_t seq) {
    uint32_t n = 0;
    const uint32_t ran = run_blocks(seq, &n);
    if (ran != 0 && ADD(&g.done, ran) == n && LOAD(&g.caller_sleeping)) {
        pthread_mutex_lock(&g.mu);
        pthread_cond_signal(&g.done_cv);
        pthread_mutex_unlock(&g.mu);
    }
}

/* Wait for a job other than seen; returns its sequence (seen when quitting). */
static uint32_t wait_job(uint32_t seen) {
    SPIN_UNTIL(job_changed(seen));
    if (!job_changed(seen)) {
        pthread_mutex_lock(&g.mu);
        ADD(&g.sleepers, 1u);
        /* The caller bumps the word, then reads sleepers; we count ourselves,
         * then read the word: one of the two sees the other (seq_cst). */
        while (!job_changed(seen))
            pthread_cond_wait(&g.start_cv, &g.mu);
        ADD(&g.sleepers, (uint32_t)-1);
        pthread_mutex_unlock(&g.mu);
    }
    return word_seq(LOAD(&g.word));
}

static void *worker_main(void *p) {
    uint32_t seen = (uint32_t)(uintptr_t)p; /* the sequence when started */
    for (;;) {
        seen = wait_job(seen);
        if (LOAD(&g.quit)) break;
        worker_job(seen);
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
    llm_posix_pool_adapt(0);
    if (n_workers < 1) n_workers = 1;
    if (n_workers > LLM_POSIX_MAX_WORKERS) n_workers = LLM_POSIX_MAX_WORKERS;
    const uint32_t seq = word_seq(LOAD(&g.word));
    uint32_t started = 0;
    for (; started + 1 < n_workers; started++) {
        if (pthread_create(&g.threads[started], NULL, worker_main, (void *)(uintptr_t)seq) != 0)
            break;
    }
    pthread_mutex_lock(&g.mu);
    g.n_workers = started + 1; /* the threads to join */
    pthread_mutex_unlock(&g.mu);
    /* Fewer threads than asked: run on the caller rather than with a worker
     * count the user did not choose. */
    if (started + 1 < n_workers) llm_posix_pool_stop();
    return llm_posix_pool_workers();
}

uint32_t llm_posix_pool_workers(void) {
    pthread_mutex_lock(&g.mu);
    const uint32_t w = g.n_workers;
    pthread_mutex_unlock(&g.mu);
    return w;
}

uint32_t llm_posix_cores(void) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1u : n > LLM_POSIX_MAX_WORKERS ? LLM_POSIX_MAX_WORKERS : (uint32_t)n;
}

/* One job over the pool (workers >= 2, n >= 2); wake 0 leaves sleeping
 * workers asleep (only spinning ones join). Returns 0 when it ran the job
 * on the caller because every worker slept and none was to be woken, else
 * 1. */
static int pool_run(llm_range_fn fn, void *arg, uint32_t n, uint32_t workers, int wake) {
    /* Nobody to share with: run it whole rather than in some 10 claims of
     * our own (a tenth of a microsecond, 2% of a stories260K step). */
    if (!wake && LOAD(&g.sleepers) == workers - 1) {
        fn(arg, 0, n);
        return 0;
    }
    const uint32_t min_split = workers * LLM_POSIX_MIN_SPLIT;
    /* Every claim of the previous job is done (we waited for it), so no
     * thread reads these now. */
    g.fn = fn;
    g.arg = arg;
    RELAXED_STORE(&g.n, n);
    RELAXED_STORE(&g.split, workers * LLM_POSIX_CLAIM_SPLIT);
    RELAXED_STORE(&g.min_take, n / min_split + (n % min_split != 0));
    STORE(&g.done, 0u);
    const uint32_t seq = word_seq(LOAD(&g.word)) + 1;
    STORE(&g.word, (uint64_t)seq << 32 | n);
    STORE_THEN_LOAD();
    if (wake && LOAD(&g.sleepers)) {
        pthread_mutex_lock(&g.mu);
        pthread_cond_broadcast(&g.start_cv);
        pthread_mutex_unlock(&g.mu);
    }

    uint32_t unused;
    const uint32_t mine = run_blocks(seq, &unused);
    /* Only blocks the workers claimed and still run are left. */
    if (mine != 0) ADD(&g.done, mine);
    SPIN_UNTIL(LOAD(&g.done) == n);
    if (LOAD(&g.done) != n) {
        /* The worker that finishes the last block reads caller_sleeping
         * after counting it; we set it before reading done: one of the two
         * sees the other (seq_cst). */
        pthread_mutex_lock(&g.mu);
        STORE(&g.caller_sleeping, 1u);
        STORE_THEN_LOAD();
        while (LOAD(&g.done) != n) pthread_cond_wait(&g.done_cv, &g.mu);
        STORE(&g.caller_sleeping, 0u);
        pthread_mutex_unlock(&g.mu);
    }
    return 1;
}

/* Adaptive mode: each kind of job (fn, n) shorter than POOL_ALWAYS_NS
 * (below) is timed on the caller alone and on the pool, and runs the way
 * that has been faster lately. A job of a few microseconds (every step of a
 * 260K-parameter model) or a machine whose other cores are busy can make
 * the pool slower than one thread: then the caller runs those jobs alone,
 * and tries the other way again later, in case things changed: after 4
 * runs for the first choice, then at least 16, and enough runs that a probe
 * of the slower way costs at most 1% of their time; each confirmed choice
 * makes the gap four times longer, up to about PROBE_SPAN_NS of the job's
 * own time. Which thread computes an item never changes its bits, so
 * neither does this choice. */
#define ADAPT_SLOTS 32
#define PROBE_FIRST 4
#define PROBE_MIN 16
#define PROBE_MAX (1u << 20)
#define PROBE_SPAN_NS 250000000u /* 0.25 s */
/* Two clock reads (~30 ns each here) in every 16 runs alone: 4 ns per job
 * of a stories260K step's 0.2-5 us ones. */
#define TIME_EVERY 16
/* Waking a sleeping worker costs the caller about 10 us on this 2-core VM
 * (a 4-us job took 14 us on the pool when the worker slept, 2.4 us when it
 * was spinning), so jobs are of two kinds by their time on the caller alone:
 * - At least POOL_ALWAYS_NS (its time alone as estimated below, which one
 *   outlier raises by half at most): always on the pool, waking workers.
 *   Judged by timings, one such job run alone let the worker fall asleep,
 *   the next job's pool timing then held the wake-up, and so on until every
 *   job of a stories15M-shaped q8 model ran alone (1.15x -j 1, against
 *   1.84x with every job on the pool).
 * - Shorter: timed as below, and on the pool they never wake a worker, only
 *   share with workers still spinning from the job before; a lone short job
 *   among jobs run alone would otherwise pay a wake-up each time. */
#define POOL_ALWAYS_NS 8000u

typedef struct adapt_slot {
    llm_range_fn fn;
    uint32_t n;
    uint32_t quiet;     /* runs alone left before the next timed one (fast path) */
    uint64_t ns[2];     /* recent mean time alone [0] and on the pool [1], 0 = unknown */
    uint32_t use;       /* the faster mode: 0 alone until the pool proves faster */
    uint32_t until, gap; /* runs before the other mode is tried again, next gap */
    uint32_t alone_seen; /* timed runs alone, counted up to 2 */
} adapt_slot;

static adapt_slot g_slots[ADAPT_SLOTS]; /* used by the calling thread only */
static uint32_t g_adapt;

void llm_posix_pool_adapt(int on) {
    g_adapt = on != 0;
    for (uint32_t i = 0; i < ADAPT_SLOTS; i++) g_slots[i] = (adapt_slot){NULL, 0, 0, {0, 0}, 0, 0, 0, 0};
}

/* The slot of (fn, n): hashed, so that a job finds its slot in one cache
 * line (with jobs of a few hundred ns, scanning several costs percents). A
 * full table gives the home slot to the newcomer. */
static adapt_slot *slot_of(llm_range_fn fn, uint32_t n) {
    const uint32_t home = (uint32_t)(((uintptr_t)fn >> 4) * 31u + n * 2654435761u) % ADAPT_SLOTS;
    adapt_slot *s = NULL;
    for (uint32_t k = 0; k < ADAPT_SLOTS && s == NULL; k++) {
        adapt_slot *t = &g_slots[(home + k) % ADAPT_SLOTS];
        if (t->fn == fn && t->n == n) return t;
        if (t->fn == NULL) s = t;
    }
    if (s == NULL) s = &g_slots[home];
    *s = (adapt_slot){fn, n, 0, {0, 0}, 0, 0, PROBE_MIN, 0};
    return s;
}

/* Runs before the next probe, for a choice whose runs take fast ns and
 * whose other way took slow ns: at least g, and enough that the probe costs
 * 1% of them. */
static uint32_t next_gap(uint64_t g, uint64_t fast, uint64_t slow) {
    uint64_t cap = PROBE_SPAN_NS / fast;
    if (cap > PROBE_MAX) cap = PROBE_MAX;
    if (cap < PROBE_MIN) cap = PROBE_MIN;
    const uint64_t one_percent = slow > fast ? (slow - fast) * 100 / fast : 0;
    if (g < one_percent) g = one_percent;
    return (uint32_t)(g < cap ? g : cap);
}

static void run_adaptive(llm_range_fn fn, void *arg, uint32_t n, uint32_t workers) {
    adapt_slot *s = slot_of(fn, n);
    /* Most runs of a kind that runs alone end here, untimed (one in
     * TIME_EVERY is timed below). */
    if (s->quiet != 0) {
        s->quiet--;
        fn(arg, 0, n);
        return;
    }
    /* The caller alone is measured twice (the faster of the two: the first
     * runs on cold caches), then the pool once, before any choice; then the
     * other mode every gap runs. Alone first, so that the pool's first run
     * of a short job already knows not to wake a worker (which costs about
     * as much as the job). */
    const int known = s->ns[1] != 0 && s->alone_seen >= 2;
    uint32_t mode = s->alone_seen < 2 ? 0u : !known ? 1u : s->use;
    if (known && s->until-- == 0) mode = !s->use;
    /* Every run that gets here is timed: pool runs and probes (a rare stall,
     * a worker taken off its core while holding a block, must not go
     * unseen), and one run alone in TIME_EVERY (quiet). */
    const uint64_t t0 = now_ns();
    int shared = 0;
    if (mode) {
        shared = pool_run(fn, arg, n, workers, s->ns[0] >= POOL_ALWAYS_NS);
    } else {
        fn(arg, 0, n);
    }
    uint64_t t = now_ns() - t0 + 1; /* never 0, which means unknown */
    if (mode == 1 && !shared) {
        /* Every worker slept and this short job was not to wake one: it ran
         * on the caller, so it counts as a run alone, and the pool, which
         * could not take part, as no faster than that. Counted as pool
         * runs, such runs would beat a cold first estimate alone and keep
         * the kind on a sleeping pool, every run timed (58% of a
         * stories260K run's jobs). */
        mode = 0;
        if (s->ns[1] < t) s->ns[1] = t;
    }
    /* A run alone slower than twice the estimate was interrupted or
     * preempted (a job's own time grows slowly, attention's with the
     * position): counted as twice, so that one outlier cannot send a short
     * job to the pool. Pool runs count in full: their stalls are the point. */
    if (mode == 0 && s->alone_seen >= 2 && t > 2 * s->ns[0]) t = 2 * s->ns[0];
    /* A probe's old figure is stale, but it may hold a stall: average the
     * two, so a mode that stalled is trusted again only after a few good
     * probes (gaps 16, 32, ...). */
    if (s->ns[mode] == 0) {
        s->ns[mode] = t;
    } else if (mode == 0 && s->alone_seen < 2) {
        if (t < s->ns[0]) s->ns[0] = t;
    } else if (s->ns[!mode] != 0 && mode != s->use) {
        s->ns[mode] = s->ns[mode] / 2 + t / 2;
    } else {
        s->ns[mode] = s->ns[mode] - s->ns[mode] / 4 + t / 4;
    }
    if (mode == 0 && s->alone_seen < 2) s->alone_seen++;
    if (s->ns[1] == 0 || s->alone_seen < 2) return;
    /* A short job moves to the pool only when a quarter faster there: near
     * a tie its pool timings hang on whether a worker happened to be
     * spinning, and each switch starts the probes over (a stories260K run
     * spent 8% of its jobs on the pool that way, at -j 2 0.95x -j 1). */
    const uint32_t faster = s->ns[0] >= POOL_ALWAYS_NS ||
                            s->ns[1] < (s->use ? s->ns[0] : s->ns[0] - s->ns[0] / 4);
    if (!known || mode != s->use || faster != s->use) {
        /* The first choice is checked soon (the caller's first runs alone
         * may have been slowed by cold caches and page faults, making a
         * short job look long); a probe that confirms the choice waits
         * four times longer before the next; one that does not switches. */
        const uint64_t g = !known              ? PROBE_FIRST
                           : faster == s->use ? (uint64_t)s->gap * 4
                                              : PROBE_MIN;
        s->gap = next_gap(g, s->ns[faster], s->ns[!faster]);
        s->use = faster;
        s->until = s->gap;
    }
    /* Alone from here on: the next TIME_EVERY - 1 runs, or fewer if the
     * next probe comes sooner, take the fast path above. */
    if (s->use == 0) {
        s->quiet = s->until < TIME_EVERY - 1 ? s->until : TIME_EVERY - 1;
        s->until -= s->quiet;
    }
}

void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    if (n == 0) return;
    const uint32_t workers = g.n_workers; /* changed only between jobs, by this thread */
    if (workers <= 1 || n == 1) {
        fn(arg, 0, n);
    } else if (g_adapt) {
        run_adaptive(fn, arg, n, workers);
    } else {
        pool_run(fn, arg, n, workers, 1);
    }
}

#else /* no POSIX threads or no GCC/Clang atomics: the caller does everything */

uint32_t llm_posix_pool_start(uint32_t n_workers) {
    (void)n_workers;
    return 1;
}

void llm_posix_pool_stop(void) {}

uint32_t llm_posix_pool_workers(void) {
    return 1;
}

uint32_t llm_posix_cores(void) {
    return 1;
}

void llm_posix_pool_adapt(int on) {
    (void)on;
}

void llm_posix_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user) {
    (void)user;
    if (n != 0) fn(arg, 0, n);
}

#endif
