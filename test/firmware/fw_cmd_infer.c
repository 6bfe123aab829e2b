/* Commands over a context: forward and sample. */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"

/* forward <token> <pos>: one llm_forward; prints the logits as float bits. */
void fw_cmd_forward(const char *cmd, char *args) {
    int32_t token;
    uint32_t pos;
    if (fw_parse_i32(fw_word(&args), &token) != 0 || fw_parse_u32(fw_word(&args), &pos) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    float *logits = NULL;
    llm_status s = llm_forward(&fw.ctx, token, pos, &logits);
    fw_out_begin(cmd, s);
    if (s == LLM_OK) {
        fw_out_str(" logits=");
        fw_out_f32_hex(logits, fw.model.config.vocab_size);
    }
    fw_out_end();
}

static size_t count_list(const char *s) {
    if (strcmp(s, "-") == 0) return 0;
    size_t n = 1;
    for (; *s != '\0'; s++) n += *s == ',';
    return n;
}

/* sample <temp> <top_p> <top_k> <penalty> <last_n> <seed> <n_draws> <history> <logits>:
 * llm_sampler_set once, then n_draws llm_sample calls, each on a fresh copy
 * of the logits (vocab_size floats as hex bits) with the same history
 * (comma-separated ids or "-"). Prints the drawn ids. */
void fw_cmd_sample(const char *cmd, char *args) {
    llm_sampler_params sp;
    uint32_t n_draws;
    if (fw_parse_f32(fw_word(&args), &sp.temperature) != 0 ||
        fw_parse_f32(fw_word(&args), &sp.top_p) != 0 ||
        fw_parse_u32(fw_word(&args), &sp.top_k) != 0 ||
        fw_parse_f32(fw_word(&args), &sp.repeat_penalty) != 0 ||
        fw_parse_u32(fw_word(&args), &sp.repeat_last_n) != 0 ||
        fw_parse_u64(fw_word(&args), &sp.seed) != 0 ||
        fw_parse_u32(fw_word(&args), &n_draws) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    char *w_hist = fw_word(&args), *w_logits = fw_word(&args);
    if (w_hist == NULL || w_logits == NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    const size_t vocab = fw.model.config.vocab_size;
    const size_t n_hist = count_list(w_hist);
    float *logits = fw_port_alloc(vocab * sizeof(float));   /* (vocab) as sent */
    float *work = fw_port_alloc(vocab * sizeof(float));     /* (vocab) per draw */
    int32_t *hist = fw_port_alloc(n_hist * sizeof(int32_t)); /* (n_hist) */
    int32_t *ids = fw_port_alloc(n_draws * sizeof(int32_t)); /* (n_draws) */
    const char *err = NULL;
    if (logits == NULL || work == NULL || hist == NULL || ids == NULL) {
        err = "out_of_memory";
    } else if (fw_hex_decode_f32(w_logits, logits, vocab) != (long)vocab) {
        err = "logits_count";
    } else if (fw_parse_i32_list(w_hist, hist, n_hist) != (long)n_hist) {
        err = "history";
    }
    if (err == NULL) {
        llm_sampler_set(&fw.ctx, &sp);
        for (uint32_t i = 0; i < n_draws; i++) {
            memcpy(work, logits, vocab * sizeof(float));
            ids[i] = llm_sample(&fw.ctx, work, hist, n_hist);
        }
        fw_out_begin(cmd, LLM_OK);
        fw_out_str(" ids=");
        for (uint32_t i = 0; i < n_draws; i++) {
            if (i > 0) fw_out_str(",");
            fw_out_i(ids[i]);
        }
        if (n_draws == 0) fw_out_str("-");
        fw_out_end();
    } else {
        fw_reply_error(cmd, err);
    }
    fw_port_free(logits);
    fw_port_free(work);
    fw_port_free(hist);
    fw_port_free(ids);
}
