/*
 * State shared by the firmware's commands: the loaded model and tokenizer
 * bytes, the opened model and the context with its arena. Every buffer is
 * allocated with exactly the size it needs, so sanitizers catch overruns.
 */
#ifndef FW_STATE_H
#define FW_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

/* Longest command line incl. NUL: hex payloads (logits, prompts) travel in it. */
#ifndef FW_LINE_MAX
#define FW_LINE_MAX (1 << 17)
#endif

/* Most bytes of text one generate command collects. */
#ifndef FW_TEXT_MAX
#define FW_TEXT_MAX (1 << 14)
#endif

typedef struct fw_state {
    uint8_t *model_alloc;   /* (model_size + misalign) bytes as allocated */
    const uint8_t *model_data; /* (model_size) the file's bytes, possibly misaligned */
    size_t model_size;
    int model_ok;           /* llm_model_open succeeded */
    llm_model model;

    uint8_t *tok_data;      /* (tok_size) external tokenizer for the next init, or NULL */
    size_t tok_size;

    uint8_t *arena;         /* (arena_size) */
    size_t arena_size;
    int ctx_ok;             /* llm_init succeeded */
    llm_ctx ctx;

    /* The last state_save's buffer; kept across init and model, so a state
     * can be restored into another context or model. */
    uint8_t *state_alloc;   /* (state_len + misalign) bytes as allocated */
    uint8_t *state_buf;     /* (state_len) the caller buffer, possibly misaligned */
    size_t state_len;
} fw_state;

extern fw_state fw;

/* Drop the context (arena freed). */
void fw_drop_ctx(void);
/* Drop the saved state buffer. */
void fw_drop_state(void);
/* Drop everything: context, model, tokenizer, saved state. */
void fw_drop_all(void);

/* Command handlers: cmd is the command word, args the rest of the line.
 * Each prints exactly one result line. */
void fw_cmd_info(const char *cmd, char *args);
void fw_cmd_simd(const char *cmd, char *args);
void fw_cmd_reset(const char *cmd, char *args);
void fw_cmd_model(const char *cmd, char *args);
void fw_cmd_meta(const char *cmd, char *args);
void fw_cmd_tok(const char *cmd, char *args);
void fw_cmd_init(const char *cmd, char *args);
void fw_cmd_forward(const char *cmd, char *args);
void fw_cmd_sample(const char *cmd, char *args);
void fw_cmd_encode(const char *cmd, char *args);
void fw_cmd_decode(const char *cmd, char *args);
void fw_cmd_generate(const char *cmd, char *args);
void fw_cmd_ctx_pos(const char *cmd, char *args);   /* fw_cmd_chat.c: ctx_pos, ctx_reset */
void fw_cmd_append(const char *cmd, char *args);
void fw_cmd_chat(const char *cmd, char *args);
void fw_cmd_policy(const char *cmd, char *args);
void fw_cmd_shift(const char *cmd, char *args);
void fw_cmd_rotkernel(const char *cmd, char *args); /* fw_cmd_rotate.c */
void fw_cmd_kernel(const char *cmd, char *args);
void fw_cmd_qkernel(const char *cmd, char *args);
void fw_cmd_teacher(const char *cmd, char *args);
void fw_cmd_workers(const char *cmd, char *args);   /* fw_cmd_parallel.c */
void fw_cmd_parallel(const char *cmd, char *args);  /* fw_cmd_parallel.c */
void fw_cmd_esp_plan(const char *cmd, char *args);  /* fw_cmd_esp32s3.c */
void fw_cmd_state(const char *cmd, char *args);     /* fw_cmd_state.c: state_* */

/* The llm_port.parallel_for hook, split as the workers command set. */
void fw_parallel_for(llm_range_fn fn, void *arg, uint32_t n, void *user);

#endif /* FW_STATE_H */
