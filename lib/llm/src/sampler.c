/* Sampler: repetition penalty, greedy, temperature, top-k, top-p and
 * multinomial sampling with llama2.c's xorshift64* generator. The order of
 * every float operation is fixed, so the Python oracle reproduces each pick. */
#include <math.h>

#include "kernels/kernels.h"
#include "llm_internal.h"

llm_sampler_params llm_sampler_default(void) {
    llm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temperature = 1.0f;
    p.top_p = 0.9f;
    p.top_k = 0;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 1;
    return p;
}

void llm_sampler_set(llm_ctx *ctx, const llm_sampler_params *p) {
    if (!ctx) return;
    ctx->sampler.p = p ? *p : llm_sampler_default();
    /* xorshift64* is stuck at 0 forever. */
    ctx->sampler.rng = ctx->sampler.p.seed ? ctx->sampler.p.seed : 1;
}

static uint32_t random_u32(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Uniform in [0, 1): the top 24 bits, exact in a float. */
static float random_f32(uint64_t *s) {
    return (float)(random_u32(s) >> 8) / 16777216.0f;
}

/* Divides positive logits by pen and multiplies the others, once per
 * distinct token among the last repeat_last_n of history. cand(vocab) is
 * free scratch here: its index fields mark the tokens already penalised, so
 * the cost is O(window) with no clearing of the whole vocabulary. */
static void repeat_penalty(float *logits, uint32_t vocab, const int32_t *history,
                           size_t n_history, uint32_t last_n, float pen, llm_prob_index *cand) {
    const size_t w = n_history < last_n ? n_history : last_n;
    const int32_t *h = history + (n_history - w); /* (w) */
    for (size_t i = 0; i < w; i++) {
        if (h[i] >= 0 && (uint32_t)h[i] < vocab) cand[h[i]].index = 0;
    }
    for (size_t i = 0; i < w; i++) {
        if (h[i] < 0 || (uint32_t)h[i] >= vocab || cand[h[i]].index != 0) continue;
        cand[h[i]].index = 1;
        float *l = &logits[h[i]];
        *l = *l > 0.0f ? *l / pen : *l * pen;
    }
}

/* x(n) = softmax(x): max-subtracted, sequential sum, divide. Not the kernel,
 * whose backend variants may sum in another order. */
static void softmax_seq(float *x, uint32_t n) {
    float max = x[0];
    for (uint32_t i = 1; i < n; i++) {
        if (x[i] > max) max = x[i];
    }
    float sum = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (uint32_t i = 0; i < n; i++) x[i] /= sum;
}

/* a ranks before b: higher probability, then lower index. */
static int before(const llm_prob_index *a, const llm_prob_index *b) {
    return a->prob > b->prob || (a->prob == b->prob && a->index < b->index);
}

/* Max-heap (by before) sift of h[i] within h(n). */
static void sift_down(llm_prob_index *h, uint32_t i, uint32_t n) {
    const llm_prob_index v = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &v)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

/*
 * Sample among c(n), n >= 1, in rank order (before): take at most limit of
 * them, stopping after the first whose running sum exceeds top_p when
 * use_top_p; then walk the cdf of the kept ones with r = coin * their sum.
 * A heap yields the ranks one by one, so only the kept entries are ordered:
 * the same picks as a full sort at O(n + kept log n).
 */
static int32_t sample_ranked(llm_prob_index *c, uint32_t n, uint32_t limit, int use_top_p,
                             float top_p, float coin) {
    for (uint32_t i = n / 2; i-- > 0;) sift_down(c, i, n);
    /* The k-th ranked entry is popped to c[n - 1 - k]. */
    float cum = 0.0f;
    uint32_t kept = 0;
    uint32_t size = n;
    while (kept < limit && size > 0) {
        const llm_prob_index top = c[0];
        c[0] = c[--size];
        c[size] = top;
        sift_down(c, 0, size);
        cum += top.prob;
        kept++;
        if (use_top_p && cum > top_p) break;
    }
    const float r = coin * cum;
    float cdf = 0.0f;
    for (uint32_t k = 0; k < kept; k++) {
        cdf += c[n - 1 - k].prob;
        if (r < cdf) return c[n - 1 - k].index;
    }
    return c[n - kept].index; /* rounding: the last kept */
}

int32_t llm_sample(llm_ctx *ctx, float *logits, const int32_t *history, size_t n_history) {
    if (!ctx || !ctx->model || !logits || !ctx->sampler.candidates) return -1;
    const llm_sampler_params *p = &ctx->sampler.p;
    const uint32_t n = ctx->model->config.vocab_size;
    llm_prob_index *cand = ctx->sampler.candidates; /* (vocab_size) */

    if (p->repeat_penalty != 1.0f && p->repeat_last_n > 0 && history && n_history > 0) {
        repeat_penalty(logits, n, history, n_history, p->repeat_last_n, p->repeat_penalty, cand);
    }
    if (p->temperature == 0.0f) return (int32_t)llm_k_argmax(logits, n);

    for (uint32_t i = 0; i < n; i++) logits[i] /= p->temperature;
    softmax_seq(logits, n);
    const float coin = random_f32(&ctx->sampler.rng);
    if (n == 1) return 0;
    const int use_top_p = p->top_p > 0.0f && p->top_p < 1.0f;

    if (p->top_k > 0 && p->top_k < n) {
        for (uint32_t i = 0; i < n; i++) {
            cand[i].prob = logits[i];
            cand[i].index = (int32_t)i;
        }
        return sample_ranked(cand, n, p->top_k, use_top_p, p->top_p, coin);
    }
    if (!use_top_p) {
        float cdf = 0.0f;
        for (uint32_t i = 0; i < n; i++) {
            cdf += logits[i];
            if (coin < cdf) return (int32_t)i;
        }
        return (int32_t)(n - 1);
    }
    /* Tokens below (1 - top_p) / (n - 1) cannot be in the nucleus (run.c's
     * prefilter). If none passes (a near-uniform distribution with a tiny
     * top_p, where run.c would read out of bounds), all tokens are kept. */
    const float cutoff = (1.0f - p->top_p) / (float)(n - 1);
    uint32_t n0 = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (logits[i] >= cutoff) {
            cand[n0].prob = logits[i];
            cand[n0].index = (int32_t)i;
            n0++;
        }
    }
    if (n0 == 0) {
        for (uint32_t i = 0; i < n; i++) {
            cand[i].prob = logits[i];
            cand[i].index = (int32_t)i;
        }
        n0 = n;
    }
    return sample_ranked(cand, n0, n0, 1, p->top_p, coin);
}
