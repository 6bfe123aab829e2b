/* Commands that load things: info, reset, model, meta, tok, init, init_short. */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"
#include "kernels/kernels.h"

fw_state fw;

void fw_drop_ctx(void) {
    fw_port_free(fw.arena);
    fw.arena = NULL;
    fw.arena_size = 0;
    fw.ctx_ok = 0;
    memset(&fw.ctx, 0, sizeof fw.ctx);
}

static void drop_model(void) {
    fw_drop_ctx();
    fw_port_free(fw.model_alloc);
    fw.model_alloc = NULL;
    fw.model_data = NULL;
    fw.model_size = 0;
    fw.model_ok = 0;
    memset(&fw.model, 0, sizeof fw.model);
}

static void drop_tok(void) {
    fw_drop_ctx();
    fw_port_free(fw.tok_data);
    fw.tok_data = NULL;
    fw.tok_size = 0;
}

void fw_drop_all(void) {
    drop_model();
    drop_tok();
    fw_drop_state();
}

static const char *backend_name(void) {
#if LLM_BACKEND == LLM_BACKEND_CM55
    return "cm55";
#elif LLM_BACKEND == LLM_BACKEND_ESP32S3
    return "esp32s3";
#elif LLM_BACKEND == LLM_BACKEND_CM4
    return "cm4";
#elif LLM_BACKEND == LLM_BACKEND_X86
    return "x86";
#elif LLM_BACKEND == LLM_BACKEND_NEON
    return "neon";
#else
    return "ref";
#endif
}

/* Which kernels a backend with a run-time choice runs now: "avx2" or "ref"
 * on x86, "-" where the choice is made at build time. */
static const char *simd_path(void) {
#if LLM_BACKEND == LLM_BACKEND_X86
    return llm_x86_simd() ? "avx2" : "ref";
#else
    return "-";
#endif
}

/* info: build facts the host needs (backend decides kernel tolerances). */
void fw_cmd_info(const char *cmd, char *args) {
    (void)args;
    fw_out_begin(cmd, LLM_OK);
    fw_out_str(" backend=");
    fw_out_str(backend_name());
    fw_out_str(" simd=");
    fw_out_str(simd_path());
    fw_out_kv_u("line_max", FW_LINE_MAX);
    fw_out_kv_u("text_max", FW_TEXT_MAX);
    fw_out_kv_u("max_layers", LLM_MAX_LAYERS);
    fw_out_kv_u("max_stops", LLM_MAX_STOPS);
    fw_out_kv_u("max_stop_len", LLM_MAX_STOP_LEN);
    fw_out_kv_u("arena_align", LLM_ARENA_ALIGN);
#if LLM_BACKEND == LLM_BACKEND_NEON
    /* fused fp32 multiply-adds (1) or the reference's bits (0) */
    fw_out_kv_u("neon_fma", LLM_NEON_FMA);
    fw_out_kv_u("neon_dotprod", LLM_NEON_DOTPROD);
#endif
    fw_out_end();
}

/* simd off|on: on x86, run the reference kernels from now on (off) or the
 * AVX2 + FMA ones where the CPU has them (on); answers simd=avx2|ref.
 * Other backends answer fw_error=no_runtime_choice. */
void fw_cmd_simd(const char *cmd, char *args) {
    const char *w = fw_word(&args);
    const int on = w != NULL && strcmp(w, "on") == 0;
    if (w == NULL || (!on && strcmp(w, "off") != 0) || fw_word(&args) != NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
#if LLM_BACKEND == LLM_BACKEND_X86
    llm_x86_set_simd(on);
    fw_out_begin(cmd, LLM_OK);
    fw_out_str(" simd=");
    fw_out_str(simd_path());
    fw_out_end();
#else
    fw_reply_error(cmd, "no_runtime_choice");
#endif
}

/* reset: forget model, tokenizer and context. */
void fw_cmd_reset(const char *cmd, char *args) {
    (void)args;
    fw_drop_all();
    fw_out_begin(cmd, LLM_OK);
    fw_out_end();
}

/* Read up to max_bytes of a file into an exactly sized buffer, the data
 * starting misalign bytes after a 16-byte boundary. */
static const char *load_file(const char *path, size_t max_bytes, size_t misalign,
                             uint8_t **alloc, size_t *size) {
    long n = fw_port_file_size(path);
    if (n < 0) return "cannot_open";
    size_t len = (size_t)n < max_bytes ? (size_t)n : max_bytes;
    uint8_t *p = fw_port_alloc(len + misalign);
    if (p == NULL) return "out_of_memory";
    if (fw_port_file_read(path, p + misalign, len) != 0) {
        fw_port_free(p);
        return "cannot_read";
    }
    *alloc = p;
    *size = len;
    return NULL;
}

/* model <path> [<max_bytes> [<misalign>]]: load (a prefix of) a file and
 * llm_model_open it; prints the config it found. */
void fw_cmd_model(const char *cmd, char *args) {
    char *path = fw_word(&args), *w_max = fw_word(&args), *w_mis = fw_word(&args);
    uint32_t max_bytes = 0xFFFFFFFFu, misalign = 0;
    if (path == NULL || (w_max != NULL && fw_parse_u32(w_max, &max_bytes) != 0) ||
        (w_mis != NULL && (fw_parse_u32(w_mis, &misalign) != 0 || misalign > 15))) {
        fw_reply_error(cmd, "usage");
        return;
    }
    drop_model();
    const char *err = load_file(path, max_bytes, misalign, &fw.model_alloc, &fw.model_size);
    if (err != NULL) {
        fw_reply_error(cmd, err);
        return;
    }
    fw.model_data = fw.model_alloc + misalign;
    llm_status s = llm_model_open(&fw.model, fw.model_data, fw.model_size);
    fw_out_begin(cmd, s);
    fw_out_kv_u("size", fw.model_size);
    if (s == LLM_OK) {
        const llm_config *c = &fw.model.config;
        fw.model_ok = 1;
        fw_out_kv_u("format", fw.model.format);
        fw_out_kv_u("dim", c->dim);
        fw_out_kv_u("hidden_dim", c->hidden_dim);
        fw_out_kv_u("n_layers", c->n_layers);
        fw_out_kv_u("n_heads", c->n_heads);
        fw_out_kv_u("n_kv_heads", c->n_kv_heads);
        fw_out_kv_u("vocab_size", c->vocab_size);
        fw_out_kv_u("seq_len", c->seq_len);
        fw_out_str(" rope_theta=");
        fw_out_f32_hex(&c->rope_theta, 1);
        fw_out_str(" norm_eps=");
        fw_out_f32_hex(&c->norm_eps, 1);
        fw_out_kv_u("tied", fw.model.cls.data == fw.model.tok_emb.data);
        fw_out_kv_u("tokenizer", fw.model.tokenizer_size);
        fw_out_kv_u("tok_flags", fw.model.tokenizer_flags);
        fw_out_kv_i("bos", fw.model.bos_id);
        fw_out_kv_i("eos", fw.model.eos_id);
        fw_out_kv_u("meta", llm_model_meta_count(&fw.model));
    }
    fw_out_end();
}

/* meta: every pair through llm_model_meta_at (keys, values as hex lists,
 * value lengths), whether each came NUL-terminated at its length, and the
 * status of the pair one past the end. meta <hex key>: llm_model_meta. */
void fw_cmd_meta(const char *cmd, char *args) {
    char *w_key = fw_word(&args);
    if (!fw.model_ok) {
        fw_reply_error(cmd, "no_model");
        return;
    }
    if (w_key != NULL) {
        if (fw_hex_decode(w_key) < 0) {
            fw_reply_error(cmd, "usage");
            return;
        }
        const char *value;
        size_t len;
        llm_status s = llm_model_meta(&fw.model, w_key, &value, &len);
        fw_out_begin(cmd, s);
        if (s == LLM_OK) {
            fw_out_kv_u("len", len);
            fw_out_kv_u("nul", value[len] == '\0' && strlen(value) == len);
            fw_out_kv_hex("value", value, len);
        }
        fw_out_end();
        return;
    }
    const uint32_t n = llm_model_meta_count(&fw.model);
    int nul = 1;
    for (uint32_t i = 0; i < n; i++) { /* first pass: status and terminators */
        const char *k, *v;
        size_t len;
        if (llm_model_meta_at(&fw.model, i, &k, &v, &len) != LLM_OK) {
            fw_reply_error(cmd, "meta_at_failed");
            return;
        }
        nul &= v[len] == '\0' && strlen(v) == len;
    }
    const char *k, *v;
    const llm_status past = llm_model_meta_at(&fw.model, n, &k, &v, NULL);
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("count", n);
    fw_out_kv_u("nul", (uint64_t)nul);
    fw_out_str(" past_end=");
    fw_out_str(llm_status_str(past));
    const char *const lists[3] = {"keys", "values", "lens"};
    for (int list = 0; list < 3; list++) {
        fw_out_key(lists[list]);
        if (n == 0) fw_out_str("-");
        for (uint32_t i = 0; i < n; i++) {
            size_t len;
            llm_model_meta_at(&fw.model, i, &k, &v, &len);
            if (i > 0) fw_out_str(",");
            if (list == 0) fw_out_hex(k, strlen(k));
            if (list == 1) fw_out_hex(v, len);
            if (list == 2) fw_out_u(len);
        }
    }
    fw_out_end();
}

/* tok <path> | tok -: external tokenizer for the next init, or none. */
void fw_cmd_tok(const char *cmd, char *args) {
    char *path = fw_word(&args);
    if (path == NULL) {
        fw_reply_error(cmd, "usage");
        return;
    }
    drop_tok();
    if (strcmp(path, "-") != 0) {
        const char *err = load_file(path, 0xFFFFFFFFu, 0, &fw.tok_data, &fw.tok_size);
        if (err != NULL) {
            fw_reply_error(cmd, err);
            return;
        }
    }
    fw_out_begin(cmd, LLM_OK);
    fw_out_kv_u("size", fw.tok_size);
    fw_out_end();
}

/* init <seq_len> [<kv>] | init_short <seq_len> [<kv>]: size query, then
 * llm_init on a fresh arena of exactly that size (init_short: one byte
 * less); kv is the KV cache type, f32 (default), f16 or q8. */
void fw_cmd_init(const char *cmd, char *args) {
    uint32_t seq_len;
    char *w_kv = NULL;
    llm_kv_type kv = LLM_KV_F32;
    if (fw_parse_u32(fw_word(&args), &seq_len) != 0) {
        fw_reply_error(cmd, "usage");
        return;
    }
    w_kv = fw_word(&args); /* optional KV cache type: f32, f16, q8 */
    if (w_kv != NULL) {
        if (strcmp(w_kv, "f16") == 0) {
            kv = LLM_KV_F16;
        } else if (strcmp(w_kv, "q8") == 0) {
            kv = LLM_KV_Q8;
        } else if (strcmp(w_kv, "f32") != 0) {
            fw_reply_error(cmd, "usage");
            return;
        }
    }
    if (!fw.model_ok) {
        fw_reply_error(cmd, "no_model");
        return;
    }
    fw_drop_ctx();
    llm_params p = llm_params_default();
    p.seq_len = seq_len;
    p.kv_type = kv;
    if (fw.tok_data != NULL) {
        p.tokenizer = fw.tok_data;
        p.tokenizer_size = fw.tok_size;
    }
    size_t need = 0;
    llm_status s = llm_arena_size(&fw.model, &p, &need);
    if (s != LLM_OK) {
        fw_out_begin(cmd, s);
        fw_out_kv_u("need", need);
        fw_out_end();
        return;
    }
    const int shrt = strcmp(cmd, "init_short") == 0;
    size_t size = shrt && need > 0 ? need - 1 : need;
    fw.arena = fw_port_alloc(size);
    if (fw.arena == NULL) {
        fw_reply_error(cmd, "out_of_memory");
        return;
    }
    fw.arena_size = size;
    s = llm_init(&fw.ctx, &fw.model, &p, fw.arena, size);
    fw_out_begin(cmd, s);
    fw_out_kv_u("need", need);
    fw_out_kv_u("arena", size);
    if (s == LLM_OK) {
        fw.ctx_ok = 1;
        fw_out_kv_u("used", llm_arena_used(&fw.ctx));
        fw_out_kv_u("seq_len", fw.ctx.seq_len);
        fw_out_kv_u("tok_vocab", fw.ctx.tok.vocab_size);
    } else {
        fw_drop_ctx();
    }
    fw_out_end();
}
