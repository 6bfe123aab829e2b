"""llm_state_size / llm_state_save / llm_state_restore on the device.

A context that restores a state saved after n_pos positions and runs
llm_forward at n_pos, n_pos+1, ... gives logits bit-identical to the saved
context continuing there (every KV type, partial n_pos, a longer context,
float and q8 weights, stories260K at 200 positions), and a fresh context
without the restore does not. The saved bytes follow the layout llm.h
documents (header fields, both CRC-32s, keys against the NumPy oracle's
cache, the tokens). Every refusal has its status, and a refused restore
leaves the context as it was."""
import struct
import zlib

import numpy as np
import pytest
from llmtools import blob as B
from llmtools import oracle, quant, testmodels
from llmtools.blob import Config

from helpers.firmware import parse_hex
from helpers.models import write_model

CFG = Config(dim=32, hidden_dim=48, n_layers=3, n_heads=4, n_kv_heads=2, vocab_size=64, seq_len=24)
KV_TYPES = ['f32', 'f16', 'q8']
ELEM = {'f32': 4, 'f16': 2, 'q8': 1}
KV_CODE = {'f32': 0, 'f16': 1, 'q8': 2}
HEADER = 48
N_RUN = 16  # positions the saved context has run


def state_bytes(c: Config, kv: str, n_pos: int) -> int:
    """llm.h's size formula."""
    kv_dim = c.n_kv_heads * (c.dim // c.n_heads)
    s = 2 * c.n_kv_heads if kv == 'q8' else 0
    return HEADER + n_pos * (2 * c.n_layers * (kv_dim * ELEM[kv] + s) + 4)


def init(fw, seq_len: int = 0, kv: str = 'f32'):
    r = fw.command(f'init {seq_len} {kv}')
    assert r.ok, r
    return r


def save(fw, n_pos: int, buf_len: int | None = None, misalign: int = 0):
    line = f'state_save {n_pos}'
    if buf_len is not None or misalign:
        line += f' {buf_len} {misalign}'
    return fw.command(line)


def restore(fw, length: int | None = None):
    return fw.command('state_restore' + ('' if length is None else f' {length}'))


def poke(fw, offset: int, xor: int):
    assert fw.command(f'state_poke {offset} {xor}').ok


def state_hex(fw, offset: int, n: int) -> bytes:
    r = fw.command(f'state_hex {offset} {n}')
    assert r.ok, r
    return parse_hex(r.fields['hex'])


def bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)


def run(fw, tokens, pos0: int = 0) -> list:
    out = []
    for i, t in enumerate(tokens):
        status, logits = fw.forward(int(t), pos0 + i)
        assert status == 'LLM_OK', f'pos {pos0 + i}: {status}'
        out.append(logits)
    return out


def tokens_for(c: Config, seed: int, n: int):
    return [int(t) for t in np.random.default_rng(seed).integers(0, c.vocab_size, n)]


@pytest.fixture
def model(tmp_path):
    return write_model(tmp_path, CFG, seed=11, tied=False)


def saved_then_continued(fw, kv: str, n_pos: int, seq_len: int = 0, seed: int = 1):
    """Run N_RUN positions (at least n_pos), save n_pos of them, continue
    the same context at n_pos for 4 positions: the logits to reproduce."""
    init(fw, seq_len, kv)
    hist = tokens_for(CFG, seed, max(N_RUN, n_pos))
    run(fw, hist)
    r = save(fw, n_pos)
    assert r.ok, r
    assert r.int('written') == state_bytes(CFG, kv, n_pos)
    cont = tokens_for(CFG, seed + 100, 4)
    return hist, cont, run(fw, cont, n_pos)


@pytest.mark.parametrize('kv', KV_TYPES)
@pytest.mark.parametrize('n_pos', [1, 7, N_RUN])
@pytest.mark.parametrize('into', ['same', 'longer'])
def test_restore_continues_bit_identically(fw, model, kv, n_pos, into):
    """into=longer: saved from a 20-position context, restored into the
    model's full 24."""
    assert fw.model(model.path).ok
    _, cont, want = saved_then_continued(fw, kv, n_pos, seq_len=N_RUN + 4 if into == 'longer' else 0)
    # A fresh context without the state continues differently: the restore
    # has to carry the cache for the comparison below to pass.
    init(fw, 0, kv)
    blind = run(fw, cont[:1], n_pos)[0]
    assert not np.array_equal(bits(blind), bits(want[0]))
    init(fw, 0, kv)
    r = restore(fw)
    assert r.ok and r.int('n_pos') == n_pos, r
    got = run(fw, cont, n_pos)
    for j, (g, w) in enumerate(zip(got, want)):
        assert np.array_equal(bits(g), bits(w)), f'position {n_pos + j}: logits differ after restore'


def test_quantized_weights(fw, tmp_path):
    """q8 weights with a q8 cache: the fingerprint reads quantized tensors too."""
    w = testmodels.random_model(CFG, 5, True)
    wq, _ = quant.quantize_weights(CFG, w, quant.recipe('q8', 16, {}), q4_method='search')
    path = tmp_path / 'q8.bin'
    path.write_bytes(B.write_blob(CFG, wq))
    assert fw.model(path).ok
    _, cont, want = saved_then_continued(fw, 'q8', 9)
    init(fw, 0, 'q8')
    assert restore(fw).int('n_pos') == 9
    for g, w_ in zip(run(fw, cont, 9), want):
        assert np.array_equal(bits(g), bits(w_))
    # The same weights in float: another model as far as the cache goes.
    assert fw.model(write_model(tmp_path, CFG, weights=w, name='f32.bin').path).ok
    init(fw, 0, 'q8')
    assert restore(fw).status == 'LLM_ERR_STATE_MODEL'


@pytest.mark.parametrize('kv', KV_TYPES)
def test_layout(fw, model, kv):
    """Header fields, CRCs, keys against the oracle's cache, tokens; saved
    into a buffer at an odd address and restored from it."""
    assert fw.model(model.path).ok
    init(fw, 0, kv)
    n_pos = 10
    hist = tokens_for(CFG, 3, n_pos)
    run(fw, hist)
    size = state_bytes(CFG, kv, n_pos)
    r = save(fw, n_pos, size, misalign=3)
    assert r.ok and r.int('written') == size, r
    data = state_hex(fw, 0, size)
    f = struct.unpack('<12I', data[:HEADER])
    hs = CFG.dim // CFG.n_heads
    kv_dim = CFG.n_kv_heads * hs
    assert data[:4] == b'LLMS'
    assert f[1:9] == (1, HEADER, KV_CODE[kv], n_pos, CFG.n_layers, kv_dim, CFG.n_kv_heads, f[8])
    payload = data[HEADER:]
    assert f[9] == len(payload) == size - HEADER
    assert f[10] == zlib.crc32(payload)
    assert f[11] == zlib.crc32(data[:44])

    L = CFG.n_layers
    n_el = L * n_pos * kv_dim
    dt = {'f32': '<f4', 'f16': '<f2', 'q8': 'i1'}[kv]
    keys = np.frombuffer(payload, dt, n_el).astype(np.float32).reshape(L, n_pos, CFG.n_kv_heads, hs)
    off = 2 * n_el * ELEM[kv]
    ref = oracle.Model(CFG, model.weights, kv_type=kv)
    for p, t in enumerate(hist):
        ref.forward(t, p)
    want = ref.key_cache[:, :n_pos]
    tol = 1e-3 * float(np.abs(want).max())
    if kv == 'q8':
        n_sc = L * n_pos * CFG.n_kv_heads
        sc = np.frombuffer(payload, '<u2', n_sc, off).astype(np.uint32) << 16
        scale = sc.view(np.float32).reshape(L, n_pos, CFG.n_kv_heads, 1)
        keys = keys * scale
        tol += float(scale.max())  # one code step
        off += 2 * n_sc * 2
    assert float(np.abs(keys - want).max()) <= tol
    assert list(np.frombuffer(payload, '<u4', n_pos, off)) == hist
    assert off + 4 * n_pos == len(payload)

    init(fw, 0, kv)
    assert restore(fw).int('n_pos') == n_pos


def test_empty_state(fw, model):
    assert fw.model(model.path).ok
    init(fw)
    r = save(fw, 0)
    assert r.ok and r.int('written') == HEADER
    assert restore(fw).int('n_pos') == 0


def test_size_and_save_refusals(fw, model):
    assert fw.command('state_size 1').status == 'LLM_ERR_ARG'  # no context
    assert fw.model(model.path).ok
    init(fw, 12, 'f16')
    r = fw.command('state_size 12')
    assert r.ok and r.int('bytes') == state_bytes(CFG, 'f16', 12)
    assert fw.command('state_size 13').status == 'LLM_ERR_ARG'
    assert save(fw, 13).status == 'LLM_ERR_ARG'
    need = state_bytes(CFG, 'f16', 5)
    assert save(fw, 5, need - 1).status == 'LLM_ERR_STATE_BUFFER'
    assert save(fw, 5, 0).status == 'LLM_ERR_STATE_BUFFER'
    r = save(fw, 5, need + 100)
    assert r.ok and r.int('written') == need
    # A restore may be given more than the state: a whole flash page.
    assert restore(fw, need + 100).int('n_pos') == 5


@pytest.mark.parametrize('kv', KV_TYPES)
def test_kv_type_and_full_context(fw, model, kv):
    """A whole context's state restores into the same length (the next
    forward then meets a full context); every other KV type refuses it."""
    assert fw.model(model.path).ok
    init(fw, 10, kv)
    run(fw, tokens_for(CFG, 4, 10))
    assert save(fw, 10).ok
    for other in KV_TYPES:
        init(fw, 10, other)
        r = restore(fw)
        if other == kv:
            assert r.ok and r.int('n_pos') == 10, r
            assert fw.forward(1, 10)[0] == 'LLM_ERR_CONTEXT_FULL'
        else:
            assert r.status == 'LLM_ERR_STATE_KV_TYPE', r


def test_restore_refusals_leave_the_context(fw, tmp_path, model):
    """Each refusal with its status; after all of them the context's own
    history still gives its own logits, and the intact state restores."""
    n_pos = 8
    assert fw.model(model.path).ok
    _, cont, want = saved_then_continued(fw, 'f32', n_pos)
    size = state_bytes(CFG, 'f32', n_pos)

    # A context with another history of n_pos positions.
    other = tokens_for(CFG, 7, n_pos)
    init(fw, 0, 'f32')
    run(fw, other)
    own = run(fw, cont[:1], n_pos)[0]
    assert not np.array_equal(bits(own), bits(want[0]))
    run(fw, other)  # back to that history: positions 0..n_pos-1 again

    def refused(status, length=None):
        r = restore(fw, length)
        assert r.status == status, r
        assert r.int('n_pos') == 0

    refused('LLM_ERR_STATE_TRUNCATED', size - 1)
    refused('LLM_ERR_STATE_TRUNCATED', HEADER - 1)
    refused('LLM_ERR_STATE_TRUNCATED', 0)
    cases = [
        (0, 'LLM_ERR_STATE_MAGIC'),            # magic
        (4, 'LLM_ERR_STATE_VERSION'),          # version
        (8, 'LLM_ERR_STATE_VERSION'),          # header size
        (12, 'LLM_ERR_STATE_CORRUPT'),         # kv_type, caught by the header CRC
        (16, 'LLM_ERR_STATE_CORRUPT'),         # n_pos
        (32, 'LLM_ERR_STATE_CORRUPT'),         # model fingerprint
        (44, 'LLM_ERR_STATE_CORRUPT'),         # header CRC itself
        (HEADER, 'LLM_ERR_STATE_CORRUPT'),     # first key byte
        (HEADER + (size - HEADER) // 2, 'LLM_ERR_STATE_CORRUPT'),  # a value byte
        (size - 4, 'LLM_ERR_STATE_CORRUPT'),   # last token
    ]
    for offset, status in cases:
        poke(fw, offset, 0x10)
        refused(status)
        poke(fw, offset, 0x10)  # undone: the state is intact again

    # Another kv_type, a context too short.
    for kv in ('f16', 'q8'):
        init(fw, 0, kv)
        refused('LLM_ERR_STATE_KV_TYPE')
    init(fw, n_pos - 1, 'f32')
    refused('LLM_ERR_STATE_CONTEXT')
    init(fw, n_pos, 'f32')
    assert restore(fw).int('n_pos') == n_pos

    # Other models: other weights of the same shape, one norm weight changed,
    # another shape.
    w2 = dict(model.weights)
    w2['ffn_norm'] = [np.array(a, dtype=np.float32, copy=True) for a in w2['ffn_norm']]
    w2['ffn_norm'][-1][-1] += 0.5  # the last layer's last norm weight
    others = [
        write_model(tmp_path, CFG, seed=12, tied=False, name='seed12.bin'),
        write_model(tmp_path, CFG, weights=w2, name='norm.bin'),
        write_model(tmp_path, Config(**{**CFG.__dict__, 'hidden_dim': 40}), seed=11, tied=False,
                    name='hidden40.bin'),
    ]
    for m in others:
        assert fw.model(m.path).ok
        init(fw, 0, 'f32')
        refused('LLM_ERR_STATE_MODEL')

    # Back to the model: the context with its own history, after a refusal.
    assert fw.model(model.path).ok
    init(fw, 0, 'f32')
    run(fw, other)
    refused('LLM_ERR_STATE_TRUNCATED', size - 1)
    poke(fw, size - 1, 1)
    refused('LLM_ERR_STATE_CORRUPT')
    poke(fw, size - 1, 1)
    assert np.array_equal(bits(run(fw, cont[:1], n_pos)[0]), bits(own))
    # And the intact state, restored over it, gives the saved context's logits.
    run(fw, other)
    assert restore(fw).int('n_pos') == n_pos
    for g, w_ in zip(run(fw, cont, n_pos), want):
        assert np.array_equal(bits(g), bits(w_))


@pytest.mark.parametrize('kv', KV_TYPES)
def test_stories260k_system_prompt(fw, stories, kv):
    """The use case: a 200-token prompt prefilled once, saved, and each
    conversation started from it (twice, with different first turns)."""
    fw.load(stories.model_path, tok=stories.tok_path)
    init(fw, 0, kv)
    text = ('Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '
            'One day, she saw a big, red ball. She wanted to play with it, but it was too high. ' * 4)
    ids = stories.tokenizer.encode(text, True, False)[:200]
    assert len(ids) == 200
    run(fw, ids)
    r = save(fw, 200)
    assert r.ok and r.int('written') == state_bytes(stories.config, kv, 200), r
    turns = [stories.tokenizer.encode(t, False, False) for t in (' Lily said', ' The ball')]
    # Each turn from position 200 overwrites only rows from 200 on.
    want = [run(fw, t, 200) for t in turns]
    init(fw, 0, kv)
    for t, w in zip(turns, want):
        assert restore(fw).int('n_pos') == 200
        for g, w_ in zip(run(fw, t, 200), w):
            assert np.array_equal(bits(g), bits(w_))
