/* Stable names of status codes and end reasons, for logs and test output. */
#include "llm_internal.h"

/* Indexed by llm_status; the check below keeps it in step with the enum. */
static const char *const status_names[] = {
    "LLM_OK",
    "LLM_ERR_ARG",
    "LLM_ERR_TRUNCATED",
    "LLM_ERR_SIZE",
    "LLM_ERR_MAGIC",
    "LLM_ERR_VERSION",
    "LLM_ERR_CHECKSUM",
    "LLM_ERR_DIMS",
    "LLM_ERR_TENSOR_TABLE",
    "LLM_ERR_DTYPE",
    "LLM_ERR_SHAPE",
    "LLM_ERR_BOUNDS",
    "LLM_ERR_ALIGN",
    "LLM_ERR_TOKENIZER",
    "LLM_ERR_NO_TOKENIZER",
    "LLM_ERR_ARENA_TOO_SMALL",
    "LLM_ERR_PROMPT_TOO_LONG",
    "LLM_ERR_UTF8",
    "LLM_ERR_CONTEXT_FULL",
    "LLM_ERR_STATE_BUFFER",
    "LLM_ERR_STATE_TRUNCATED",
    "LLM_ERR_STATE_MAGIC",
    "LLM_ERR_STATE_VERSION",
    "LLM_ERR_STATE_CORRUPT",
    "LLM_ERR_STATE_MODEL",
    "LLM_ERR_STATE_KV_TYPE",
    "LLM_ERR_STATE_CONTEXT",
    "LLM_ERR_NOT_FOUND",
    "LLM_ERR_META_TRUNCATED",
    "LLM_ERR_META_VERSION",
    "LLM_ERR_META_COUNT",
    "LLM_ERR_META_KEY",
    "LLM_ERR_META_TERMINATOR",
    "LLM_ERR_META_VALUE",
    "LLM_ERR_META_DUPLICATE",
    "LLM_ERR_META_TRAILING",
    "LLM_ERR_META_TOKEN_ID",
};
typedef char llm__status_names_match_enum
    [sizeof status_names / sizeof status_names[0] == LLM_STATUS_COUNT ? 1 : -1];

/* Indexed by llm_end. */
static const char *const end_names[] = {"eos", "budget", "context", "stop_string", "callback"};
typedef char llm__end_names_match_enum
    [sizeof end_names / sizeof end_names[0] == LLM_END_CALLBACK + 1 ? 1 : -1];

const char *llm_status_str(llm_status s) {
    /* The cast also maps negative values, which a caller may force into the enum. */
    if ((unsigned)s >= (unsigned)LLM_STATUS_COUNT) return "LLM_ERR_UNKNOWN";
    return status_names[s];
}

const char *llm_end_str(llm_end e) {
    if ((unsigned)e > (unsigned)LLM_END_CALLBACK) return "unknown";
    return end_names[e];
}
