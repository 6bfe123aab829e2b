"""The README's "Saving a prefilled prompt" snippet compiles with warnings as
errors against the library (host gcc, reference kernels) and does what it
says: a small program around it saves stories260K's prompt state once, and
two conversations restored from it get the same first reply token as a
context that prefilled prompt and turn itself; the saved size is llm.h's
formula. Needs gcc and LLM_MODELS_DIR (stories260K.bin, tok512.bin)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.package import readme_block

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / 'lib' / 'llm'

DRIVER = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snippet.c"

static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *raw = malloc(*n + 16), *p = raw ? raw + (16 - (uintptr_t)raw % 16) : NULL;
    if (p && fread(p, 1, *n, f) != *n) p = NULL;
    fclose(f);
    return p;
}

static llm_model model;
static llm_ctx ctx;
static uint8_t arena[400 * 1024] __attribute__((aligned(16)));

static int setup(const void *tok, size_t tok_n) {
    llm_params p = llm_params_default();
    p.seq_len = 256;
    p.tokenizer = tok;
    p.tokenizer_size = tok_n;
    if (llm_init(&ctx, &model, &p, arena, sizeof arena) != LLM_OK) return -1;
    llm_sampler_params sp = llm_sampler_default();
    sp.temperature = 0.0f;
    llm_sampler_set(&ctx, &sp);
    return 0;
}

int main(int argc, char **argv) {
    size_t mn, tn;
    void *m = read_file(argv[1], &mn), *t = read_file(argv[2], &tn);
    const char *prompt = "Once upon a time, there was a little girl named Lily. She loved to play.";
    const char *turn = "One day";
    if (argc < 3 || !m || !t || llm_model_open(&model, m, mn) != LLM_OK || setup(t, tn) != 0) return 2;
    if (prompt_save(&ctx, prompt) != LLM_OK) return 3;
    /* Scribble over the context between conversations: the restore must undo it. */
    for (uint32_t i = 0; i < 20; i++) llm_forward(&ctx, 5 + (int32_t)i, i, NULL);
    int32_t a = first_reply_token(&ctx, turn);
    for (uint32_t i = 0; i < 20; i++) llm_forward(&ctx, 7 + (int32_t)i, i, NULL);
    int32_t b = first_reply_token(&ctx, turn);

    /* The same from scratch: prompt and turn prefilled in one go. */
    if (setup(t, tn) != 0) return 2;
    int32_t ids[300];
    size_t n1, n2;
    if (llm_encode(&ctx, prompt, 1, 0, ids, 200, &n1) != LLM_OK) return 4;
    if (llm_encode(&ctx, turn, 0, 0, ids + n1, 64, &n2) != LLM_OK) return 4;
    float *logits = NULL;
    for (size_t i = 0; i < n1 + n2; i++) llm_forward(&ctx, ids[i], (uint32_t)i, &logits);
    int32_t want = llm_sample(&ctx, logits, ctx.tokens, n1 + n2);
    printf("n_prompt=%zu saved_len=%zu a=%d b=%d want=%d\n", n1, saved_len, (int)a, (int)b, (int)want);
    return 0;
}
'''


def test_readme_state_snippet(tmp_path):
    gcc = shutil.which('gcc')
    if not gcc:
        pytest.fail('gcc not found (apt-get install gcc)', pytrace=False)
    models = os.environ.get('LLM_MODELS_DIR')
    if not models:
        pytest.fail('LLM_MODELS_DIR is not set', pytrace=False)
    (tmp_path / 'snippet.c').write_text(readme_block('## Saving a prefilled prompt', 'c'))
    (tmp_path / 'main.c').write_text(DRIVER)
    srcs = sorted(str(p) for p in LIB.joinpath('src').rglob('*.c'))
    exe = tmp_path / 'state_demo'
    cmd = [gcc, '-std=c99', '-O1', '-Wall', '-Wextra', '-Werror', f'-I{LIB / "include"}',
           f'-I{LIB / "src"}', '-DLLM_BACKEND=LLM_BACKEND_REF', '-o', str(exe), str(tmp_path / 'main.c'),
           *srcs, '-lm']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    r = subprocess.run([str(exe), str(Path(models) / 'stories260K.bin'), str(Path(models) / 'tok512.bin')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    f = dict(kv.split('=') for kv in r.stdout.split())
    n = int(f['n_prompt'])
    assert n > 10
    assert int(f['saved_len']) == 48 + n * (2 * 5 * 32 * 4 + 4)
    assert int(f['want']) >= 0
    assert f['a'] == f['b'] == f['want'], r.stdout
