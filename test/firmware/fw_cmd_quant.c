/*
 * Commands for quantized weights and KV caches.
 *
 * teacher <pos0> <ids>
 *     Teacher-forced llm_forward of ids (comma-separated) at positions
 *     pos0, pos0+1, ... on the device: logprobs=<n-1 floats> the natural log
 *     of the softmax probability of ids[i+1] after ids[i] (float32:
 *     l - max - logf(sum expf(l - max)), sums in order), top1=<n ids> the
 *     first argmax after each id, sum=<float> the sum of the log-probs in
 *     order. Perplexity and top-1 agreement are computed from these on the host.
 *
 * qkernel <op> <dims...> <scale> <seed>
 *     Dispatched llm_k_<op> and reference llm_ref_<op> on the same
 *     pseudo-random inputs; prints "k=" and "ref=" (and for some ops more
 *     outputs, each as k_<name>= and ref_<name>=). Inputs come from
 *     xorshift64* (seed 0 means 1), drawn in the order listed, with f the
 *     generator's next float in [0, 1):
 *       float value   scale * (2f - 1)
 *       q8 code       (u32 % 255) - 127
 *       q4 byte       u32 & 0xFF (two codes)
 *       bf16 scale    top 16 bits of the float scale * (0.25 + f)
 *       bf16 offset   top 16 bits of the float scale * (2f - 1)
 *       f16 value     llm_f32_to_f16 of a float value
 *     n_pad = llm_q_cols_pad(is_q4, n, gs), ng = n_pad / gs. Ops:
 *       quantize_q8 <n> <gs>         x(n) -> xq(n_pad) int8 hex, xs(ng) floats,
 *                                    xsum(ng) ints (keys k/ref, k_xs/ref_xs, k_xsum/ref_xsum)
 *       matvec_q8 <d> <n> <gs>       codes(d, n_pad) q8, scales(d, ng) bf16, x(n);
 *                                    x quantized by the reference -> out(d)
 *       matvec_q4 <d> <n> <gs>       bytes(d, n_pad/2) q4, then per row and group
 *                                    a bf16 scale and a bf16 offset, x(n) -> out(d)
 *                                    (both mat-vecs: an optional last word mis=<m>,
 *                                    m in 0..15, starts the codes and xq m bytes
 *                                    past their 16-byte-aligned blocks)
 *       dequant_q8 <n> <gs>          codes(n_pad), scales(ng) -> out(n)
 *       dequant_q4 <n> <gs>          bytes(n_pad/2), (scale, offset)(ng) -> out(n)
 *       kv_store_q8 <n_heads> <hs>   src(n_heads*hs) -> q (hex), scales (hex, u16 LE)
 *       kv_store_f16 <n>             src(n) -> u16 LE hex
 *       attention_f16 <n_pos> <hs> <stride>
 *                                    q(hs), k(n_pos*stride) f16, v(n_pos*stride) f16 -> out(hs)
 *       attention_q8 <n_pos> <hs> <stride>
 *                                    q(hs) quantized as one cache head, k(n_pos*stride)
 *                                    q8 codes, ks(n_pos) scales, v(n_pos*stride) q8
 *                                    codes, vs(n_pos) scales -> out(hs) (mis=<m> as
 *                                    for the mat-vecs: k and v start m bytes in)
 * Every buffer is allocated with exactly its size (ESP-DSP-style over-reads
 * are the backend's to avoid), so the sanitizer build catches overruns.
 */
#include <math.h>
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_rng.h"
#include "fw_state.h"
#include "kernels/kernels.h"

/* ------------------------------------------------------------------ teacher */

void fw_cmd_teacher(const char *cmd, char *args) {
    uint32_t pos0;
    char *w_pos = fw_word(&args), *w_ids = fw_word(&args);
    if (fw_parse_u32(w_pos, &pos0) != 0 || w_ids == NULL || fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    size_t n = 1;
    for (const char *p = w_ids; *p != '\0'; p++) n += *p == ',';
    int32_t *ids = fw_port_alloc(n * sizeof(int32_t));  /* (n) */
    int32_t *top1 = fw_port_alloc(n * sizeof(int32_t)); /* (n) */
    float *lp = fw_port_alloc(n * sizeof(float));       /* (n - 1) used */
    if (ids == NULL || top1 == NULL || lp == NULL) {
        fw_reply_error(cmd, "out_of_memory");
    } else if (fw_parse_i32_list(w_ids, ids, n) != (long)n) {
        fw_reply_error(cmd, "ids");
    } else {
        const uint32_t vocab = fw.model.config.vocab_size;
        llm_status s = LLM_OK;
        float sum = 0.0f;
        size_t i;
        for (i = 0; i < n && s == LLM_OK; i++) {
            float *logits = NULL;
            s = llm_forward(&fw.ctx, ids[i], pos0 + (uint32_t)i, &logits);
            if (s != LLM_OK) break;
            top1[i] = (int32_t)llm_ref_argmax(logits, vocab);
            if (i + 1 < n) {
                if (ids[i + 1] < 0 || (uint32_t)ids[i + 1] >= vocab) {
                    s = LLM_ERR_ARG;
                    break;
                }
                float mx = logits[0];
                for (uint32_t t = 1; t < vocab; t++) mx = logits[t] > mx ? logits[t] : mx;
                float se = 0.0f;
                for (uint32_t t = 0; t < vocab; t++) se += expf(logits[t] - mx);
                lp[i] = (logits[ids[i + 1]] - mx) - logf(se);
                sum += lp[i];
            }
        }
        fw_out_begin(cmd, s);
        fw_out_kv_u("n", i);
        if (s == LLM_OK) {
            fw_out_str(" logprobs=");
            fw_out_f32_hex(lp, n - 1);
            fw_out_str(" sum=");
            fw_out_f32_hex(&sum, 1);
            fw_out_str(" top1=");
            for (size_t k = 0; k < n; k++) {
                if (k > 0) fw_out_str(",");
                fw_out_i(top1[k]);
            }
        }
        fw_out_end();
    }
    fw_port_free(ids);
    fw_port_free(top1);
    fw_port_free(lp);
}

/* ------------------------------------------------------------------ qkernel */


static float draw_value(rng *r, float scale) {
    return scale * (2.0f * rng_f32(r) - 1.0f);
}

static uint16_t top_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(u >> 16);
}

static void fill_values(rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = draw_value(r, scale);
}

static void fill_q8(rng *r, int8_t *q, size_t n) {
    for (size_t i = 0; i < n; i++) q[i] = (int8_t)((int)(rng_u32(r) % 255U) - 127);
}

static void fill_bytes(rng *r, uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(rng_u32(r) & 0xFFU);
}

static void fill_scales(rng *r, uint16_t *s, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) s[i] = top_bits(scale * (0.25f + rng_f32(r)));
}

/* Random q4 or q8 weights: codes(code_bytes), then params(n_params) bf16 as
 * the dtype has them (q4: scale, offset per group; q8: scale per group). */
static void fill_qweights(rng *r, int q4, uint8_t *codes, size_t code_bytes, uint16_t *params,
                          size_t n_params, float scale) {
    if (q4) {
        fill_bytes(r, codes, code_bytes);
        for (size_t i = 0; i < n_params; i += 2) {
            params[i] = top_bits(scale * (0.25f + rng_f32(r)));
            params[i + 1] = top_bits(draw_value(r, scale));
        }
    } else {
        fill_q8(r, (int8_t *)codes, code_bytes);
        fill_scales(r, params, n_params, scale);
    }
}

/* Little-endian bytes of n uint16 values, for hex output. */
static void out_u16(const char *key, const uint16_t *v, size_t n) {
    fw_out_key(key);
    if (n == 0) fw_out_str("-");
    for (size_t i = 0; i < n; i++) {
        const uint8_t b[2] = {(uint8_t)(v[i] & 0xFFU), (uint8_t)(v[i] >> 8)};
        fw_out_hex(b, 2);
    }
}

static void out_i32(const char *key, const int32_t *v, size_t n) {
    fw_out_key(key);
    if (n == 0) fw_out_str("-");
    for (size_t i = 0; i < n; i++) {
        if (i > 0) fw_out_str(",");
        fw_out_i(v[i]);
    }
}

#define MAX_BUFS 12

/* The buffers of one command, freed together. */
typedef struct bufs {
    void *p[MAX_BUFS];
    int n;
    int failed;
} bufs;

static void *take(bufs *b, size_t bytes) {
    void *p = fw_port_alloc(bytes);
    if (p == NULL) b->failed = 1;
    b->p[b->n++] = p;
    return p;
}

static void release(bufs *b) {
    for (int i = 0; i < b->n; i++) fw_port_free(b->p[i]);
}

enum {
    OP_QUANTIZE, OP_MATVEC_Q8, OP_MATVEC_Q4, OP_DEQUANT_Q8, OP_DEQUANT_Q4, OP_KV_Q8, OP_KV_F16,
    OP_ATT_F16, OP_ATT_Q8, OP_COUNT
};

static const struct {
    const char *name;
    int n_dims;
    int gs_dim; /* index of the group size among the dims, -1 if none */
} ops[OP_COUNT] = {
    {"quantize_q8", 2, 1},   {"matvec_q8", 3, 2},   {"matvec_q4", 3, 2},
    {"dequant_q8", 2, 1},    {"dequant_q4", 2, 1},  {"kv_store_q8", 2, -1},
    {"kv_store_f16", 1, -1}, {"attention_f16", 3, -1}, {"attention_q8", 3, -1},
};

/* Runs op on inputs from r; prints the whole reply line unless b->failed. */
static void run_op(const char *cmd, int op, const uint32_t *d, float scale, uint32_t mis, rng *r,
                   bufs *b) {
    switch (op) {
    case OP_QUANTIZE: {
        const uint32_t n = d[0], gs = d[1], n_pad = llm_q_cols_pad(0, n, gs), ng = n_pad / gs;
        float *x = take(b, n * sizeof(float));
        int8_t *kq = take(b, n_pad), *rq = take(b, n_pad);
        float *ks = take(b, ng * sizeof(float)), *rs = take(b, ng * sizeof(float));
        int32_t *ksum = take(b, ng * sizeof(int32_t)), *rsum = take(b, ng * sizeof(int32_t));
        if (b->failed) return;
        fill_values(r, x, n, scale);
        llm_k_quantize_q8(kq, ks, ksum, x, n, n_pad, gs);
        llm_ref_quantize_q8(rq, rs, rsum, x, n, n_pad, gs);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_hex("k", kq, n_pad);
        fw_out_kv_hex("ref", rq, n_pad);
        fw_out_kv_f32_hex("k_xs", ks, ng);
        fw_out_kv_f32_hex("ref_xs", rs, ng);
        out_i32("k_xsum", ksum, ng);
        out_i32("ref_xsum", rsum, ng);
        break;
    }
    case OP_MATVEC_Q8:
    case OP_MATVEC_Q4: {
        const int q4 = op == OP_MATVEC_Q4;
        const uint32_t rows = d[0], n = d[1], gs = d[2];
        const uint32_t n_pad = llm_q_cols_pad(q4, n, gs), ng = n_pad / gs;
        const size_t code_bytes = (size_t)rows * llm_q_row_bytes(q4, n_pad);
        const size_t n_params = (size_t)rows * ng * llm_q_group_params(q4);
        uint8_t *codes = take(b, code_bytes + mis);
        uint16_t *params = take(b, n_params * sizeof(uint16_t));
        float *x = take(b, n * sizeof(float));
        int8_t *xq = take(b, n_pad + mis);
        float *xs = take(b, ng * sizeof(float));
        int32_t *xsum = take(b, ng * sizeof(int32_t));
        float *k = take(b, rows * sizeof(float)), *ref = take(b, rows * sizeof(float));
        if (b->failed) return;
        codes += mis;
        xq += mis;
        fill_qweights(r, q4, codes, code_bytes, params, n_params, scale);
        fill_values(r, x, n, 1.0f);
        llm_ref_quantize_q8(xq, xs, xsum, x, n, n_pad, gs);
        if (q4) {
            llm_k_matvec_q4(k, codes, params, xq, xs, xsum, rows, n_pad, gs);
            llm_ref_matvec_q4(ref, codes, params, xq, xs, xsum, rows, n_pad, gs);
        } else {
            llm_k_matvec_q8(k, (const int8_t *)codes, params, xq, xs, rows, n_pad, gs);
            llm_ref_matvec_q8(ref, (const int8_t *)codes, params, xq, xs, rows, n_pad, gs);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, rows);
        fw_out_kv_f32_hex("ref", ref, rows);
        break;
    }
    case OP_DEQUANT_Q8:
    case OP_DEQUANT_Q4: {
        const int q4 = op == OP_DEQUANT_Q4;
        const uint32_t n = d[0], gs = d[1], n_pad = llm_q_cols_pad(q4, n, gs), ng = n_pad / gs;
        const size_t code_bytes = llm_q_row_bytes(q4, n_pad);
        const size_t n_params = (size_t)ng * llm_q_group_params(q4);
        uint8_t *codes = take(b, code_bytes);
        uint16_t *params = take(b, n_params * sizeof(uint16_t));
        float *k = take(b, n * sizeof(float)), *ref = take(b, n * sizeof(float));
        if (b->failed) return;
        fill_qweights(r, q4, codes, code_bytes, params, n_params, scale);
        if (q4) {
            llm_k_dequant_q4(k, codes, params, n, gs);
            llm_ref_dequant_q4(ref, codes, params, n, gs);
        } else {
            llm_k_dequant_q8(k, (const int8_t *)codes, params, n, gs);
            llm_ref_dequant_q8(ref, (const int8_t *)codes, params, n, gs);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, n);
        fw_out_kv_f32_hex("ref", ref, n);
        break;
    }
    case OP_KV_Q8: {
        const size_t nh = d[0], hs = d[1], n = nh * hs;
        float *x = take(b, n * sizeof(float));
        int8_t *kq = take(b, n), *rq = take(b, n);
        uint16_t *ks = take(b, nh * sizeof(uint16_t)), *rs = take(b, nh * sizeof(uint16_t));
        if (b->failed) return;
        fill_values(r, x, n, scale);
        llm_k_kv_store_q8(kq, ks, x, d[0], d[1]);
        llm_ref_kv_store_q8(rq, rs, x, d[0], d[1]);
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_hex("k", kq, n);
        fw_out_kv_hex("ref", rq, n);
        out_u16("k_scale", ks, nh);
        out_u16("ref_scale", rs, nh);
        break;
    }
    case OP_KV_F16: {
        const size_t n = d[0];
        float *x = take(b, n * sizeof(float));
        uint16_t *k = take(b, n * sizeof(uint16_t)), *ref = take(b, n * sizeof(uint16_t));
        if (b->failed) return;
        fill_values(r, x, n, scale);
        llm_k_kv_store_f16(k, x, d[0]);
        llm_ref_kv_store_f16(ref, x, d[0]);
        fw_out_begin(cmd, LLM_OK);
        out_u16("k", k, n);
        out_u16("ref", ref, n);
        break;
    }
    case OP_ATT_F16:
    case OP_ATT_Q8: {
        const size_t n_pos = d[0], hs = d[1], stride = d[2], n = n_pos * stride;
        if (stride < hs) {
            b->failed = 2;
            return;
        }
        const size_t elem = op == OP_ATT_F16 ? sizeof(uint16_t) : sizeof(int8_t);
        float *q = take(b, hs * sizeof(float));
        uint8_t *kc = take(b, n * elem + mis), *vc = take(b, n * elem + mis);
        uint16_t *ks = take(b, n_pos * sizeof(uint16_t)), *vs = take(b, n_pos * sizeof(uint16_t));
        float *k = take(b, hs * sizeof(float)), *ref = take(b, hs * sizeof(float));
        float *att = take(b, n_pos * sizeof(float));
        if (b->failed) return;
        kc += mis;
        vc += mis;
        fill_values(r, q, hs, scale);
        if (op == OP_ATT_F16) {
            uint16_t *kh = (uint16_t *)kc, *vh = (uint16_t *)vc;
            for (size_t i = 0; i < n; i++) kh[i] = llm_f32_to_f16(draw_value(r, scale));
            for (size_t i = 0; i < n; i++) vh[i] = llm_f32_to_f16(draw_value(r, scale));
            llm_k_attention_f16(k, q, kh, vh, d[0], d[1], d[2], att);
            llm_ref_attention_f16(ref, q, kh, vh, d[0], d[1], d[2], att);
        } else {
            fill_q8(r, (int8_t *)kc, n);
            fill_scales(r, ks, n_pos, scale / 127.0f);
            fill_q8(r, (int8_t *)vc, n);
            fill_scales(r, vs, n_pos, scale / 127.0f);
            /* The query as forward.c gives it: quantized like one cache head. */
            int8_t *qq = take(b, hs);
            uint16_t qs;
            if (b->failed) return;
            llm_ref_kv_store_q8(qq, &qs, q, 1, hs);
            const float qsf = llm_bf16_to_f32(qs);
            const int8_t *kq = (const int8_t *)kc, *vq = (const int8_t *)vc;
            llm_k_attention_q8(k, qq, qsf, kq, ks, vq, vs, d[0], d[1], d[2], 1, att);
            llm_ref_attention_q8(ref, qq, qsf, kq, ks, vq, vs, d[0], d[1], d[2], 1, att);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_kv_f32_hex("k", k, hs);
        fw_out_kv_f32_hex("ref", ref, hs);
        break;
    }
    default:
        b->failed = 2;
        return;
    }
    fw_out_end();
}

void fw_cmd_qkernel(const char *cmd, char *args) {
    char *name = fw_word(&args);
    int op = -1;
    for (int i = 0; name != NULL && i < OP_COUNT; i++) {
        if (strcmp(name, ops[i].name) == 0) op = i;
    }
    uint32_t d[3] = {0, 0, 0}, mis = 0;
    float scale;
    uint64_t seed;
    int bad = op < 0;
    for (int i = 0; !bad && i < ops[op].n_dims; i++) {
        bad = fw_parse_u32(fw_word(&args), &d[i]) != 0 || d[i] == 0 || d[i] > (1u << 20);
    }
    if (!bad) {
        bad = fw_parse_f32(fw_word(&args), &scale) != 0 || fw_parse_u64(fw_word(&args), &seed) != 0 ||
              (ops[op].gs_dim >= 0 && !llm_q_group_ok(d[ops[op].gs_dim]));
    }
    char *extra = bad ? NULL : fw_word(&args);
    if (extra != NULL) {
        bad = (op != OP_MATVEC_Q8 && op != OP_MATVEC_Q4 && op != OP_ATT_Q8) || strncmp(extra, "mis=", 4) != 0 ||
              fw_parse_u32(extra + 4, &mis) != 0 || mis > 15 || fw_word(&args) != NULL;
    }
    if (bad) {
        fw_reply_error(cmd, "usage");
        return;
    }
    rng r = {seed != 0 ? seed : 1};
    bufs b;
    memset(&b, 0, sizeof b);
    run_op(cmd, op, d, scale, mis, &r, &b);
    if (b.failed) fw_reply_error(cmd, b.failed == 2 ? "usage" : "out_of_memory");
    release(&b);
}
