/* Chat templates: a conversation's turns as the chat formats define them,
 * queued as tokens after what the context holds. */
#include "llm_internal.h"

/*
 * A template is three formats: the first user turn with a system prompt,
 * without one, and a later turn (after the reply, which the model ends with
 * EOS or which gets one). In a format, {bos} and {eos} are those tokens,
 * {system} and {user} the caller's text, everything else literal text.
 * Text is encoded as SentencePiece does a whole string: the dummy-prefix
 * space only where a sequence starts (the conversation's beginning or right
 * after BOS), none after EOS, as a Llama tokenizer does after a special token.
 */
struct llm_chat_template {
    const char *name;
    const char *first_system;
    const char *first;
    const char *next;
};

static const llm_chat_template templates[] = {
    /* Llama 2 chat (Meta's chat_completion): each user turn is its own
     * sequence, BOS "[INST] ... [/INST]"; the system prompt sits inside the
     * first one between <<SYS>> markers; each reply ends with EOS. */
    {"llama2", "{bos}[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]", "{bos}[INST] {user} [/INST]",
     "{bos}[INST] {user} [/INST]"},
    /* Zephyr / TinyLlama chat: one sequence from BOS; every message is a
     * role line, its text and EOS, messages separated by a newline; the
     * reply follows "<|assistant|>\n". */
    {"zephyr", "{bos}<|system|>\n{system}{eos}\n<|user|>\n{user}{eos}\n<|assistant|>\n",
     "{bos}<|user|>\n{user}{eos}\n<|assistant|>\n", "\n<|user|>\n{user}{eos}\n<|assistant|>\n"},
};

const llm_chat_template *llm_chat_template_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        if (strcmp(templates[i].name, name) == 0) return &templates[i];
    }
    return NULL;
}

const llm_chat_template *llm_chat_template_of(const llm_model *m) {
    if (!m) return NULL;
    /* The blob's metadata key "chat_template" names the model's template;
     * a name this library does not know gives NULL, as no name does. */
    const char *name;
    size_t len;
    if (llm_model_meta(m, "chat_template", &name, &len) != LLM_OK) return NULL;
    return llm_chat_template_find(name);
}

const char *llm_chat_template_name(const llm_chat_template *t) {
    return t ? t->name : "";
}

/* Most text slices between two special tokens of a format. */
#define MAX_PARTS 8

static int starts(const char *s, const char *word) {
    return strncmp(s, word, strlen(word)) == 0;
}

/* Queue format f with system and user filled in. */
static llm_status render(llm_ctx *ctx, const char *f, const char *system, const char *user) {
    llm__str parts[MAX_PARTS];
    size_t n = 0;
    int bos = 0; /* a {bos} waits for the text it begins */
    llm_status s = LLM_OK;
    while (*f != '\0' && s == LLM_OK) {
        if (starts(f, "{bos}") || starts(f, "{eos}")) {
            const int is_eos = f[1] == 'e';
            if (n > 0 || bos || is_eos) s = llm__append(ctx, parts, n, bos, is_eos);
            n = 0;
            bos = !is_eos;
            f += 5;
            continue;
        }
        if (n == MAX_PARTS) return LLM_ERR_ARG; /* the built-in formats stay below */
        if (starts(f, "{system}")) {
            parts[n].s = system;
            parts[n++].n = strlen(system);
            f += 8;
        } else if (starts(f, "{user}")) {
            parts[n].s = user;
            parts[n++].n = strlen(user);
            f += 6;
        } else {
            const char *e = strchr(f + 1, '{');
            const size_t len = e ? (size_t)(e - f) : strlen(f);
            parts[n].s = f;
            parts[n++].n = len;
            f += len;
        }
    }
    if (s == LLM_OK && (n > 0 || bos)) s = llm__append(ctx, parts, n, bos, 0);
    return s;
}

llm_status llm_chat_append(llm_ctx *ctx, const llm_chat_template *t, const char *system,
                           const char *user) {
    if (!ctx || !ctx->model || !ctx->tokens || !t || !user) return LLM_ERR_ARG;
    const uint32_t queued = ctx->n_queued;
    const uint32_t n = ctx->n_past + ctx->n_queued;
    llm_status s;
    if (n == 0) {
        const int sys = system && system[0] != '\0';
        s = render(ctx, sys ? t->first_system : t->first, sys ? system : "", user);
    } else {
        s = LLM_OK;
        if (ctx->tokens[n - 1] != ctx->model->eos_id) s = llm__append(ctx, NULL, 0, 0, 1); /* close the reply */
        if (s == LLM_OK) s = render(ctx, t->next, "", user);
    }
    if (s != LLM_OK) ctx->n_queued = queued; /* a shift it made stays */
    return s;
}
