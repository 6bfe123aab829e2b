/*
 * State save/restore commands over one firmware-held buffer, which outlives
 * init and model so a state can be restored into another context or model:
 *
 *   state_size <n_pos>            llm_state_size: bytes
 *   state_save <n_pos> [<buf_len> [<misalign>]]
 *                                 llm_state_save into a fresh buffer of
 *                                 exactly buf_len bytes (default: the size
 *                                 query's) starting misalign (0..15) bytes past
 *                                 a 16-byte boundary: bytes written; the buffer
 *                                 is kept only when the save succeeded
 *   state_restore [<len>]         llm_state_restore from the first len bytes
 *                                 of the buffer (default all): n_pos
 *   state_poke <offset> <xor>     XOR one byte of the buffer (corruption tests)
 *   state_hex <offset> <n>        bytes offset..offset+n-1: hex
 *   prefill <pos0> <ids>          llm_forward over ids (comma-separated) at
 *                                 positions pos0.., then the greedy next token:
 *                                 us (both, fw_port_time_us), next, logits of
 *                                 the last position (time to first token, for
 *                                 extra_scripts/bench/bench_ttft.py)
 * state_save and state_restore also print us, the call's time.
 */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"

void fw_drop_state(void) {
    fw_port_free(fw.state_alloc);
    fw.state_alloc = NULL;
    fw.state_buf = NULL;
    fw.state_len = 0;
}

static void cmd_size(const char *cmd, char *args) {
    uint32_t n_pos;
    if (fw_parse_u32(fw_word(&args), &n_pos) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    size_t bytes = 0;
    llm_status s = llm_state_size(&fw.ctx, n_pos, &bytes);
    fw_out_begin(cmd, s);
    fw_out_kv_u("bytes", bytes);
    fw_out_end();
}

static void cmd_save(const char *cmd, char *args) {
    uint32_t n_pos, buf_len = 0, misalign = 0;
    char *w_len, *w_mis;
    if (fw_parse_u32(fw_word(&args), &n_pos) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    w_len = fw_word(&args);
    w_mis = fw_word(&args);
    if ((w_len != NULL && fw_parse_u32(w_len, &buf_len) != 0) ||
        (w_mis != NULL && (fw_parse_u32(w_mis, &misalign) != 0 || misalign > 15))) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (w_len == NULL) {
        size_t need = 0;
        llm_status s = llm_state_size(&fw.ctx, n_pos, &need);
        if (s != LLM_OK) {
            fw_out_begin(cmd, s);
            fw_out_end();
            return;
        }
        buf_len = (uint32_t)need;
    }
    fw_drop_state();
    /* Exactly buf_len bytes after misalign, so ASan sees any overrun. */
    fw.state_alloc = fw_port_alloc((size_t)buf_len + misalign);
    if (fw.state_alloc == NULL) {
        fw_reply_error(cmd, "out_of_memory");
        return;
    }
    fw.state_buf = fw.state_alloc + misalign;
    fw.state_len = buf_len;
    size_t written = 0;
    const uint64_t t0 = fw_port_time_us();
    llm_status s = llm_state_save(&fw.ctx, n_pos, fw.state_buf, fw.state_len, &written);
    const uint64_t us = fw_port_time_us() - t0;
    if (s != LLM_OK) fw_drop_state();
    fw_out_begin(cmd, s);
    fw_out_kv_u("written", written);
    fw_out_kv_u("us", us);
    fw_out_end();
}

static void cmd_restore(const char *cmd, char *args) {
    char *w_len = fw_word(&args);
    uint32_t len = 0;
    if (w_len != NULL && fw_parse_u32(w_len, &len) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (fw.state_buf == NULL) {
        fw_reply_error(cmd, "no_state");
        return;
    }
    if (w_len == NULL) len = (uint32_t)fw.state_len;
    if (len > fw.state_len) {
        fw_reply_error(cmd, "len");
        return;
    }
    uint32_t n_pos = 0;
    const uint64_t t0 = fw_port_time_us();
    llm_status s = llm_state_restore(&fw.ctx, fw.state_buf, len, &n_pos);
    const uint64_t us = fw_port_time_us() - t0;
    fw_out_begin(cmd, s);
    fw_out_kv_u("n_pos", n_pos);
    fw_out_kv_u("us", us);
    fw_out_end();
}

static void cmd_poke(const char *cmd, char *args) {
    uint32_t off, x;
    if (fw_parse_u32(fw_word(&args), &off) != 0 || fw_parse_u32(fw_word(&args), &x) != 0 ||
        x > 255) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (fw.state_buf == NULL || off >= fw.state_len) {
        fw_reply_error(cmd, "no_state");
        return;
    }
    fw.state_buf[off] ^= (uint8_t)x;
    fw_out_begin(cmd, LLM_OK);
    fw_out_end();
}

static void cmd_hex(const char *cmd, char *args) {
    uint32_t off, n;
    if (fw_parse_u32(fw_word(&args), &off) != 0 || fw_parse_u32(fw_word(&args), &n) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (fw.state_buf == NULL || off > fw.state_len || n > fw.state_len - off) {
        fw_reply_error(cmd, "no_state");
        return;
    }
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_hex("hex", fw.state_buf + off, n);
    fw_out_end();
}

static size_t count_ids(const char *s) {
    if (strcmp(s, "-") == 0) return 0;
    size_t n = 1;
    for (; *s != '\0'; s++) n += *s == ',';
    return n;
}

static void cmd_prefill(const char *cmd, char *args) {
    uint32_t pos0;
    char *w_ids;
    if (fw_parse_u32(fw_word(&args), &pos0) != 0 || (w_ids = fw_word(&args)) == NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.ctx_ok) {
        fw_reply_error(cmd, "no_context");
        return;
    }
    const size_t n = count_ids(w_ids);
    int32_t *ids = fw_port_alloc(n * sizeof(int32_t)); /* (n) */
    if (ids == NULL || n == 0 || fw_parse_i32_list(w_ids, ids, n) != (long)n) {
        fw_port_free(ids);
        fw_reply_error(cmd, "ids");
        return;
    }
    llm_status s = LLM_OK;
    float *logits = NULL;
    int32_t next = -1;
    const uint32_t vocab = fw.model.config.vocab_size;
    const uint64_t t0 = fw_port_time_us();
    for (size_t i = 0; i < n && s == LLM_OK; i++) {
        s = llm_forward(&fw.ctx, ids[i], pos0 + (uint32_t)i, &logits);
    }
    if (s == LLM_OK) {
        next = 0;
        for (uint32_t k = 1; k < vocab; k++) next = logits[k] > logits[next] ? (int32_t)k : next;
    }
    const uint64_t us = fw_port_time_us() - t0;
    fw_port_free(ids);
    fw_out_begin(cmd, s);
    fw_out_kv_u("us", us);
    if (s == LLM_OK) {
        fw_out_kv_i("next", next);
        fw_out_kv_f32_hex("logits", logits, vocab);
    }
    fw_out_end();
}

/* The ctx (even an empty one, for the library's argument checks) is the
 * library's to judge; only the buffer bookkeeping is checked here. */
void fw_cmd_state(const char *cmd, char *args) {
    if (strcmp(cmd, "state_size") == 0) {
        cmd_size(cmd, args);
    } else if (strcmp(cmd, "state_save") == 0) {
        cmd_save(cmd, args);
    } else if (strcmp(cmd, "state_restore") == 0) {
        cmd_restore(cmd, args);
    } else if (strcmp(cmd, "state_poke") == 0) {
        cmd_poke(cmd, args);
    } else if (strcmp(cmd, "prefill") == 0) {
        cmd_prefill(cmd, args);
    } else {
        cmd_hex(cmd, args);
    }
}
