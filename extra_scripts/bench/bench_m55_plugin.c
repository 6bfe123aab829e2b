/*
 * QEMU TCG plugin of extra_scripts/bench/bench_m55.py: counts the instructions the
 * guest executes per profiling region, and among them the "vector" ones
 * (Helium instructions on Q registers, which a Cortex-M55 issues over two
 * beats while QEMU counts each as one).
 *
 * Arguments (-plugin file=bench_m55_plugin.so,arg=value,...):
 *   vec=PATH     text file, one hex guest address per line: the vector
 *                instructions (bench_m55.py finds them with objdump)
 *   hook=LO:HI   hex address range of the firmware's llm_profile_region();
 *                its stores into the slot array switch the current region
 *   slots=BASE:N hex address and count of board_prof_entries[]: a store to
 *                slot r enters region r
 *   out=PATH     where the counts are written at exit
 *   hot=PATH     optional: also write every translation block's address,
 *                instruction count and executions (for finding hot loops)
 *   skip=LO:HI   optional, repeatable: hex address range (a wait loop of a
 *                two-core firmware) whose blocks count nowhere
 * Per vCPU (vcpu<i> lines, i < MAX_VCPUS), the instructions run inside
 * forward passes (any region but 0), so that each core of a two-core
 * firmware gets its own count; the worker core runs in the region the main
 * core last entered.
 * Region 0 is "outside" (between forward passes): its counts are held back
 * and added only when another region follows, so the set-up before the
 * first forward pass and whatever follows the last one are left out (they
 * are reported apart, as "setup" and "tail").
 *
 * Built by bench_m55.py with the host C compiler against QEMU's plugin API
 * version 1 (used with Debian 12's QEMU 7.2). Debian does not ship
 * qemu-plugin.h, so the few declarations used are written out below, from
 * QEMU's documented API; with -DHAVE_QEMU_PLUGIN_H the real header is used.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_QEMU_PLUGIN_H
#include <qemu-plugin.h>
#else
typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define QEMU_PLUGIN_VERSION 1
#endif

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv);

#define MAX_REGIONS 16
#define MAX_VCPUS 4
#define MAX_SKIPS 8

typedef struct counts {
    uint64_t insns, vec;
} counts;

/* What one translation block adds each time it runs. */
typedef struct tb_info {
    uint32_t insns, vec;
    bool skip;             /* starts in a skip= range */
    uint64_t pc, runs;     /* first instruction's address, executions */
    struct tb_info *next;  /* all blocks, for hot= */
} tb_info;

static uint64_t *vec_addrs; /* (n_vec) sorted */
static size_t n_vec;
static uint64_t hook_lo, hook_hi, slot_base;
static unsigned n_slots;
static char out_path[4096], hot_path[4096];
static tb_info *all_tbs;

static int region = -1;              /* -1 until the first hook call: setup */
static counts per_region[MAX_REGIONS];
static counts setup, pending;        /* pending: region 0 not yet followed */
static uint64_t hook_calls, passes; /* passes: times region 0 (or setup) was left */
static counts per_vcpu[MAX_VCPUS];   /* inside forward passes */
static uint64_t skip_lo[MAX_SKIPS], skip_hi[MAX_SKIPS];
static unsigned n_skips;

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool is_vec(uint64_t addr) {
    size_t lo = 0, hi = n_vec;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (vec_addrs[mid] < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < n_vec && vec_addrs[lo] == addr;
}

static void tb_exec(unsigned int vcpu, void *udata) {
    const tb_info *t = (const tb_info *)udata;
    ((tb_info *)udata)->runs++;
    if (t->skip) return;
    counts *c = region < 0 ? &setup : region == 0 ? &pending : &per_region[region];
    c->insns += t->insns;
    c->vec += t->vec;
    if (region > 0 && vcpu < MAX_VCPUS) {
        per_vcpu[vcpu].insns += t->insns;
        per_vcpu[vcpu].vec += t->vec;
    }
}

static void hook_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata) {
    (void)vcpu;
    (void)info;
    (void)udata;
    if (vaddr < slot_base || vaddr >= slot_base + 4u * n_slots) return; /* e.g. a stack push */
    const int next = (int)((vaddr - slot_base) / 4u);
    if (next != 0 && region == 0) { /* outside time between two forward passes */
        per_region[0].insns += pending.insns;
        per_region[0].vec += pending.vec;
        pending.insns = pending.vec = 0;
    }
    if (next != 0 && region <= 0) passes++;
    region = next;
    hook_calls++;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    const size_t n = qemu_plugin_tb_n_insns(tb);
    tb_info *t = calloc(1, sizeof *t); /* lives as long as the block may run */
    if (t == NULL) abort();
    t->insns = (uint32_t)n;
    t->pc = n ? qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0)) : 0;
    for (unsigned k = 0; k < n_skips; k++) t->skip |= t->pc >= skip_lo[k] && t->pc < skip_hi[k];
    t->next = all_tbs;
    all_tbs = t;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        const uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (is_vec(pc)) t->vec++;
        if (pc >= hook_lo && pc < hook_hi) {
            qemu_plugin_register_vcpu_mem_cb(insn, hook_store, QEMU_PLUGIN_CB_NO_REGS,
                                             QEMU_PLUGIN_MEM_W, NULL);
        }
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void write_counts(FILE *f, const char *name, const counts *c) {
    fprintf(f, "%s insns=%" PRIu64 " vec=%" PRIu64 "\n", name, c->insns, c->vec);
}

static void at_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    FILE *f = fopen(out_path, "w");
    if (f == NULL) {
        perror(out_path);
        return;
    }
    fprintf(f, "hook_calls=%" PRIu64 " passes=%" PRIu64 " vec_addrs=%zu\n", hook_calls, passes,
            n_vec);
    write_counts(f, "setup", &setup);
    write_counts(f, "tail", &pending);
    for (unsigned r = 0; r < n_slots; r++) {
        char name[32];
        snprintf(name, sizeof name, "region%u", r);
        write_counts(f, name, &per_region[r]);
    }
    for (unsigned v = 0; v < MAX_VCPUS; v++) {
        char name[32];
        snprintf(name, sizeof name, "vcpu%u", v);
        write_counts(f, name, &per_vcpu[v]);
    }
    fclose(f);
    if (hot_path[0] == '\0') return;
    f = fopen(hot_path, "w");
    if (f == NULL) {
        perror(hot_path);
        return;
    }
    for (const tb_info *t = all_tbs; t != NULL; t = t->next) {
        if (t->runs) fprintf(f, "%" PRIx64 " %u %u %" PRIu64 "\n", t->pc, t->insns, t->vec, t->runs);
    }
    fclose(f);
}

static int load_vec(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    size_t cap = 1024;
    vec_addrs = malloc(cap * sizeof *vec_addrs);
    char line[64];
    while (vec_addrs != NULL && fgets(line, sizeof line, f) != NULL) {
        if (n_vec == cap) {
            cap *= 2;
            vec_addrs = realloc(vec_addrs, cap * sizeof *vec_addrs);
            if (vec_addrs == NULL) break;
        }
        vec_addrs[n_vec++] = strtoull(line, NULL, 16);
    }
    fclose(f);
    if (vec_addrs == NULL) return -1;
    qsort(vec_addrs, n_vec, sizeof *vec_addrs, cmp_u64);
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv) {
    (void)info;
    bool have_vec = false, have_hook = false, have_slots = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "vec=", 4) == 0) {
            if (load_vec(a + 4) != 0) return -1;
            have_vec = true;
        } else if (strncmp(a, "hook=", 5) == 0) {
            have_hook = sscanf(a + 5, "%" SCNx64 ":%" SCNx64, &hook_lo, &hook_hi) == 2;
        } else if (strncmp(a, "slots=", 6) == 0) {
            have_slots = sscanf(a + 6, "%" SCNx64 ":%u", &slot_base, &n_slots) == 2 &&
                         n_slots >= 1 && n_slots <= MAX_REGIONS;
        } else if (strncmp(a, "hot=", 4) == 0) {
            snprintf(hot_path, sizeof hot_path, "%s", a + 4);
        } else if (strncmp(a, "skip=", 5) == 0) {
            if (n_skips == MAX_SKIPS || sscanf(a + 5, "%" SCNx64 ":%" SCNx64, &skip_lo[n_skips],
                                               &skip_hi[n_skips]) != 2) {
                fprintf(stderr, "bench_m55_plugin: bad or too many skip= %s\n", a);
                return -1;
            }
            n_skips++;
        } else if (strncmp(a, "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", a + 4);
        } else {
            fprintf(stderr, "bench_m55_plugin: unknown argument %s\n", a);
            return -1;
        }
    }
    if (!have_vec || !have_hook || !have_slots || out_path[0] == '\0') {
        fprintf(stderr, "bench_m55_plugin: needs vec=, hook=LO:HI, slots=BASE:N and out=\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
