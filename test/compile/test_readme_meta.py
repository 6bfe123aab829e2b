"""The README's metadata snippet (under "## Model files") compiles with
warnings as errors against the library (host gcc, reference kernels) and
prints what llmtools wrote: every pair in order with its length, the name,
and the BOS/EOS ids, from the metadata or 1 and 2 without it. Needs gcc."""
import shutil
import subprocess
from pathlib import Path

import pytest
from llmtools import blob as B
from llmtools import testmodels

from helpers.package import readme_block

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / 'lib' / 'llm'

DRIVER = r'''
#include <stdlib.h>

#include "snippet.c"

int main(int argc, char **argv) {
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : NULL;
    if (!f) return 2;
    static uint8_t buf[1 << 20] __attribute__((aligned(16)));
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    static llm_model model;
    llm_status s = llm_model_open(&model, buf, n);
    if (s != LLM_OK) {
        printf("%s\n", llm_status_str(s));
        return 3;
    }
    print_metadata(&model);
    return 0;
}
'''

CONFIG = B.Config(dim=16, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=64, seq_len=8)


@pytest.fixture(scope='module')
def program(tmp_path_factory):
    gcc = shutil.which('gcc')
    if not gcc:
        pytest.fail('gcc not found (apt-get install gcc)', pytrace=False)
    d = tmp_path_factory.mktemp('readme_meta')
    (d / 'snippet.c').write_text(readme_block('## Model files', 'c'))
    (d / 'main.c').write_text(DRIVER)
    srcs = sorted(str(p) for p in LIB.joinpath('src').rglob('*.c'))
    exe = d / 'meta_demo'
    cmd = [gcc, '-std=c99', '-O1', '-Wall', '-Wextra', '-Werror', f'-I{LIB / "include"}',
           f'-I{LIB / "src"}', '-DLLM_BACKEND=LLM_BACKEND_REF', '-o', str(exe), str(d / 'main.c'),
           *srcs, '-lm']
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return exe


def run(program, tmp_path, metadata) -> str:
    path = tmp_path / 'm.llmb'
    path.write_bytes(B.write_blob(CONFIG, testmodels.random_model(CONFIG, 1, True), metadata=metadata))
    r = subprocess.run([str(program), str(path)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.decode()


def test_snippet_prints_the_pairs(program, tmp_path):
    meta = {'name': 'tiny ✓', 'eos_id': '63', 'recipe': 'weights=f32', 'chat_template': ''}
    assert run(program, tmp_path, meta) == (
        'name = tiny ✓ (8 bytes)\n'
        'eos_id = 63 (2 bytes)\n'
        'recipe = weights=f32 (11 bytes)\n'
        'chat_template =  (0 bytes)\n'
        'model tiny ✓, BOS 1, EOS 63\n')


def test_snippet_without_metadata(program, tmp_path):
    assert run(program, tmp_path, None) == 'model (no name), BOS 1, EOS 2\n'
