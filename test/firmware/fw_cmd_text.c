/* Text commands: encode, decode, generate. */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"

/* encode <bos> <eos> <max_tokens> <hex text>: llm_encode into a buffer of
 * exactly max_tokens ids. */
void fw_cmd_encode(const char *cmd, char *args) {
    uint32_t bos, eos, max_tokens;
    if (fw_parse_u32(fw_word(&args), &bos) != 0 || fw_parse_u32(fw_word(&args), &eos) != 0 ||
        fw_parse_u32(fw_word(&args), &max_tokens) != 0) {
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
    int32_t *tokens = fw_port_alloc((size_t)max_tokens * sizeof(int32_t)); /* (max_tokens) */
    if (tokens == NULL) {
        fw_reply_error(cmd, "out_of_memory");
        return;
    }
    size_t n = 0;
    llm_status s = llm_encode(&fw.ctx, text, (int)bos, (int)eos, tokens, max_tokens, &n);
    fw_out_begin(cmd, s);
    fw_out_kv_u("n", n);
    if (s == LLM_OK) {
        fw_out_str(" ids=");
        for (size_t i = 0; i < n; i++) {
            if (i > 0) fw_out_str(",");
            fw_out_i(tokens[i]);
        }
        if (n == 0) fw_out_str("-");
    }
    fw_out_end();
    fw_port_free(tokens);
}

/* decode <prev> <token> [<prev> <token> ...]: llm_decode of each pair;
 * prints the pieces as comma-separated hex ("-" for an empty piece). */
void fw_cmd_decode(const char *cmd, char *args) {
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    /* Parse everything first so an error line never follows partial output. */
    char *check = args;
    size_t n_words = 0;
    for (char *p = check; *p != '\0'; p++) {
        if (*p != ' ' && (p == check || p[-1] == ' ')) n_words++;
    }
    if (n_words == 0 || n_words % 2 != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    int32_t *pairs = fw_port_alloc(n_words * sizeof(int32_t)); /* (n_pairs, 2) prev, token */
    if (pairs == NULL) {
        fw_reply_error(cmd, "out_of_memory");
        return;
    }
    for (size_t i = 0; i < n_words; i++) {
        if (fw_parse_i32(fw_word(&args), &pairs[i]) != 0) {
            fw_port_free(pairs);
            fw_reply_error(cmd, "usage");
            return;
        }
    }
    fw_out_begin(cmd, LLM_OK);
    fw_out_str(" pieces=");
    for (size_t i = 0; i < n_words; i += 2) {
        const char *piece = NULL;
        size_t len = llm_decode(&fw.ctx, pairs[i], pairs[i + 1], &piece);
        if (i > 0) fw_out_str(",");
        /* A NULL piece with a length would be a library bug: show it. */
        if (len > 0 && piece == NULL) {
            fw_out_str("NULL");
        } else {
            fw_out_hex(piece, len);
        }
    }
    fw_out_end();
    fw_port_free(pairs);
}

/* Most stop strings the command accepts: more than LLM_MAX_STOPS, so the
 * library's own limit can be tested. */
#define FW_MAX_STOP_ARGS (LLM_MAX_STOPS + 4)

typedef struct collector {
    char text[FW_TEXT_MAX]; /* (FW_TEXT_MAX) pieces, concatenated */
    size_t len;
    int overflow;
    uint32_t pieces;
    uint32_t stop_after;    /* return non-zero at this many pieces; 0 = never */
    uint32_t lens[256];     /* (256) length of each of the first pieces */
} collector;

static collector col;

static int on_piece(const char *piece, size_t len, void *user) {
    collector *c = user;
    if (len > 0 && piece == NULL) {
        c->overflow = 2; /* reported as a library bug */
        return 1;
    }
    if (c->len + len > sizeof c->text) {
        c->overflow = 1;
    } else {
        memcpy(c->text + c->len, piece, len);
        c->len += len;
    }
    if (c->pieces < sizeof c->lens / sizeof c->lens[0]) c->lens[c->pieces] = (uint32_t)len;
    c->pieces++;
    return c->stop_after != 0 && c->pieces >= c->stop_after;
}

/* generate <n_steps> <temp> <top_p> <top_k> <penalty> <last_n> <seed> <echo>
 *          <stop_after_pieces> <hex prompt> [<hex stop> ...]:
 * llm_sampler_set, then llm_generate collecting every piece.
 * continue <max_new> <the same arguments>: llm_continue with max_new. */
void fw_cmd_generate(const char *cmd, char *args) {
    llm_sampler_params sp;
    llm_gen_params g;
    uint32_t n_steps, echo, stop_after, max_new = 0;
    const int cont = strcmp(cmd, "continue") == 0;
    if ((cont && fw_parse_u32(fw_word(&args), &max_new) != 0) ||
        fw_parse_u32(fw_word(&args), &n_steps) != 0 ||
        fw_parse_f32(fw_word(&args), &sp.temperature) != 0 ||
        fw_parse_f32(fw_word(&args), &sp.top_p) != 0 ||
        fw_parse_u32(fw_word(&args), &sp.top_k) != 0 ||
        fw_parse_f32(fw_word(&args), &sp.repeat_penalty) != 0 ||
        fw_parse_u32(fw_word(&args), &sp.repeat_last_n) != 0 ||
        fw_parse_u64(fw_word(&args), &sp.seed) != 0 ||
        fw_parse_u32(fw_word(&args), &echo) != 0 ||
        fw_parse_u32(fw_word(&args), &stop_after) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    char *prompt = fw_word(&args);
    if (fw_hex_decode(prompt) < 0) {
        fw_reply_error(cmd, "bad_hex");
        return;
    }
    const char *stops[FW_MAX_STOP_ARGS];
    uint32_t n_stop = 0;
    for (char *w; (w = fw_word(&args)) != NULL;) {
        if (n_stop == FW_MAX_STOP_ARGS || fw_hex_decode(w) < 0) {
            fw_reply_error(cmd, "bad_stop");
            return;
        }
        stops[n_stop++] = w;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    memset(&col, 0, sizeof col);
    col.stop_after = stop_after;
    memset(&g, 0, sizeof g);
    g.prompt = prompt;
    g.n_steps = n_steps;
    g.max_new = max_new;
    g.echo_prompt = (int)echo;
    g.stop = n_stop > 0 ? stops : NULL;
    g.n_stop = n_stop;
    g.on_piece = on_piece;
    g.user = &col;
    llm_gen_stats st;
    memset(&st, 0, sizeof st);
    llm_sampler_set(&fw.ctx, &sp);
    llm_status s = cont ? llm_continue(&fw.ctx, &g, &st) : llm_generate(&fw.ctx, &g, &st);
    fw_out_begin(cmd, s);
    if (s == LLM_OK) {
        fw_out_str(" end=");
        fw_out_str(llm_end_str(st.end));
    }
    fw_out_kv_u("n_past", fw.ctx.n_past);
    fw_out_kv_u("n_queued", fw.ctx.n_queued);
    fw_out_kv_u("n_prompt", st.n_prompt);
    fw_out_kv_u("n_generated", st.n_generated);
    fw_out_kv_u("prefill_us", st.prefill_us);
    fw_out_kv_u("decode_us", st.decode_us);
    fw_out_kv_u("pieces", col.pieces);
    fw_out_kv_u("overflow", (uint64_t)col.overflow);
    fw_out_str(" lens=");
    uint32_t n_lens = col.pieces < 256 ? col.pieces : 256;
    for (uint32_t i = 0; i < n_lens; i++) {
        if (i > 0) fw_out_str(",");
        fw_out_u(col.lens[i]);
    }
    if (n_lens == 0) fw_out_str("-");
    fw_out_str(" text=");
    fw_out_hex(col.text, col.len);
    fw_out_end();
}
