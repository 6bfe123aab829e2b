/*
 * kernel <op> <dims...> <scale> <seed>: run the dispatched kernel llm_k_<op>
 * and the reference llm_ref_<op> on the same pseudo-random inputs and print
 * both outputs ("k=" and "ref=", float bits as hex).
 *
 * Inputs come from xorshift64* (as llm's sampler; seed 0 means 1), drawn in
 * the order listed: each value is scale * (2 * f - 1) in float32, f being
 * the generator's next float in [0, 1). Ops and their inputs:
 *   matvec_f32 <d> <n>            w(d, n), x(n)            -> out(d)
 *   rmsnorm <n>                   x(n), w(n), eps 1e-5     -> out(n), and
 *                                 k_inplace: the dispatched kernel with out == x
 *   softmax <n>                   x(n)                     -> x(n)
 *   rope <n_heads> <head_size>    v(n_heads, head_size), then per pair j an
 *                                 angle a = 3.14159265f * (2 f - 1) (not scaled),
 *                                 cs[2j] = cosf(a), cs[2j+1] = sinf(a), printed
 *                                 as "cs="                 -> v
 *   swiglu <n>                    hb(n), hb2(n)            -> hb(n)
 *   add <n>                       x(n), y(n)               -> x(n)
 *   attention <n_pos> <hs> <stride>  q(hs), k(n_pos, stride), v(n_pos, stride)
 *                                                          -> out(hs)
 *   argmax <n>                    x(n) = floorf(scale * (2 f - 1)), so a small
 *                                 scale gives ties        -> index (decimal)
 * Every buffer is allocated with exactly its size.
 */
#include <math.h>
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_rng.h"
#include "fw_state.h"
#include "kernels/kernels.h"


static void fill(rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * (2.0f * rng_f32(r) - 1.0f);
}

#define MAX_BUFS 8

/* The buffers of one kernel command, freed together. */
typedef struct bufs {
    float *p[MAX_BUFS];
    int n;
    int failed;
} bufs;

static float *take(bufs *b, size_t n_floats) {
    float *p = fw_port_alloc(n_floats * sizeof(float));
    if (p == NULL) b->failed = 1;
    b->p[b->n++] = p;
    return p;
}

static void release(bufs *b) {
    for (int i = 0; i < b->n; i++) fw_port_free(b->p[i]);
}

/* Parse exactly n_dims positive dimensions, then scale and seed. */
static int parse_args(char *args, uint32_t *dims, int n_dims, float *scale, uint64_t *seed) {
    for (int i = 0; i < n_dims; i++) {
        if (fw_parse_u32(fw_word(&args), &dims[i]) != 0 || dims[i] == 0 || dims[i] > (1u << 20))
            return -1;
    }
    if (fw_parse_f32(fw_word(&args), scale) != 0 || fw_parse_u64(fw_word(&args), seed) != 0)
        return -1;
    return fw_word(&args) == NULL ? 0 : -1;
}

void fw_cmd_kernel(const char *cmd, char *args) {
    static const struct {
        const char *name;
        int n_dims;
    } ops[] = {{"matvec_f32", 2}, {"rmsnorm", 1}, {"softmax", 1}, {"rope", 2},
               {"swiglu", 1},     {"add", 1},     {"attention", 3}, {"argmax", 1}};
    char *op = fw_word(&args);
    int which = -1;
    for (int i = 0; op != NULL && i < (int)(sizeof ops / sizeof ops[0]); i++) {
        if (strcmp(op, ops[i].name) == 0) which = i;
    }
    uint32_t d[3] = {0, 0, 0};
    float scale;
    uint64_t seed;
    if (which < 0 || parse_args(args, d, ops[which].n_dims, &scale, &seed) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    rng r = {seed != 0 ? seed : 1};
    bufs b;
    memset(&b, 0, sizeof b);

    switch (which) {
    case 0: { /* matvec_f32 */
        const size_t dd = d[0], n = d[1];
        float *w = take(&b, dd * n), *x = take(&b, n), *k = take(&b, dd), *ref = take(&b, dd);
        if (b.failed) break;
        fill(&r, w, dd * n, scale);
        fill(&r, x, n, scale);
        llm_k_matvec_f32(k, w, x, d[0], d[1]);
        llm_ref_matvec_f32(ref, w, x, d[0], d[1]);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, dd);
        fw_out_kv_f32_hex("ref", ref, dd);
        fw_out_end();
        break;
    }
    case 1: { /* rmsnorm */
        const size_t n = d[0];
        float *x = take(&b, n), *w = take(&b, n), *k = take(&b, n), *ref = take(&b, n),
              *inplace = take(&b, n);
        if (b.failed) break;
        fill(&r, x, n, scale);
        fill(&r, w, n, scale);
        memcpy(inplace, x, n * sizeof(float));
        llm_k_rmsnorm(k, x, w, d[0], 1e-5f);
        llm_ref_rmsnorm(ref, x, w, d[0], 1e-5f);
        llm_k_rmsnorm(inplace, inplace, w, d[0], 1e-5f);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, n);
        fw_out_kv_f32_hex("ref", ref, n);
        fw_out_kv_f32_hex("k_inplace", inplace, n);
        fw_out_end();
        break;
    }
    case 2: { /* softmax */
        const size_t n = d[0];
        float *k = take(&b, n), *ref = take(&b, n);
        if (b.failed) break;
        fill(&r, k, n, scale);
        memcpy(ref, k, n * sizeof(float));
        llm_k_softmax(k, d[0]);
        llm_ref_softmax(ref, d[0]);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, n);
        fw_out_kv_f32_hex("ref", ref, n);
        fw_out_end();
        break;
    }
    case 3: { /* rope */
        const size_t n = (size_t)d[0] * d[1], half = d[1] / 2;
        if (d[1] % 2 != 0) {
            b.failed = 2;
            break;
        }
        float *k = take(&b, n), *ref = take(&b, n), *cs = take(&b, 2 * half);
        if (b.failed) break;
        fill(&r, k, n, scale);
        memcpy(ref, k, n * sizeof(float));
        for (size_t j = 0; j < half; j++) {
            const float a = 3.14159265f * (2.0f * rng_f32(&r) - 1.0f);
            cs[2 * j] = cosf(a);
            cs[2 * j + 1] = sinf(a);
        }
        llm_k_rope(k, d[0], d[1], cs);
        llm_ref_rope(ref, d[0], d[1], cs);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, n);
        fw_out_kv_f32_hex("ref", ref, n);
        fw_out_kv_f32_hex("cs", cs, 2 * half);
        fw_out_end();
        break;
    }
    case 4:   /* swiglu */
    case 5: { /* add */
        const size_t n = d[0];
        float *k = take(&b, n), *y = take(&b, n), *ref = take(&b, n);
        if (b.failed) break;
        fill(&r, k, n, scale);
        fill(&r, y, n, scale);
        memcpy(ref, k, n * sizeof(float));
        if (which == 4) {
            llm_k_swiglu(k, y, d[0]);
            llm_ref_swiglu(ref, y, d[0]);
        } else {
            llm_k_add(k, y, d[0]);
            llm_ref_add(ref, y, d[0]);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, n);
        fw_out_kv_f32_hex("ref", ref, n);
        fw_out_end();
        break;
    }
    case 6: { /* attention */
        const size_t n_pos = d[0], hs = d[1], stride = d[2];
        if (stride < hs) {
            b.failed = 2;
            break;
        }
        float *q = take(&b, hs), *kc = take(&b, n_pos * stride), *vc = take(&b, n_pos * stride),
              *k = take(&b, hs), *ref = take(&b, hs), *att = take(&b, n_pos);
        if (b.failed) break;
        fill(&r, q, hs, scale);
        fill(&r, kc, n_pos * stride, scale);
        fill(&r, vc, n_pos * stride, scale);
        llm_k_attention(k, q, kc, vc, d[0], d[1], d[2], att);
        llm_ref_attention(ref, q, kc, vc, d[0], d[1], d[2], att);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, hs);
        fw_out_kv_f32_hex("ref", ref, hs);
        fw_out_end();
        break;
    }
    case 7: { /* argmax */
        const size_t n = d[0];
        float *x = take(&b, n);
        if (b.failed) break;
        for (size_t i = 0; i < n; i++) x[i] = floorf(scale * (2.0f * rng_f32(&r) - 1.0f));
        uint32_t k = llm_k_argmax(x, d[0]);
        uint32_t ref = llm_ref_argmax(x, d[0]);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_u("k", k);
        fw_out_kv_u("ref", ref);
        fw_out_end();
        break;
    }
    default:
        break;
    }
    if (b.failed) fw_reply_error(cmd, b.failed == 2 ? "usage" : "out_of_memory");
    release(&b);
}
