/*
 * Host example: generate text from the command line, as llama2.c's run.c does.
 *
 *   program <checkpoint> [options]       (see usage() for the options)
 *
 * The checkpoint is a llama2.c model file or an llm blob; llm_model_open tells
 * which. Files are mapped read-only, so the weights are used in place, as a
 * microcontroller reads them from flash; on Linux a large model is instead
 * copied onto huge pages (load_huge). With -t 0 the text on stdout is
 * byte-identical to run.c's for the same arguments.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* mmap, clock_gettime under -std=c99 */
#endif
#if defined(__linux__)
#define _DEFAULT_SOURCE /* glibc: MAP_ANONYMOUS, MADV_HUGEPAGE beside POSIX */
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__unix__) || defined(__APPLE__)
#define HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#define HAVE_MMAP 0
#endif

#include "llm.h"
#include "llm_port_posix.h"

#if HAVE_MMAP && defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MAP_ANONYMOUS)
#define HAVE_HUGE 1
#else
#define HAVE_HUGE 0
#endif

/* A whole file in memory, 16-byte aligned (mmap pages or an aligned block). */
typedef struct file_data {
    const uint8_t *data; /* (size) bytes */
    size_t size;
    void *to_free;       /* malloc block when not mapped */
    void *map;           /* the mapping to unmap, when mapped */
    size_t map_len;
    size_t page;         /* huge page size when copied onto huge pages, else 0 */
} file_data;

static void usage(FILE *out) {
    fprintf(out, "Usage:   program <checkpoint> [options]\n");
    fprintf(out, "Example: program model.bin -n 256 -i \"Once upon a time\"\n");
    fprintf(out, "Options:\n");
    fprintf(out, "  -t <float>  temperature in [0,inf], default 1.0\n");
    fprintf(out, "  -p <float>  p value in top-p (nucleus) sampling in [0,1] default 0.9\n");
    fprintf(out, "  -s <int>    random seed, default time(NULL)\n");
    fprintf(out, "  -n <int>    number of steps to run for, default 256. 0 = max_seq_len\n");
    fprintf(out, "  -i <string> input prompt\n");
    fprintf(out, "  -z <string> optional path to custom tokenizer (default: the blob's\n");
    fprintf(out, "              embedded tokenizer, else tokenizer.bin)\n");
    fprintf(out, "  -m <string> mode: generate|chat, default: generate\n");
    fprintf(out, "  -y <string> (optional) system prompt in chat mode\n");
    fprintf(out, "  -T <string> chat template: llama2|zephyr, default: the model's, else llama2\n");
    fprintf(out, "  -c <string> chat mode, context full: shift (drop old turns, keep the\n"
                 "              first) or stop; default shift\n");
    fprintf(out, "  -k <int>    top-k: sample among the k most likely tokens, default 0 = off\n");
    fprintf(out, "  -r <float>  repeat penalty (> 1 penalises recent tokens), default 1.0 = off\n");
    fprintf(out, "  -j <int>    threads splitting each step (same output), default 1;\n"
                 "              0 = one per core, more than the cores are capped\n");
    fprintf(out, "  -l <string> model loading: auto|map, default auto (Linux: a model of\n"
                 "              8 MB or more is copied onto huge pages, faster to stream;\n"
                 "              map: always read in place, no copy in RAM)\n");
    fprintf(out, "In chat mode -n is the most tokens per reply (0 = until the model ends it);\n"
                 "user lines come from stdin, and each turn runs only its own tokens: the\n"
                 "conversation stays in the KV cache (stderr shows the count per turn).\n");
}

static void error_usage(void) {
    usage(stderr);
    exit(EXIT_FAILURE);
}

/* Monotonic microseconds for the library's llm_gen_stats. */
static uint64_t now_us(void *user) {
    (void)user;
#if !defined(_WIN32)
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
#else
    return (uint64_t)clock() * 1000000u / CLOCKS_PER_SEC;
#endif
}

static void log_stderr(int level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "llm %s: %s\n", level <= LLM_LOG_ERROR ? "error" : "warning", msg);
}

/* n bytes aligned to 16 (LLM_ARENA_ALIGN may ask for more) from malloc;
 * *block gets the pointer to free. NULL when out of memory. */
static void *alloc_aligned(size_t n, size_t align, void **block) {
    uint8_t *raw = (uint8_t *)malloc(n + align);
    if (!raw) return NULL;
    *block = raw;
    uintptr_t p = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
    return (void *)p;
}

#if HAVE_HUGE
/* Models of at least HUGE_MIN bytes are copied onto huge pages: a decode
 * step streams every weight once, and with 4 KB pages each page is a TLB
 * miss (15,000 per token for stories15M's 61 MB, each a nested page walk
 * in a VM). Smaller ones fit the TLB's reach (1.5-3K entries of 4 KB). */
#define HUGE_MIN ((size_t)8 << 20)

/* The transparent huge page size when Linux gives such pages to memory that
 * asks (THP "always" or "madvise"), else 0. */
static size_t thp_page_size(void) {
    char mode[128];
    FILE *fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!fp) return 0;
    const size_t n = fread(mode, 1, sizeof mode - 1, fp);
    fclose(fp);
    mode[n] = '\0';
    if (strstr(mode, "[never]") || !strchr(mode, '[')) return 0;
    unsigned long long page = 0;
    fp = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
    if (fp) {
        if (fscanf(fp, "%llu", &page) != 1) page = 0;
        fclose(fp);
    }
    return page >= 4096 && (page & (page - 1)) == 0 ? (size_t)page : 0;
}

/* Bytes of RAM Linux says are available without swapping
 * (/proc/meminfo MemAvailable), 0 when unknown. */
static unsigned long long mem_available(void) {
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp) return 0;
    char line[128];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
        kb = 0;
    }
    fclose(fp);
    return kb * 1024u;
}

/* f->size bytes of fp copied into anonymous memory aligned to and asking
 * for huge pages (MADV_HUGEPAGE), then made read-only; 0 on success, else
 * -1 with nothing held (the caller maps the file instead). */
static int load_huge(FILE *fp, file_data *f, size_t page) {
    const size_t len = (f->size + page - 1) / page * page;
    if (len < f->size || len + page < len) return -1;
    uint8_t *m = (uint8_t *)mmap(NULL, len + page, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    uint8_t *a = (uint8_t *)(((uintptr_t)m + page - 1) & ~(uintptr_t)(page - 1));
    if (madvise(a, len, MADV_HUGEPAGE) != 0 || fseek(fp, 0, SEEK_SET) != 0 ||
        fread(a, 1, f->size, fp) != f->size || mprotect(a, len, PROT_READ) != 0) {
        munmap(m, len + page);
        return -1;
    }
    f->data = a;
    f->map = m;
    f->map_len = len + page;
    f->page = page;
    return 0;
}
#endif

/* Read a whole file; 0 on success, else errno-style failure (message
 * printed). huge: a large file may be copied onto huge pages. */
static int load_file(const char *path, file_data *f, int huge) {
    static uint64_t empty[2]; /* aligned stand-in for an empty file */
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "Couldn't open file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) != 0) goto io_error;
    long len = ftell(fp);
    if (len < 0) goto io_error;
    f->size = (size_t)len;
    if (f->size == 0) {
        f->data = (const uint8_t *)empty;
        fclose(fp);
        return 0;
    }
#if HAVE_HUGE
    /* Only with RAM to spare (half the model again beside the copy): on a
     * board short of RAM the mapping, paged in from storage, still works
     * where a copy would be killed for memory. */
    if (huge && f->size >= HUGE_MIN &&
        mem_available() >= (unsigned long long)f->size + f->size / 2) {
        const size_t page = thp_page_size();
        if (page != 0 && load_huge(fp, f, page) == 0) {
            fclose(fp);
            return 0;
        }
    }
#else
    (void)huge;
#endif
#if HAVE_MMAP
    {
        /* Populated (Linux): every page is faulted in here rather than
         * during the first token, whose jobs would otherwise run several
         * times slower than the rest (stories260K's 1 MB is 256 faults). */
#ifdef MAP_POPULATE
        const int flags = MAP_PRIVATE | MAP_POPULATE;
#else
        const int flags = MAP_PRIVATE;
#endif
        void *p = mmap(NULL, f->size, PROT_READ, flags, fileno(fp), 0);
        if (p != MAP_FAILED) {
            f->data = (const uint8_t *)p;
            f->map = p;
            f->map_len = f->size;
            fclose(fp);
            return 0;
        }
    }
#endif
    {
        void *buf = alloc_aligned(f->size, 16, &f->to_free);
        if (!buf) {
            fprintf(stderr, "Out of memory reading %s (%zu bytes)\n", path, f->size);
            fclose(fp);
            return -1;
        }
        if (fseek(fp, 0, SEEK_SET) != 0 || fread(buf, 1, f->size, fp) != f->size) {
            free(f->to_free);
            f->to_free = NULL;
            goto io_error;
        }
        f->data = (const uint8_t *)buf;
    }
    fclose(fp);
    return 0;
io_error:
    fprintf(stderr, "Couldn't read file %s: %s\n", path, strerror(errno));
    fclose(fp);
    return -1;
}

static void unload_file(file_data *f) {
#if HAVE_MMAP
    if (f->map) munmap(f->map, f->map_len);
#endif
    free(f->to_free);
    memset(f, 0, sizeof *f);
}

/* One line of stdin into buf (cap bytes), without its newline; 0 at EOF. */
static int read_line(const char *guide, char *buf, size_t cap) {
    printf("%s", guide);
    fflush(stdout);
    if (!fgets(buf, (int)cap, stdin)) return 0;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    return 1;
}

/* Streams each piece to stdout as soon as it is made, as run.c does. */
static int print_piece(const char *piece, size_t len, void *user) {
    (void)user;
    if (len) fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

/*
 * Chat mode, as llama2.c's (-m chat, -y system prompt, -i first user line):
 * each user line becomes a turn of the template, queued after the
 * conversation so far; llm_continue runs only the new tokens and samples the
 * reply. Returns 0, or 1 after a library error (message printed).
 */
static int chat(llm_ctx *ctx, const llm_chat_template *t, const char *system, const char *first,
                uint32_t max_reply, int shift) {
    static char sys_buf[4096], user_buf[4096]; /* (4096) one line each */
    if (!system) {
        /* As run.c: asked once, empty for none. */
        system = read_line("Enter system prompt (optional): ", sys_buf, sizeof sys_buf) ? sys_buf
                                                                                         : "";
    }
    for (uint32_t turn = 1;; turn++) {
        const char *user = first;
        first = NULL;
        if (!user) {
            if (!read_line("User: ", user_buf, sizeof user_buf)) break;
            user = user_buf;
        }
        llm_status st = llm_chat_append(ctx, t, system, user);
        if (st == LLM_ERR_PROMPT_TOO_LONG) {
            fprintf(stderr, "turn %u does not fit the context (%u positions)\n", (unsigned)turn,
                    (unsigned)ctx->seq_len);
            break;
        }
        if (st != LLM_OK) {
            fprintf(stderr, "Chat turn %u failed: %s\n", (unsigned)turn, llm_status_str(st));
            return 1;
        }
        if (turn == 1 && shift) {
            /* Keep the first turn (the system prompt with it) when shifting. */
            const uint32_t keep = ctx->n_past + ctx->n_queued;
            st = llm_set_full_policy(ctx, LLM_FULL_SHIFT, keep < ctx->seq_len ? keep : 0, 0);
            if (st != LLM_OK) return fprintf(stderr, "policy: %s\n", llm_status_str(st)), 1;
        }
        llm_gen_params g;
        memset(&g, 0, sizeof g);
        g.prompt = "";
        g.max_new = max_reply;
        g.n_steps = UINT32_MAX; /* the reply's own limits: max_new, EOS, the context */
        g.on_piece = print_piece;
        llm_gen_stats stats;
        printf("Assistant: ");
        st = llm_continue(ctx, &g, &stats);
        printf("\n");
        fflush(stdout);
        if (st != LLM_OK) {
            fprintf(stderr, "Reply %u failed: %s\n", (unsigned)turn, llm_status_str(st));
            return 1;
        }
        fprintf(stderr, "turn %u: prefilled %u positions, generated %u, context %u/%u, end %s\n",
                (unsigned)turn, (unsigned)stats.n_prompt, (unsigned)stats.n_generated,
                (unsigned)ctx->n_past, (unsigned)ctx->seq_len, llm_end_str(stats.end));
        if (stats.end == LLM_END_CONTEXT) break;
    }
    return 0;
}

int main(int argc, char *argv[]) {
    const char *checkpoint_path = NULL;
    const char *tokenizer_path = NULL; /* NULL: embedded, else tokenizer.bin */
    float temperature = 1.0f;          /* 0 = greedy */
    float topp = 0.9f;
    int steps = 256;                   /* positions, prompt included */
    const char *prompt = NULL;
    unsigned long long rng_seed = 0;   /* 0 = time(NULL) */
    const char *mode = "generate";
    const char *system_prompt = NULL;  /* chat: NULL = ask on stdin, as run.c */
    const char *template_name = NULL;  /* chat: NULL = the model's, else llama2 */
    const char *full = "shift";
    int top_k = 0;
    float repeat_penalty = 1.0f;
    int threads = 1;
    const char *load = "auto";

    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2) checkpoint_path = argv[1]; else error_usage();
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) error_usage();           /* every flag takes a value */
        if (argv[i][0] != '-' || strlen(argv[i]) != 2) error_usage();
        const char *v = argv[i + 1];
        switch (argv[i][1]) {
        case 't': temperature = (float)atof(v); break;
        case 'p': topp = (float)atof(v); break;
        case 's': rng_seed = (unsigned long long)atoi(v); break;
        case 'n': steps = atoi(v); break;
        case 'i': prompt = v; break;
        case 'z': tokenizer_path = v; break;
        case 'm': mode = v; break;
        case 'y': system_prompt = v; break;
        case 'T': template_name = v; break;
        case 'c': full = v; break;
        case 'k': top_k = atoi(v); break;
        case 'r': repeat_penalty = (float)atof(v); break;
        case 'l': load = v; break;
        case 'j':
            threads = atoi(v);
            if (threads < 0) error_usage();
            break;
        default: error_usage();
        }
    }
    const int chat_mode = strcmp(mode, "chat") == 0;
    if (!chat_mode && strcmp(mode, "generate") != 0) {
        fprintf(stderr, "unknown mode: %s\n", mode);
        error_usage();
    }
    /* The same overrides as run.c, so equal arguments mean equal runs. */
    if (rng_seed == 0) rng_seed = (unsigned int)time(NULL);
    if (temperature < 0.0f) temperature = 0.0f;
    if (topp < 0.0f || 1.0f < topp) topp = 0.9f;
    if (steps < 0) steps = 0;
    if (top_k < 0) top_k = 0;
    if (!(repeat_penalty > 0.0f)) repeat_penalty = 1.0f;
    if (strcmp(load, "auto") != 0 && strcmp(load, "map") != 0) {
        fprintf(stderr, "unknown loading: %s (auto or map)\n", load);
        error_usage();
    }
    if (strcmp(full, "shift") != 0 && strcmp(full, "stop") != 0) {
        fprintf(stderr, "unknown context policy: %s (shift or stop)\n", full);
        error_usage();
    }
    if (template_name && !llm_chat_template_find(template_name)) {
        fprintf(stderr, "unknown chat template: %s (llama2 or zephyr)\n", template_name);
        error_usage();
    }

    llm_port port = {log_stderr, now_us, NULL, NULL};
    /* More threads than cores only take turns on them, and a thread waiting
     * for its turn delays the step: cap rather than obey. */
    const uint32_t cores = llm_posix_cores();
    if (threads == 0) {
        threads = (int)cores;
    } else if ((uint32_t)threads > cores) {
        fprintf(stderr, "note: -j %d capped to %u, the cores online\n", threads, (unsigned)cores);
        threads = (int)cores;
    }
    if (threads > 1) {
        /* Each row and attention head is computed as with one thread, so the
         * text is the same; only the time changes. */
        const uint32_t got = llm_posix_pool_start((uint32_t)threads);
        if (got != (uint32_t)threads)
            fprintf(stderr, "note: running %u thread(s), not %d\n", (unsigned)got, threads);
        /* Jobs too small to gain from threads (a 260K model's) or a busy
         * machine: the pool runs such jobs on this thread alone. */
        llm_posix_pool_adapt(1);
        if (got > 1) port.parallel_for = llm_posix_parallel_for;
    }
    llm_port_set(&port);

    int rc = EXIT_FAILURE;
    file_data model_file, tok_file;
    memset(&tok_file, 0, sizeof tok_file);
    void *arena_block = NULL;
    if (load_file(checkpoint_path, &model_file, strcmp(load, "auto") == 0) != 0)
        return EXIT_FAILURE;

    llm_model model;
    llm_status st = llm_model_open(&model, model_file.data, model_file.size);
    if (st != LLM_OK) {
        fprintf(stderr, "Couldn't load model %s: %s\n", checkpoint_path, llm_status_str(st));
        goto done;
    }

    llm_params params = llm_params_default();
    if (!tokenizer_path && !model.tokenizer) tokenizer_path = "tokenizer.bin";
    if (tokenizer_path) {
        if (load_file(tokenizer_path, &tok_file, 0) != 0) {
            if (!model.tokenizer)
                fprintf(stderr, "%s has no embedded tokenizer; give one with -z\n", checkpoint_path);
            goto done;
        }
        params.tokenizer = tok_file.data;
        params.tokenizer_size = tok_file.size;
    }

    size_t arena_size = 0;
    st = llm_arena_size(&model, &params, &arena_size);
    if (st != LLM_OK) {
        fprintf(stderr, "Couldn't size the arena for %s (tokenizer %s): %s\n", checkpoint_path,
                tokenizer_path ? tokenizer_path : "embedded", llm_status_str(st));
        goto done;
    }
    void *arena = alloc_aligned(arena_size, LLM_ARENA_ALIGN, &arena_block);
    if (!arena) {
        fprintf(stderr, "Out of memory: the arena needs %zu bytes\n", arena_size);
        goto done;
    }
    llm_ctx ctx;
    st = llm_init(&ctx, &model, &params, arena, arena_size);
    if (st != LLM_OK) {
        fprintf(stderr, "Couldn't initialise %s (tokenizer %s): %s\n", checkpoint_path,
                tokenizer_path ? tokenizer_path : "embedded", llm_status_str(st));
        goto done;
    }

    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = temperature;
    sp.top_p = topp;
    sp.top_k = (uint32_t)top_k;
    sp.repeat_penalty = repeat_penalty;
    sp.seed = rng_seed;
    llm_sampler_set(&ctx, &sp);

    if (chat_mode) {
        const llm_chat_template *t = template_name ? llm_chat_template_find(template_name)
                                                   : llm_chat_template_of(&model);
        if (!t) t = llm_chat_template_find("llama2");
        fprintf(stderr, "chat template: %s\n", llm_chat_template_name(t));
        if (chat(&ctx, t, system_prompt, prompt, (uint32_t)steps, strcmp(full, "shift") == 0) == 0)
            rc = 0;
        goto done;
    }

    llm_gen_params g;
    memset(&g, 0, sizeof g);
    g.prompt = prompt ? prompt : "";
    g.n_steps = (uint32_t)steps; /* 0 and > seq_len mean the whole context */
    g.echo_prompt = 1;
    g.on_piece = print_piece;

    llm_gen_stats stats;
    memset(&stats, 0, sizeof stats);
    uint64_t t0 = now_us(NULL);
    st = llm_generate(&ctx, &g, &stats);
    uint64_t t1 = now_us(NULL);
    printf("\n");
    fflush(stdout);
    if (st != LLM_OK) {
        fprintf(stderr, "Generation with %s failed: %s\n", checkpoint_path, llm_status_str(st));
        goto done;
    }

    /* Forward passes per second over the whole generation, prompt included:
     * the last sampled token is run only when it was an end token (EOS). */
    uint32_t n_pos = stats.n_prompt + stats.n_generated - (stats.end == LLM_END_EOS ? 0u : 1u);
    if (n_pos > 1 && t1 > t0)
        fprintf(stderr, "achieved tok/s: %f\n", (double)n_pos / ((double)(t1 - t0) / 1e6));
    if (stats.prefill_us)
        fprintf(stderr, "prefill: %u tokens, %.1f tok/s\n", (unsigned)stats.n_prompt,
                (double)stats.n_prompt / ((double)stats.prefill_us / 1e6));
    if (stats.decode_us)
        fprintf(stderr, "decode: %u tokens, %.1f tok/s\n", (unsigned)stats.n_generated,
                (double)stats.n_generated / ((double)stats.decode_us / 1e6));
    fprintf(stderr, "arena: %zu bytes; end: %s\n", llm_arena_used(&ctx), llm_end_str(stats.end));
    fprintf(stderr, "threads: %u\n", (unsigned)llm_posix_pool_workers());
    if (model_file.page)
        fprintf(stderr, "model: %zu bytes copied onto %zu KB pages\n", model_file.size,
                model_file.page / 1024);
    else
        fprintf(stderr, "model: %zu bytes %s\n", model_file.size,
                model_file.map ? "mapped" : "read");
    rc = 0;

done:
    llm_posix_pool_stop();
    free(arena_block);
    unload_file(&tok_file);
    unload_file(&model_file);
    return rc;
}
