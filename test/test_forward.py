"""llm_forward on the device against the float32 NumPy oracle
(llmtools.oracle) on small generated models in both file formats (GQA, odd
dims, tied and untied classifiers, other rope_theta / norm_eps) and on
stories260K, at every position up to the context length.

Tolerance: max |device - oracle| <= 1e-4 * max(1, max |oracle logit|) per
position; the two compute in float32 with different summation orders."""
import numpy as np
import pytest
from llmtools.blob import Config

from helpers.models import write_model

RTOL = 1e-4

CONFIGS = {
    # GQA, hidden_dim not a multiple of 4.
    'gqa_h37': Config(dim=16, hidden_dim=37, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, seq_len=16),
    # hidden 172 as stories260K, 3 kv heads of 6 query heads, odd vocab.
    'gqa_h172': Config(dim=24, hidden_dim=172, n_layers=3, n_heads=6, n_kv_heads=3, vocab_size=97, seq_len=12),
    # Multi-query attention, one kv head.
    'mqa': Config(dim=32, hidden_dim=48, n_layers=1, n_heads=4, n_kv_heads=1, vocab_size=33, seq_len=9),
    # One head of size 6; dim not a multiple of 4.
    'one_head_dim6': Config(dim=6, hidden_dim=5, n_layers=2, n_heads=1, n_kv_heads=1, vocab_size=7, seq_len=10),
    # Head size 2, many layers.
    'hs2_deep': Config(dim=10, hidden_dim=17, n_layers=6, n_heads=5, n_kv_heads=5, vocab_size=40, seq_len=8),
}

# Blob-only: hyperparameters the llama2.c header cannot carry.
BLOB_ONLY = {
    'theta_eps': Config(dim=16, hidden_dim=40, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=50,
                        seq_len=12, rope_theta=500000.0, norm_eps=1e-6),
}


def check_positions(fw, model, n_pos: int, seed: int):
    """Feed random tokens at positions 0..n_pos-1 and compare every logit vector."""
    ref = model.oracle()
    tokens = np.random.default_rng(seed).integers(0, model.config.vocab_size, n_pos)
    for pos, tok in enumerate(tokens):
        status, got = fw.forward(int(tok), pos)
        assert status == 'LLM_OK', f'pos {pos}: {status}'
        want = ref.forward(int(tok), pos)
        assert got.shape == want.shape
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        bound = RTOL * max(1.0, float(np.max(np.abs(want))))
        assert err <= bound, f'pos {pos}: max |diff| {err:.3g} > {bound:.3g}'


def open_checked(fw, m, fmt: str):
    r = fw.model(m.path)
    assert r.ok, r
    c = m.config
    assert r.int('format') == (2 if fmt == 'blob' else 1)
    for k in ('dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'):
        assert r.int(k) == getattr(c, k), k
    assert r.int('tied') == int(m.tied)
    theta = np.frombuffer(bytes.fromhex(r.fields['rope_theta']), '>f4')[0]
    eps = np.frombuffer(bytes.fromhex(r.fields['norm_eps']), '>f4')[0]
    assert theta == np.float32(c.rope_theta) and eps == np.float32(c.norm_eps)


@pytest.mark.parametrize('fmt', ['blob', 'legacy'])
@pytest.mark.parametrize('tied', [True, False], ids=['tied', 'untied'])
@pytest.mark.parametrize('name', CONFIGS)
def test_forward_matches_oracle(fw, tmp_path, name, tied, fmt):
    c = CONFIGS[name]
    m = write_model(tmp_path, c, seed=len(name), tied=tied, fmt=fmt)
    open_checked(fw, m, fmt)
    i = fw.init(0)
    assert i.ok and i.int('seq_len') == c.seq_len
    check_positions(fw, m, c.seq_len, seed=3)
    # The context is full now.
    assert fw.forward(1, c.seq_len)[0] == 'LLM_ERR_CONTEXT_FULL'


@pytest.mark.parametrize('name', BLOB_ONLY)
def test_forward_blob_hyperparameters(fw, tmp_path, name):
    c = BLOB_ONLY[name]
    m = write_model(tmp_path, c, seed=9, tied=False)
    open_checked(fw, m, 'blob')
    assert fw.init(0).ok
    check_positions(fw, m, c.seq_len, seed=4)


def test_rope_theta_matters(fw, tmp_path):
    """The same weights with another rope_theta give other logits after
    position 0 (so the oracle comparison above can see theta)."""
    c = BLOB_ONLY['theta_eps']
    a = write_model(tmp_path, c, seed=9, tied=False, name='a.bin')
    c2 = Config(**{**c.__dict__, 'rope_theta': 10000.0})
    b = write_model(tmp_path, c2, weights=a.weights, name='b.bin')
    outs = []
    for m in (a, b):
        fw.load(m.path)
        fw.forward(5, 0)
        outs.append(fw.forward(6, 1)[1])
    assert np.max(np.abs(outs[0] - outs[1])) > 1e-3


def test_shorter_context(fw, tmp_path):
    """init with seq_len below the model's: same logits, CONTEXT_FULL at the smaller limit."""
    c = CONFIGS['gqa_h37']
    m = write_model(tmp_path, c, seed=5)
    assert fw.model(m.path).ok
    i = fw.init(5)
    assert i.ok and i.int('seq_len') == 5
    check_positions(fw, m, 5, seed=8)
    assert fw.forward(1, 5)[0] == 'LLM_ERR_CONTEXT_FULL'
    assert fw.init(c.seq_len + 1).status == 'LLM_ERR_ARG'


def test_bad_token_and_position(fw, tmp_path):
    c = CONFIGS['mqa']
    m = write_model(tmp_path, c, seed=5)
    fw.load(m.path)
    assert fw.forward(c.vocab_size, 0)[0] == 'LLM_ERR_ARG'
    assert fw.forward(-1, 0)[0] == 'LLM_ERR_ARG'
    assert fw.forward(1, 1_000_000)[0] == 'LLM_ERR_CONTEXT_FULL'
    # Still usable after the rejected calls.
    check_positions(fw, m, 3, seed=1)


def test_restart_at_position_zero(fw, tmp_path):
    """Going back to position 0 restarts the sequence: same logits as a fresh context."""
    c = CONFIGS['gqa_h37']
    m = write_model(tmp_path, c, seed=6)
    fw.load(m.path)
    first = [fw.forward(t, p)[1] for p, t in enumerate([4, 9, 2])]
    again = [fw.forward(t, p)[1] for p, t in enumerate([4, 9, 2])]
    for a, b in zip(first, again):
        assert np.array_equal(a, b)


def test_stories260k_forward(fw, stories):
    """The trained model, fed the greedy story's first tokens, for 40 positions."""
    fw.load(stories.model_path, tok=stories.tok_path)
    ref = stories.oracle()
    ids = stories.tokenizer.encode('Once upon a time, there was a little girl named Lily. She loved to play '
                                   'outside in the park. One day, she saw a big, red ball.', True, False)
    assert len(ids) >= 30
    for pos, tok in enumerate(ids[:40]):
        status, got = fw.forward(tok, pos)
        assert status == 'LLM_OK'
        want = ref.forward(tok, pos)
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        assert err <= RTOL * max(1.0, float(np.max(np.abs(want)))), f'pos {pos}: {err:.3g}'


def test_stories260k_last_positions(fw, stories):
    """Positions up to the full 512-token context, then CONTEXT_FULL."""
    fw.load(stories.model_path)
    ref = stories.oracle()
    n = stories.config.seq_len
    toks = np.random.default_rng(2).integers(3, stories.config.vocab_size, n)
    for pos, tok in enumerate(toks):
        want = ref.forward(int(tok), pos)
        status, got = fw.forward(int(tok), pos)
        assert status == 'LLM_OK'
        if pos % 64 == 0 or pos >= n - 3:
            err = float(np.max(np.abs(got.astype(np.float64) - want)))
            assert err <= RTOL * max(1.0, float(np.max(np.abs(want)))), f'pos {pos}: {err:.3g}'
    assert fw.forward(1, n)[0] == 'LLM_ERR_CONTEXT_FULL'
