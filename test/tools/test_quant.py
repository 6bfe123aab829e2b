"""llmtools.quant and the quantizing converter, on the host: scalar
conversions, the q8/q4 byte layouts (BLOB_FORMAT.md), quantizer error
bounds, the recipes and GPTQ, the blob reader's checks of quantized
entries, `llm-convert --weights/--group-size/--override/--llama2c-q80`,
and llama2.c's version-2 export that runq reads."""
import struct

import numpy as np
import pytest
from llmtools import blob as B
from llmtools import cli as cli_mod
from llmtools import oracle, quant, testmodels
from llmtools.blob import DTYPE_Q4, DTYPE_Q8, Config

F = np.float32


# ------------------------------------------------------------------ scalars

def test_bf16_round_up_is_smallest_upper_bound():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.random(2000) * 10.0 ** rng.integers(-8, 8, 2000),
                        np.array([0, 1, 1.5, 3e-39, 65504], F)]).astype(F)
    bits = quant.f32_to_bf16_up(x)
    up = quant.bf16_to_f32(bits)
    assert np.all(up >= x)
    below = quant.bf16_to_f32(bits - (up > 0).astype(np.uint16))
    assert np.all((below < x) | (up == x))
    assert np.array_equal(quant.bf16_to_f32(quant.f32_to_bf16_up(up)), up), 'bf16 values are fixed points'


def test_bf16_nearest_signed():
    x = np.array([1.0, -1.0, 1.00390625, 1.01171875, -2.5e-3, 0.0], F)
    b = quant.bf16_to_f32(quant.f32_to_bf16_nearest(x))
    assert b[0] == 1 and b[1] == -1 and b[2] == 1.0  # tie to even
    assert b[3] == F(1.015625)  # tie to even upward
    assert abs(b[4] - x[4]) <= abs(x[4]) * 2 ** -8 and b[4] < 0 and b[5] == 0


def test_round_half_away():
    v = np.array([0.5, -0.5, 1.5, -2.5, 0.49999997, 126.5, -127.49999], F)
    assert list(quant.round_half_away(v)) == [1, -1, 2, -3, 0, 127, -127]


# ------------------------------------------------------------------ layouts

@pytest.mark.parametrize('dtype,cols,gs,pad', [(DTYPE_Q8, 64, 32, 64), (DTYPE_Q8, 172, 32, 192),
                                              (DTYPE_Q8, 172, 16, 176), (DTYPE_Q4, 172, 16, 192),
                                              (DTYPE_Q4, 172, 32, 192), (DTYPE_Q4, 20, 64, 64),
                                              (DTYPE_Q8, 1, 256, 256)])
def test_cols_pad_and_nbytes(dtype, cols, gs, pad):
    assert quant.cols_pad(dtype, cols, gs) == pad
    per_group = 4 if dtype == DTYPE_Q4 else 2
    row = pad // 2 if dtype == DTYPE_Q4 else pad
    assert quant.tensor_nbytes(dtype, 3, cols, gs) == 3 * (row + per_group * pad // gs)


def test_q8_payload_layout():
    w = np.arange(-20, 20, dtype=F).reshape(2, 20) / 10
    t = quant.quantize_q8(w, 16)
    p = t.payload()
    assert len(p) == 2 * 32 + 2 * 2 * 2
    codes = np.frombuffer(p[:64], np.int8).reshape(2, 32)
    assert np.array_equal(codes, t.q) and np.all(codes[:, 20:] == 0)
    scales = np.frombuffer(p[64:], '<u2').reshape(2, 2)
    assert np.array_equal(scales, t.scales)
    # Group 0 of row 0 holds -2.0..-0.5: its largest magnitude is code -127.
    assert codes[0, 0] == -127


def test_q4_payload_nibbles():
    """Codes j and j + 16 of each 32-code unit share byte j (low, high)."""
    rows, cols = 1, 64
    q = np.arange(cols) % 16
    t = quant.QTensor(DTYPE_Q4, 32, rows, cols, q.reshape(1, -1).astype(np.int8),
                      np.array([[0x3F80, 0x4000]], np.uint16), np.array([[0xBF80, 0x0000]], np.uint16))
    p = t.payload()
    assert len(p) == 32 + 2 * 4
    for unit in range(2):
        for j in range(16):
            b = p[unit * 16 + j]
            assert b & 15 == q[unit * 32 + j] and b >> 4 == q[unit * 32 + 16 + j]
    assert struct.unpack('<4H', p[32:]) == (0x3F80, 0xBF80, 0x4000, 0x0000)  # (scale, offset) pairs
    back = quant.QTensor.from_payload(DTYPE_Q4, 32, rows, cols, p)
    assert np.array_equal(back.q, t.q)
    # value = code * scale + offset: scale 1, offset -1 for group 0; scale 2, offset 0 for group 1
    assert np.array_equal(back.dequantize()[0, :32], (q[:32] - 1).astype(F))
    assert np.array_equal(back.dequantize()[0, 32:], (2 * q[32:]).astype(F))


@pytest.mark.parametrize('dtype', [DTYPE_Q8, DTYPE_Q4])
@pytest.mark.parametrize('shape,gs', [((5, 172), 32), ((3, 64), 16), ((7, 45), 64), ((2, 300), 256)])
def test_payload_round_trip(dtype, shape, gs):
    w = np.random.default_rng(3).standard_normal(shape).astype(F)
    t = quant.quantize(w, dtype, gs, 'search')
    assert len(t.payload()) == t.nbytes
    back = quant.QTensor.from_payload(dtype, gs, *shape, t.payload())
    assert np.array_equal(back.q, t.q) and np.array_equal(back.scales, t.scales)
    assert np.array_equal(back.dequantize(), t.dequantize())


# ------------------------------------------------------------------ quantizers

@pytest.mark.parametrize('gs', quant.GROUP_SIZES)
def test_q8_error_at_most_half_a_step(gs):
    w = (np.random.default_rng(gs).standard_normal((9, 300)) * 0.1).astype(F)
    t = quant.quantize_q8(w, gs)
    s = np.repeat(quant.bf16_to_f32(t.scales), gs, axis=1)[:, :300]
    assert np.all(np.abs(t.dequantize() - w) <= s * 0.5 * (1 + 1e-6))
    assert np.all(np.abs(t.q) <= 127)


def test_q4_codes_and_ranges():
    w = np.random.default_rng(5).standard_normal((16, 96)).astype(F)
    for method in ('minmax', 'search'):
        t = quant.quantize_q4(w, 32, method)
        assert t.q.min() >= 0 and t.q.max() <= 15
    t = quant.quantize_q4(w, 32, 'minmax')
    # minmax keeps every value inside its group's range, so the error is at most half a step
    s = np.repeat(quant.bf16_to_f32(t.scales), 32, axis=1)
    assert np.all(np.abs(t.dequantize() - w) <= s * 0.5 * 1.02 + 1e-6)


def test_q4_search_and_gptq_beat_minmax_on_outputs():
    """The weighted search and GPTQ give smaller output error ||(W - Q) x||
    than the min/max ranges, GPTQ by far on correlated inputs."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((48, 64)) / 8).astype(F)
    # Correlated inputs (rank 12 plus noise) with unequal column scales, as
    # activations are: GPTQ's compensation needs the correlation.
    mix = rng.standard_normal((12, 64))
    x = ((rng.standard_normal((512, 12)) @ mix + 0.1 * rng.standard_normal((512, 64)))
         * np.linspace(0.2, 3, 64)).astype(F)
    err = {}
    for m in ('minmax', 'search', 'gptq'):
        q = quant.quantize_q4(w, 32, m, inputs=x).dequantize()
        err[m] = float(np.linalg.norm((q - w) @ x.T))
    assert err['search'] < err['minmax']
    assert err['gptq'] < 0.8 * err['search'], err


def test_matvec_equals_dequantized_product_up_to_activation_rounding():
    rng = np.random.default_rng(11)
    for dtype in (DTYPE_Q8, DTYPE_Q4):
        w = rng.standard_normal((20, 172)).astype(F)
        t = quant.quantize(w, dtype, 32, 'search')
        x = rng.standard_normal(172).astype(F)
        got = quant.matvec(t, x).astype(np.float64)
        xq, xs, xsum = quant.quantize_activation(x, t.cols_pad, 32)
        xd = (xq.astype(np.float64).reshape(-1, 32) * xs[:, None]).reshape(-1)[:172]
        exact = t.dequantize().astype(np.float64) @ xd
        assert np.allclose(got, exact, rtol=1e-5, atol=1e-4)
        assert list(xsum) == list(xq.astype(int).reshape(-1, 32).sum(axis=1))


def test_kv_store_q8_bounds():
    x = np.random.default_rng(2).standard_normal((4, 8)).astype(F) * 5
    q, bits = quant.kv_store_q8(x)
    s = quant.bf16_to_f32(bits)
    assert np.all(np.abs(q) <= 127)
    assert np.all(np.abs(q * s[:, None] - x) <= s[:, None] * 0.5 * 1.0001)


# ------------------------------------------------------------------ recipes

def test_recipes():
    r = quant.recipe('q8')
    assert all(v == (DTYPE_Q8, 32) for v in r.values())
    r = quant.recipe('q4')
    assert r['w1'] == (DTYPE_Q4, 32) and r['tok_emb'] == (DTYPE_Q8, 32) and r['cls'] == (DTYPE_Q8, 32)
    r = quant.recipe('q4', 64, {'w2': ('q8', None), 'tok_emb': ('q4', 16), 'wq': ('f32', None)})
    assert r['w1'] == (DTYPE_Q4, 64) and r['w2'] == (DTYPE_Q8, 32) and r['tok_emb'] == (DTYPE_Q4, 16)
    assert r['wq'] == (B.DTYPE_F32, 0)
    for bad in (dict(weights='q2'), dict(weights='q8', group_size=24),
                dict(weights='q8', overrides={'attn_norm': ('q8', None)}),
                dict(weights='q8', overrides={'w1': ('q3', None)})):
        with pytest.raises(ValueError):
            quant.recipe(**bad)


def test_quantize_weights_reports_and_tied_classifier():
    c = testmodels.tiny_config(hidden_dim=40)
    w = testmodels.random_model(c, 1, tied=True)
    steps = []
    wq, rep = quant.quantize_weights(c, w, quant.recipe('q4'), q4_method='gptq', progress=steps.append)
    assert len(steps) == quant.n_quantized_tensors(c, w) == len(rep)
    assert 'cls' not in wq and wq['tok_emb'].dtype == DTYPE_Q8
    assert all(isinstance(x, quant.QTensor) and x.dtype == DTYPE_Q4 for x in wq['w2'])
    assert all(isinstance(x, np.ndarray) for x in wq['attn_norm'])
    for r in rep:
        assert r.max >= r.rms > 0 and 0 < r.rel_rms < 0.5
        assert r.nbytes == (wq['tok_emb'] if r.name == 'tok_emb' else
                            wq[r.name.split('[')[0]][int(r.name[-2])]).nbytes


def test_calibration_is_deterministic():
    c = testmodels.tiny_config()
    w = testmodels.random_model(c, 2, tied=False)
    a = quant.calibration_inputs(c, w, n_seq=2, steps=10)
    b = quant.calibration_inputs(c, w, n_seq=2, steps=10)
    assert set(a) == {(l, k) for l in range(c.n_layers) for k in ('attn', 'heads', 'ffn', 'hidden')} | {('cls',)}
    for k in a:
        assert np.array_equal(a[k], b[k])
    assert a[(0, 'hidden')].shape[1] == c.hidden_dim


def test_oracle_with_quantized_weights_and_caches():
    c = testmodels.tiny_config()
    w = testmodels.random_model(c, 3, tied=False)
    wq, _ = quant.quantize_weights(c, w, quant.recipe('q8'))
    ref = oracle.Model(c, w)
    for kv in ('f32', 'f16', 'q8'):
        m = oracle.Model(c, wq, kv_type=kv)
        ref.reset()
        for pos, tok in enumerate([1, 5, 9, 200, 7]):
            a, b = m.forward(tok, pos), ref.forward(tok, pos)
            assert np.max(np.abs(a - b)) < 0.05 * np.max(np.abs(b)), kv
    with pytest.raises(ValueError):
        oracle.Model(c, w, kv_type='q4')


# ------------------------------------------------------------------ blob reader

def _qblob(tok=True):
    c = testmodels.tiny_config()
    w = testmodels.random_model(c, 4, tied=False)
    wq, _ = quant.quantize_weights(c, w, quant.recipe('q4', 16, {'wk': ('q8', 64)}), q4_method='minmax')
    return c, wq, B.write_blob(c, wq, testmodels.synthetic_tokenizer(c.vocab_size, 1) if tok else None)


def test_blob_round_trip_quantized():
    c, wq, data = _qblob()
    c2, w2, _ = B.read_blob(data)
    assert c2 == c
    for name in ('wq', 'wk', 'w2'):
        for a, b in zip(wq[name], w2[name]):
            assert (a.dtype, a.group_size) == (b.dtype, b.group_size)
            assert np.array_equal(a.q, b.q) and np.array_equal(a.scales, b.scales)
    table = {(e['kind'], e['layer']): e for e in B.tensor_table(data)}
    assert table[(B.KIND_WK, 1)]['dtype'] == DTYPE_Q8 and table[(B.KIND_WK, 1)]['group_size'] == 64
    assert table[(B.KIND_W1, 0)]['dtype'] == DTYPE_Q4 and table[(B.KIND_W1, 0)]['group_size'] == 16
    assert table[(B.KIND_ATTN_NORM, 0)]['group_size'] == 0


def test_write_blob_rejects_quantized_vector():
    c, wq, _ = _qblob(tok=False)
    wq = dict(wq)
    wq['final_norm'] = quant.quantize_q8(np.ones((c.dim, 1), F), 16)
    with pytest.raises(ValueError):
        B.write_blob(c, wq)


# ------------------------------------------------------------------ CLI

@pytest.mark.parametrize('args,expect', [
    (['--weights', 'q8'], {'w1': (DTYPE_Q8, 32), 'tok_emb': (DTYPE_Q8, 32)}),
    (['--weights', 'q4', '--q4-method', 'search'], {'w1': (DTYPE_Q4, 32), 'tok_emb': (DTYPE_Q8, 32)}),
    (['--weights', 'q8', '--group-size', '64', '--override', 'w2=q4:16', '--override', 'tok_emb=f32'],
     {'w1': (DTYPE_Q8, 64), 'w2': (DTYPE_Q4, 16), 'tok_emb': (B.DTYPE_F32, 0)}),
])
def test_convert_quantized_stories260k(tmp_path, cli, model_file, args, expect):
    out = tmp_path / 'q.llmb'
    r = cli('convert', model_file('stories260K.bin'), '-t', model_file('tok512.bin'), '-o', out,
            '--no-progress', *args)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    kinds = {e['kind']: (e['dtype'], e['group_size']) for e in B.tensor_table(data)}
    for name, want in expect.items():
        assert kinds[B.KIND_BY_NAME[name]] == want, name
    assert f'wrote {out}: {len(data)} bytes' in r.stdout
    assert f'blob size {len(data)} bytes' in r.stdout
    # One line per quantized tensor with its RMS and max error.
    lines = [ln.split() for ln in r.stdout.splitlines() if ln.strip().startswith(('w1[', 'wq['))]
    assert len(lines) == 10
    for ln in lines:
        rms, mx = float(ln[4]), float(ln[5])
        assert 0 < rms <= mx < 1
    c, w, tok = B.read_blob(data)
    assert tok == model_file('tok512.bin').read_bytes()
    r = cli('inspect', out)
    assert r.returncode == 0 and 'valid: yes' in r.stdout, r.stderr
    w1 = [ln.split() for ln in r.stdout.splitlines() if ' w1 ' in ln][0]
    dt, gs = expect['w1']
    assert w1[3] == f'{B.DTYPE_NAMES[dt]}:{gs}'


def test_convert_bad_options(tmp_path, cli, model_file):
    src = model_file('stories260K.bin')
    for args in (['--override', 'w9=q8'], ['--override', 'w1=q3'], ['--override', 'w1'],
                 ['--override', 'w1=q8:x'], ['--override', 'w1=q8:24'], ['--calib-seqs', '0']):
        r = cli('convert', src, '-o', tmp_path / 'x', '--weights', 'q8', *args)
        assert r.returncode == cli_mod.EXIT_USER_ERROR, (args, r.stdout, r.stderr)
        assert 'error' in r.stderr and 'Traceback' not in r.stderr
    r = cli('convert', src, '--group-size', '24', '-o', tmp_path / 'x')
    assert r.returncode == 2 and 'invalid choice' in r.stderr
    r = cli('convert', src)
    assert r.returncode == 2 and '--llama2c-q80' in r.stderr
    assert not (tmp_path / 'x').exists()


def test_llama2c_q80_export(tmp_path, cli, model_file, stories260k):
    """llama2.c's version-2 layout: header, fp32 norms, then int8 values and
    float scales per tensor, groups of 64 over the flattened tensor."""
    out = tmp_path / 'q80.bin'
    r = cli('convert', model_file('stories260K.bin'), '--llama2c-q80', out)
    assert r.returncode == 0, r.stderr
    c, w = stories260k
    data = out.read_bytes()
    magic, version, *dims = struct.unpack_from('<Ii7i', data)
    assert magic == 0x616B3432 and version == 2
    assert dims == [c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len]
    shared, gs = data[36], struct.unpack_from('<i', data, 37)[0]
    assert shared == 1 and gs == 64
    off = 256
    norms = np.frombuffer(data, '<f4', count=c.dim * (2 * c.n_layers + 1), offset=off)
    assert np.array_equal(norms[:c.dim], w['attn_norm'][0])
    assert np.array_equal(norms[-c.dim:], w['final_norm'])
    off += 4 * norms.size
    emb = w['tok_emb'].reshape(-1)
    q = np.frombuffer(data, np.int8, count=emb.size, offset=off)
    s = np.frombuffer(data, '<f4', count=emb.size // gs, offset=off + emb.size)
    assert np.allclose(q.reshape(-1, gs) * s[:, None], emb.reshape(-1, gs), atol=float(s.max()) / 2 + 1e-7)
    n_q = emb.size + sum(x.size for k in ('wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3') for x in w[k])
    assert len(data) == 256 + 4 * norms.size + n_q + 4 * (n_q // gs)


def test_llama2c_q80_group_backoff():
    c = Config(dim=288, hidden_dim=96, n_layers=1, n_heads=6, n_kv_heads=6, vocab_size=300, seq_len=8)
    data = quant.write_llama2c_q80(c, testmodels.random_model(c, 1, tied=False))
    assert data[36] == 0 and struct.unpack_from('<i', data, 37)[0] == 32
