/*
 * Test firmware: a line-based command interpreter over the llm library,
 * driven by the pytest-embedded suite in test/ (client: test/helpers/firmware.py).
 *
 * Protocol (ASCII lines; binary payloads as hex):
 *   At start the firmware prints "ready llm-test-fw protocol=1".
 *   Every command gets exactly one result line:
 *       <command> <llm_status_str> [key=value ...]
 *   Firmware-side failures (bad arguments, unreadable file, no model or
 *   context yet) answer LLM_ERR_ARG with a fw_error=<reason> key. Lines
 *   starting with "#" are comments (library log messages come out as
 *   "# log <level> <message>"). Numbers are decimal; floats as arguments are
 *   decimal (strtod, then rounded to float); floats in results are IEEE-754
 *   bits, 8 hex digits each, most significant first; text is hex of its
 *   bytes, "-" when empty; id lists are comma-separated, "-" when empty.
 *
 *   info                          backend=ref|cm55|esp32s3|cm4|x86|neon simd=avx2|ref|-
 *                                 line_max text_max max_layers max_stops
 *                                 max_stop_len arena_align [neon_fma neon_dotprod]
 *                                 (simd: the kernels x86 chose at run time, "-"
 *                                 elsewhere; neon_*: NEON builds only)
 *   simd off|on                   x86: force the reference kernels, or allow
 *                                 AVX2 + FMA again: simd=avx2|ref
 *   reset                         forget model, tokenizer and context
 *   model <path> [<max_bytes> [<misalign>]]
 *                                 read (the first max_bytes of) a file into a
 *                                 buffer of exactly that size, starting misalign
 *                                 (0..15) bytes past a 16-byte boundary, then
 *                                 llm_model_open: size, and when OK format dim
 *                                 hidden_dim n_layers n_heads n_kv_heads
 *                                 vocab_size seq_len rope_theta norm_eps (bits)
 *                                 tied tokenizer (embedded bytes) tok_flags
 *                                 (LLM_TOK_*) bos eos meta (metadata pairs)
 *   meta                          every llm_model_meta_at pair: count, nul
 *                                 (all NUL-terminated at their length),
 *                                 past_end (status of pair count),
 *                                 keys=<hex>,... values=<hex>,... lens=<list>
 *   meta <hex key>                llm_model_meta: when OK len nul value=<hex>
 *   tok <path> | tok -            external tokenizer for the next init, or none
 *   init <seq_len> [<kv>]         llm_arena_size, then llm_init on a fresh arena
 *   init_short <seq_len> [<kv>]   of exactly that size (init_short: one byte
 *                                 less), KV cache f32 (default), f16 or q8:
 *                                 need arena, and when OK used seq_len
 *                                 tok_vocab
 *   forward <token> <pos>         llm_forward: logits=<vocab floats>
 *   sample <temp> <top_p> <top_k> <penalty> <last_n> <seed> <n_draws> <history> <logits>
 *                                 llm_sampler_set, then n_draws llm_sample on
 *                                 fresh copies of logits (vocab floats):
 *                                 ids=<list>
 *   encode <bos> <eos> <max_tokens> <hex text>
 *                                 llm_encode into exactly max_tokens ids:
 *                                 n, and when OK ids=<list>
 *   decode <prev> <token> [<prev> <token> ...]
 *                                 llm_decode of each pair: pieces=<hex>,<hex>...
 *   generate <n_steps> <temp> <top_p> <top_k> <penalty> <last_n> <seed> <echo>
 *            <stop_after> <hex prompt> [<hex stop> ...]
 *                                 llm_sampler_set, llm_generate collecting the
 *                                 pieces (the callback asks to stop after
 *                                 stop_after pieces, 0 = never): end (when OK)
 *                                 n_prompt n_generated prefill_us decode_us
 *                                 pieces overflow lens=<first 256 piece
 *                                 lengths> text=<hex>
 *                                 (both also print n_past n_queued)
 *   continue <max_new> <generate's arguments>
 *                                 llm_continue from where the context stands,
 *                                 with max_new: the same reply
 *   ctx_pos | ctx_reset | ctx_recompute
 *                                 the context's n_past n_queued tokens=<run
 *                                 and queued ids> (after llm_ctx_reset or
 *                                 llm_ctx_recompute)
 *   append <bos> <eos> <hex text> llm_append_text: status, then as ctx_pos
 *   chat <template> <hex system>|- <hex user>
 *                                 llm_chat_append with llm_chat_template_find:
 *                                 status, then as ctx_pos
 *   policy stop|shift <n_keep> <n_discard>
 *                                 llm_set_full_policy
 *   shift <n_keep> <n_discard>    llm_kv_shift: status, then as ctx_pos
 *   rotkernel <f32|f16|q8> <n_rows> <n_heads> <hs> <scale> <seed>
 *                                 dispatched and reference key re-rotation
 *                                 (documented in fw_cmd_rotate.c)
 *   kernel <op> <dims...> <scale> <seed>
 *                                 dispatched and reference kernel on the same
 *                                 pseudo-random inputs (see fw_cmd_kernel.c)
 *   qkernel <op> <dims...> <scale> <seed>
 *                                 the same for the quantized-weight and KV
 *                                 cache kernels (see fw_cmd_quant.c)
 *   teacher <pos0> <ids>          teacher-forced llm_forward over ids from
 *                                 position pos0: logprobs of each next id,
 *                                 their sum, top1 ids (fw_cmd_quant.c)
 *   workers, parallel             split of the library's work over threads
 *                                 (documented in fw_cmd_parallel.c)
 *   esp_plan                      the ESP32-S3 port's target-neutral decisions
 *                                 (documented in fw_cmd_esp32s3.c)
 *   state_size, state_save, state_restore, state_poke, state_hex
 *                                 llm_state_* on a firmware-held buffer that
 *                                 survives init and model (fw_cmd_state.c)
 *   prefill <pos0> <ids>          timed llm_forward over ids, greedy next
 *                                 token (fw_cmd_state.c)
 *   quit                          free everything, answer, exit
 */
#include <string.h>

#include "fw_io.h"
#include "fw_port.h"
#include "fw_state.h"

static char line[FW_LINE_MAX]; /* (FW_LINE_MAX) current command line */

/* Library log messages become comment lines, which the host ignores. */
static void log_hook(int level, const char *msg, void *user) {
    (void)user;
    fw_out_str("# log ");
    fw_out_u((uint64_t)level);
    fw_out_str(" ");
    fw_out_str(msg);
    fw_out_end();
}

static uint64_t time_hook(void *user) {
    (void)user;
    return fw_port_time_us();
}

typedef void (*cmd_fn)(const char *cmd, char *args);

static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"info", fw_cmd_info},         {"reset", fw_cmd_reset},     {"model", fw_cmd_model},
    {"meta", fw_cmd_meta},
    {"tok", fw_cmd_tok},           {"init", fw_cmd_init},       {"init_short", fw_cmd_init},
    {"forward", fw_cmd_forward},   {"sample", fw_cmd_sample},   {"encode", fw_cmd_encode},
    {"decode", fw_cmd_decode},     {"generate", fw_cmd_generate}, {"kernel", fw_cmd_kernel},
    {"qkernel", fw_cmd_qkernel},   {"teacher", fw_cmd_teacher},
    {"workers", fw_cmd_workers},   {"parallel", fw_cmd_parallel}, {"esp_plan", fw_cmd_esp_plan},
    {"state_size", fw_cmd_state},  {"state_save", fw_cmd_state},  {"state_restore", fw_cmd_state},
    {"state_poke", fw_cmd_state},  {"state_hex", fw_cmd_state},    {"prefill", fw_cmd_state},
    {"simd", fw_cmd_simd},
    {"continue", fw_cmd_generate}, {"ctx_pos", fw_cmd_ctx_pos},   {"ctx_reset", fw_cmd_ctx_pos},
    {"append", fw_cmd_append},     {"chat", fw_cmd_chat},         {"policy", fw_cmd_policy},
    {"shift", fw_cmd_shift},       {"rotkernel", fw_cmd_rotkernel}, {"ctx_recompute", fw_cmd_ctx_pos},
};

int main(void) {
    fw_port_init();
    llm_port port = {log_hook, time_hook, NULL, fw_parallel_for};
    llm_port_set(&port);
    fw_out_str("ready llm-test-fw protocol=1");
    fw_out_end();

    for (;;) {
        long n = fw_port_read_line(line, sizeof line);
        if (n == -1) break;
        char *cursor = line;
        char *cmd = fw_word(&cursor);
        if (n == -2) {
            fw_reply_error(cmd != NULL ? cmd : "error", "line_too_long");
            continue;
        }
        if (cmd == NULL || cmd[0] == '#') continue;
        if (strcmp(cmd, "quit") == 0) {
            fw_drop_all();
            fw_out_begin("quit", LLM_OK);
            fw_out_end();
            break;
        }
        size_t i;
        for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
            if (strcmp(cmd, commands[i].name) == 0) break;
        }
        if (i == sizeof commands / sizeof commands[0]) {
            fw_reply_error(cmd, "unknown_command");
            continue;
        }
        commands[i].fn(cmd, cursor);
    }
    fw_drop_all();
    fw_port_exit(0);
    return 0;
}
