/*
 * The ESP32-S3 port's target-neutral decisions, on any target
 * (test/test_esp32s3.py):
 *
 *   esp_plan place <need> <internal_largest> <psram_largest> <reserve>
 *                              llm_esp_place_arena: where=internal|psram|none
 *   esp_plan fit <budget>      llm_esp_fit_seq_len for the loaded model (and
 *                              tok), default params: seq_len, need (its arena)
 *                              and need_next (one position more; 0 at the
 *                              model's seq_len)
 *   esp_plan extent <part_size> [<head_len>]
 *                              llm_esp_model_extent over the first head_len
 *                              (default 64) bytes of the last file the model
 *                              command read, opened or not: status, bytes
 *   esp_plan cut <w_mis> <x_mis> <n> <elem_size> <lanes>
 *                              llm_s3_row_cut for a row and an input starting
 *                              w_mis and x_mis bytes (multiples of elem_size,
 *                              < 16) past 16-byte boundaries: head body tail
 *   esp_plan dotcalls          the ESP32-S3 backend with LLM_S3_COUNT_DOTCALLS: calls of
 *                              dsps_dotprod_f32 since the last dotcalls that
 *                              met (fast) and missed (slow) its aes3 rules;
 *                              elsewhere fw_error=not_esp32s3
 */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"
#include "kernels/esp32s3/s3_rows.h"
#include "kernels/kernels.h"
#include "llm_esp32s3_plan.h"

static int parse_size(char **args, size_t *v) {
    uint64_t x;
    if (fw_parse_u64(fw_word(args), &x) != 0 || x > (uint64_t)SIZE_MAX) return -1;
    *v = (size_t)x;
    return 0;
}

static void cmd_place(const char *cmd, char *args) {
    size_t need, in_largest, ps_largest, reserve;
    if (parse_size(&args, &need) || parse_size(&args, &in_largest) ||
        parse_size(&args, &ps_largest) || parse_size(&args, &reserve) || fw_word(&args)) {
        fw_reply_error(cmd, "usage");
        return;
    }
    fw_out_begin(cmd, LLM_OK);
    fw_out_str(" where=");
    fw_out_str(llm_esp_mem_str(llm_esp_place_arena(need, in_largest, ps_largest, reserve)));
    fw_out_end();
}

static void cmd_fit(const char *cmd, char *args) {
    size_t budget;
    if (parse_size(&args, &budget) || fw_word(&args)) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (!fw.model_ok) {
        fw_reply_error(cmd, "no_model");
        return;
    }
    llm_params p = llm_params_default();
    if (fw.tok_data != NULL) {
        p.tokenizer = fw.tok_data;
        p.tokenizer_size = fw.tok_size;
    }
    const uint32_t fit = llm_esp_fit_seq_len(&fw.model, &p, budget);
    size_t need = 0, need_next = 0;
    if (fit > 0) {
        p.seq_len = fit;
        (void)llm_arena_size(&fw.model, &p, &need);
    }
    if (fit < fw.model.config.seq_len) {
        p.seq_len = fit + 1;
        (void)llm_arena_size(&fw.model, &p, &need_next);
    }
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("seq_len", fit);
    fw_out_kv_u("need", need);
    fw_out_kv_u("need_next", need_next);
    fw_out_end();
}

static void cmd_extent(const char *cmd, char *args) {
    size_t part_size, head_len = 64;
    char *w_head;
    if (parse_size(&args, &part_size) ||
        ((w_head = fw_word(&args)) != NULL && parse_size(&w_head, &head_len)) || fw_word(&args)) {
        fw_reply_error(cmd, "usage");
        return;
    }
    if (fw.model_data == NULL) {
        fw_reply_error(cmd, "no_file");
        return;
    }
    if (head_len > fw.model_size) head_len = fw.model_size;
    size_t bytes = 0;
    llm_status s = llm_esp_model_extent(fw.model_data, head_len, part_size, &bytes);
    fw_out_begin(cmd, s);
    fw_out_kv_u("bytes", bytes);
    fw_out_end();
}

static void cmd_cut(const char *cmd, char *args) {
    uint32_t w_mis, x_mis, n, elem, lanes;
    if (fw_parse_u32(fw_word(&args), &w_mis) || fw_parse_u32(fw_word(&args), &x_mis) ||
        fw_parse_u32(fw_word(&args), &n) || fw_parse_u32(fw_word(&args), &elem) ||
        fw_parse_u32(fw_word(&args), &lanes) || fw_word(&args) || w_mis > 15 || x_mis > 15 ||
        (elem != 1 && elem != 4) || (lanes != 4 && lanes != 16) || w_mis % elem || x_mis % elem) {
        fw_reply_error(cmd, "usage");
        return;
    }
    /* Only addresses matter: the cut reads no data. */
    static uint64_t buf[4]; /* 32 bytes, 8-aligned */
    const uintptr_t base = ((uintptr_t)buf + 15u) & ~(uintptr_t)15u;
    const llm_s3_cut c = llm_s3_row_cut((const void *)(base + w_mis), (const void *)(base + x_mis),
                                        n, elem, lanes);
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("head", c.head);
    fw_out_kv_u("body", c.body);
    fw_out_kv_u("tail", c.tail);
    fw_out_end();
}

static void cmd_dotcalls(const char *cmd) {
#if LLM_BACKEND == LLM_BACKEND_ESP32S3 && defined(LLM_S3_COUNT_DOTCALLS) && LLM_S3_COUNT_DOTCALLS
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("fast", llm_s3_fast_calls);
    fw_out_kv_u("slow", llm_s3_slow_calls);
    fw_out_end();
    llm_s3_fast_calls = llm_s3_slow_calls = 0;
#else
    fw_reply_error(cmd, "not_esp32s3");
#endif
}

void fw_cmd_esp_plan(const char *cmd, char *args) {
    char *op = fw_word(&args);
    if (op == NULL) {
        fw_reply_error(cmd, "usage");
    } else if (strcmp(op, "place") == 0) {
        cmd_place(cmd, args);
    } else if (strcmp(op, "fit") == 0) {
        cmd_fit(cmd, args);
    } else if (strcmp(op, "extent") == 0) {
        cmd_extent(cmd, args);
    } else if (strcmp(op, "cut") == 0) {
        cmd_cut(cmd, args);
    } else if (strcmp(op, "dotcalls") == 0) {
        cmd_dotcalls(cmd);
    } else {
        fw_reply_error(cmd, "usage");
    }
}
