/* Conversation commands: the context's position and queue, appending text
 * and chat turns, the full-context policy and the shift. */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"

/* " n_past=.. n_queued=.. tokens=<the context's run and queued ids>". */
static void out_position(void) {
    fw_out_kv_u("n_past", fw.ctx.n_past);
    fw_out_kv_u("n_queued", fw.ctx.n_queued);
    fw_out_str(" tokens=");
    const uint32_t n = fw.ctx.n_past + fw.ctx.n_queued;
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) fw_out_str(",");
        fw_out_i(fw.ctx.tokens[i]);
    }
    if (n == 0) fw_out_str("-");
}

/* ctx_pos: the position, queue and tokens; ctx_reset: llm_ctx_reset first;
 * ctx_recompute: llm_ctx_recompute first. */
void fw_cmd_ctx_pos(const char *cmd, char *args) {
    (void)args;
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    if (strcmp(cmd, "ctx_reset") == 0) llm_ctx_reset(&fw.ctx);
    if (strcmp(cmd, "ctx_recompute") == 0) llm_ctx_recompute(&fw.ctx);
    fw_out_begin(cmd, LLM_OK);
    out_position();
    fw_out_end();
}

/* append <bos> <eos> <hex text>: llm_append_text. */
void fw_cmd_append(const char *cmd, char *args) {
    uint32_t bos, eos;
    if (fw_parse_u32(fw_word(&args), &bos) != 0 || fw_parse_u32(fw_word(&args), &eos) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    char *text = fw_word(&args);
    if (fw_hex_decode(text) < 0) {
        fw_reply_error(cmd, "bad_hex");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    llm_status s = llm_append_text(&fw.ctx, text, (int)bos, (int)eos);
    fw_out_begin(cmd, s);
    out_position();
    fw_out_end();
}

/* chat <template> <hex system> <hex user>: llm_chat_append with the named
 * template, or "model" for the one the blob's metadata names
 * (llm_chat_template_of); "-" system: NULL. An unknown name, or a model
 * that names none, answers fw_error=template. */
void fw_cmd_chat(const char *cmd, char *args) {
    char *name = fw_word(&args), *sys = fw_word(&args), *user = fw_word(&args);
    if (name == NULL || sys == NULL || user == NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    const int no_sys = strcmp(sys, "-") == 0;
    if ((!no_sys && fw_hex_decode(sys) < 0) || fw_hex_decode(user) < 0) {
        fw_reply_error(cmd, "bad_hex");
        return;
    }
    const llm_chat_template *t = strcmp(name, "model") == 0
                                     ? (fw.model_ok ? llm_chat_template_of(&fw.model) : NULL)
                                     : llm_chat_template_find(name);
    if (t == NULL) {
        fw_reply_error(cmd, "template");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    llm_status s = llm_chat_append(&fw.ctx, t, no_sys ? NULL : sys, user);
    fw_out_begin(cmd, s);
    out_position();
    fw_out_end();
}

/* policy <stop|shift> <n_keep> <n_discard>: llm_set_full_policy. */
void fw_cmd_policy(const char *cmd, char *args) {
    char *p = fw_word(&args);
    uint32_t keep, discard;
    if (p == NULL || fw_parse_u32(fw_word(&args), &keep) != 0 ||
        fw_parse_u32(fw_word(&args), &discard) != 0 ||
        (strcmp(p, "stop") != 0 && strcmp(p, "shift") != 0)) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    const llm_full_policy pol = strcmp(p, "shift") == 0 ? LLM_FULL_SHIFT : LLM_FULL_STOP;
    fw_out_begin(cmd, llm_set_full_policy(&fw.ctx, pol, keep, discard));
    fw_out_end();
}

/* shift <n_keep> <n_discard>: llm_kv_shift. */
void fw_cmd_shift(const char *cmd, char *args) {
    uint32_t keep, discard;
    if (fw_parse_u32(fw_word(&args), &keep) != 0 || fw_parse_u32(fw_word(&args), &discard) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    llm_status s = llm_kv_shift(&fw.ctx, keep, discard);
    fw_out_begin(cmd, s);
    out_position();
    fw_out_end();
}
