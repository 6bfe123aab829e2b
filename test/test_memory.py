"""Arena sizing: llm_arena_size equals llm_arena_used after llm_init for
several models and context lengths, an arena one byte short is refused, and
the size grows with the context as the buffers listed in llm.h require.
The firmware allocates the arena with exactly the queried size, so the
sanitizer build also catches any write past it."""
import pytest
from llmtools import testmodels
from llmtools.blob import Config

from helpers.models import write_model

ALIGN = 16

CONFIGS = {
    'gqa': Config(dim=16, hidden_dim=37, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, seq_len=16),
    'odd': Config(dim=6, hidden_dim=5, n_layers=3, n_heads=1, n_kv_heads=1, vocab_size=7, seq_len=33),
    'tokenized': Config(dim=16, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=300, seq_len=20),
}


def floats_lower_bound(c: Config, seq: int) -> int:
    """Bytes of the buffers of llm_ctx (llm.h), before alignment: float
    scratch, KV cache, tokens, sampler candidates (8 bytes per token)."""
    hs = c.head_size
    q_dim = c.n_heads * hs
    n = (c.dim * 3 + c.hidden_dim * 2 + q_dim + c.n_heads * seq + c.vocab_size
         + hs // 2 + hs + 2 * c.n_layers * seq * c.kv_dim)
    return 4 * n + 4 * seq + 8 * c.vocab_size


def check_sizes(fw, seq_lens, model_seq: int):
    needs = {}
    for s in seq_lens:
        r = fw.init(s)
        assert r.ok, r
        assert r.int('used') == r.int('need'), f'seq_len {s}: used {r.int("used")} != size query {r.int("need")}'
        assert r.int('seq_len') == (s or model_seq)
        needs[s] = r.int('need')
        short = fw.init(s, short=True)
        assert short.status == 'LLM_ERR_ARENA_TOO_SMALL', f'seq_len {s}: {short}'
        assert short.int('arena') == needs[s] - 1
    return needs


@pytest.mark.parametrize('name', CONFIGS)
@pytest.mark.parametrize('fmt', ['blob', 'legacy'])
def test_arena_size_equals_used(fw, tmp_path, name, fmt):
    c = CONFIGS[name]
    tok = testmodels.synthetic_tokenizer(c.vocab_size, 1) if name == 'tokenized' and fmt == 'blob' else None
    m = write_model(tmp_path, c, seed=3, fmt=fmt, tokenizer=tok)
    assert fw.model(m.path).ok
    seqs = [1, 2, 7, c.seq_len - 1, c.seq_len, 0]
    needs = check_sizes(fw, seqs, c.seq_len)
    assert needs[0] == needs[c.seq_len], '0 means the model context'
    for s in seqs:
        eff = s or c.seq_len
        assert needs[s] >= floats_lower_bound(c, eff)
        if tok is not None:
            # offsets (u32) and sorted ids (u16) per token, merge scratch
            assert needs[s] >= floats_lower_bound(c, eff) + 6 * c.vocab_size
    # Each extra position costs its KV cache rows, attention scores and token
    # slot, and nothing else: four buffers grow, each rounded to ALIGN.
    per_pos = 4 * (2 * c.n_layers * c.kv_dim + c.n_heads + 1)
    for a, b in [(1, 2), (2, 7), (7, c.seq_len)]:
        grow = needs[b] - needs[a]
        assert abs(grow - per_pos * (b - a)) < 4 * ALIGN, (a, b, grow)


def test_arena_with_external_tokenizer(fw, tmp_path, stories):
    """stories260K with tok512: the tokenizer's tables are in the arena too."""
    assert fw.model(stories.model_path).ok
    without = check_sizes(fw, [0, 64], stories.config.seq_len)
    assert fw.tok(stories.tok_path).ok
    with_tok = check_sizes(fw, [0, 64, 1], stories.config.seq_len)
    for s in (0, 64):
        assert with_tok[s] - without[s] >= 6 * stories.config.vocab_size


def test_context_longer_than_model(fw, tmp_path):
    c = CONFIGS['gqa']
    m = write_model(tmp_path, c, seed=3)
    assert fw.model(m.path).ok
    assert fw.init(c.seq_len + 1).status == 'LLM_ERR_ARG'
    assert fw.init(c.seq_len).ok


def test_reinit_gives_same_logits(fw, tmp_path):
    """A context built in a fresh arena after another one behaves the same:
    nothing of the old arena is relied upon (the firmware frees it)."""
    c = CONFIGS['gqa']
    m = write_model(tmp_path, c, seed=4)
    fw.load(m.path, seq_len=8)
    a = [fw.forward(t, p)[1] for p, t in enumerate([3, 1, 4, 1, 5])]
    assert fw.init(8).ok
    b = [fw.forward(t, p)[1] for p, t in enumerate([3, 1, 4, 1, 5])]
    assert all((x == y).all() for x, y in zip(a, b))
