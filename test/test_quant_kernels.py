"""Quantized-weight and KV-cache kernels on the device (`qkernel` command,
test/firmware/fw_cmd_quant.c): the dispatched llm_k_<op> against the
reference llm_ref_<op>, and the reference against llmtools.quant.

Integer paths (activation quantization, q8/q4 mat-vecs, row dequantization,
KV stores) must agree bit for bit on every backend, and the reference must
equal llmtools.quant bit for bit, because that is what the oracle uses. The
fp16/int8 attention kernels are float code: the reference is held to a
forward-error bound against float64 NumPy, other backends to a relative
tolerance against the reference. Sizes include rows not a multiple of the
group size (stories260K's 172), several group sizes and q4's 16-value groups
inside 32-value packing units."""
import numpy as np
import pytest
from llmtools import quant
from llmtools.blob import DTYPE_Q4, DTYPE_Q8
from llmtools.sampler import XorShift64Star

from helpers.kernels_np import attention

F = np.float32
ATT_DISPATCH_RTOL = 1e-5


class Draws:
    """The qkernel command's input generator (fw_cmd_quant.c)."""

    def __init__(self, seed: int):
        self.r = XorShift64Star(seed)

    def f(self) -> np.float32:
        return self.r.next_f32()

    def values(self, scale: float, n: int) -> np.ndarray:
        return np.array([F(scale) * (F(2) * self.f() - F(1)) for _ in range(n)], dtype=F)

    def q8(self, n: int) -> np.ndarray:
        return np.array([(self.r.next_u32() % 255) - 127 for _ in range(n)], dtype=np.int8)

    def bytes(self, n: int) -> np.ndarray:
        return np.array([self.r.next_u32() & 0xFF for _ in range(n)], dtype=np.uint8)

    def scale_bits(self, scale: float) -> int:
        return int(np.array([F(scale) * (F(0.25) + self.f())], dtype=F).view(np.uint32)[0] >> 16)

    def offset_bits(self, scale: float) -> int:
        return int(np.array([F(scale) * (F(2) * self.f() - F(1))], dtype=F).view(np.uint32)[0] >> 16)


def f32(h: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(h), dtype='>f4').astype(F)


def u16(h: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(h), dtype='<u2')


def i8(h: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(h), dtype=np.int8)


def run(fw, op: str, dims, scale: float, seed: int, mis: int = 0) -> dict:
    extra = f' mis={mis}' if mis else ''
    r = fw.command(f'qkernel {op} {" ".join(map(str, dims))} {float(F(scale))!r} {seed}{extra}')
    assert r.ok, r
    return r.fields


def weights_from_draws(g: Draws, dtype: int, rows: int, n: int, gs: int, scale: float) -> quant.QTensor:
    """The q8/q4 tensor the firmware draws, as a QTensor."""
    n_pad = quant.cols_pad(dtype, n, gs)
    ng = n_pad // gs
    if dtype == DTYPE_Q8:
        codes = g.q8(rows * n_pad).tobytes()
        params = np.array([g.scale_bits(scale) for _ in range(rows * ng)], dtype='<u2')
    else:
        codes = g.bytes(rows * n_pad // 2).tobytes()
        p = []
        for _ in range(rows * ng):
            p += [g.scale_bits(scale), g.offset_bits(scale)]
        params = np.array(p, dtype='<u2')
    return quant.QTensor.from_payload(dtype, gs, rows, n, codes + params.tobytes())


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(np.asarray(a, F).view(np.uint32), np.asarray(b, F).view(np.uint32))


def check_dispatch(fw, out: dict, keys=('',)):
    """k_* equals ref_* bit for bit (integer paths, every backend)."""
    for key in keys:
        k, ref = ('k' + key, 'ref' + key)
        assert out[k] == out[ref], f'dispatched {k} differs from the reference on backend {fw.backend}'


MATVEC_DIMS = [(1, 16, 16), (3, 64, 32), (5, 172, 32), (4, 45, 16), (2, 300, 64), (7, 33, 16),
               (1, 256, 256), (6, 172, 16), (9, 100, 128), (4, 64, 64), (8, 512, 256), (12, 300, 128)]


@pytest.mark.parametrize('dtype', [DTYPE_Q8, DTYPE_Q4], ids=['q8', 'q4'])
@pytest.mark.parametrize('dims', MATVEC_DIMS, ids=lambda d: 'x'.join(map(str, d)))
def test_matvec_exact(fw, dtype, dims):
    rows, n, gs = dims
    seed = 11 + rows * n + gs
    op = 'matvec_q8' if dtype == DTYPE_Q8 else 'matvec_q4'
    out = run(fw, op, dims, 0.5, seed)
    check_dispatch(fw, out)
    g = Draws(seed)
    t = weights_from_draws(g, dtype, rows, n, gs, 0.5)
    x = g.values(1.0, n)
    want = quant.matvec(t, x)
    got = f32(out['ref'])
    assert same_bits(got, want), f'reference {got[:4]} vs llmtools.quant {want[:4]}'
    # And the integer path computes the product it claims to: within the
    # activation quantization error of the dequantized product.
    exact = t.dequantize().astype(np.float64) @ x.astype(np.float64)
    _, xs, _ = quant.quantize_activation(x, t.cols_pad, gs)
    bound = np.abs(t.dequantize()).astype(np.float64).sum(axis=1) * float(xs.max()) / 2 + 1e-6
    assert np.all(np.abs(got - exact) <= bound * 1.01)


@pytest.mark.llm_targets('host')
@pytest.mark.parametrize('dtype, dims', [(DTYPE_Q8, (1030, 288, 32)), (DTYPE_Q8, (1030, 288, 16)),
                                         (DTYPE_Q4, (1030, 576, 32)), (DTYPE_Q4, (1030, 576, 16))],
                         ids=['q8-1030x288x32', 'q8-1030x288x16', 'q4-1030x576x32', 'q4-1030x576x16'])
def test_matvec_large_exact(fw, dtype, dims):
    """Over 256 KB of codes, where the x86 kernels prefetch the next rows,
    and 1030 rows, a multiple of no block size: the reference's bits (the
    host only: boards lack the memory)."""
    test_matvec_exact(fw, dtype, dims)


@pytest.mark.parametrize('dtype', [DTYPE_Q8, DTYPE_Q4], ids=['q8', 'q4'])
@pytest.mark.parametrize('dims', [(5, 172, 32), (3, 64, 16), (4, 300, 64)], ids=lambda d: 'x'.join(map(str, d)))
@pytest.mark.parametrize('mis', [1, 4, 8, 15])
def test_matvec_misaligned_exact(fw, dtype, dims, mis):
    """Codes and activation quants off their 16-byte alignment (kernels with
    aligned vector loads must take another path): the same bits as the
    aligned call, and as the reference."""
    rows, n, gs = dims
    op = 'matvec_q8' if dtype == DTYPE_Q8 else 'matvec_q4'
    seed = 5 + rows * n + gs
    out = run(fw, op, dims, 0.5, seed, mis=mis)
    check_dispatch(fw, out)
    assert out['k'] == run(fw, op, dims, 0.5, seed)['k']


def test_matvec_misalign_usage(fw):
    """mis= is for the mat-vecs and the int8 attention only, 0..15, last."""
    for bad in ('matvec_q8 2 64 32 0.5 1 mis=16', 'matvec_q8 2 64 32 0.5 1 mis=x',
                'matvec_q4 2 64 32 0.5 1 mis=1 extra', 'dequant_q8 64 32 0.5 1 mis=1',
                'attention_f16 2 8 8 0.5 1 mis=1'):
        with pytest.raises(AssertionError, match='usage'):
            fw.command(f'qkernel {bad}')


@pytest.mark.parametrize('dtype', [DTYPE_Q8, DTYPE_Q4], ids=['q8', 'q4'])
@pytest.mark.parametrize('dims', [(8, 64, 32), (5, 172, 16), (12, 256, 128)], ids=lambda d: 'x'.join(map(str, d)))
def test_matvec_subnormal_exact(fw, dtype, dims):
    """Weight scales near the bottom of the float range make every group's
    scale * xs subnormal. The reference keeps subnormals on every target
    (equal to llmtools.quant); a vector unit that flushes them to zero
    (Helium) must notice and still return the reference's bits."""
    rows, n, gs = dims
    seed = 5 + rows + n
    op = 'matvec_q8' if dtype == DTYPE_Q8 else 'matvec_q4'
    out = run(fw, op, dims, 1e-37, seed)
    check_dispatch(fw, out)
    got = f32(out['ref'])
    g = Draws(seed)
    t = weights_from_draws(g, dtype, rows, n, gs, 1e-37)
    x = g.values(1.0, n)
    assert same_bits(got, quant.matvec(t, x))
    _, xs, _ = quant.quantize_activation(x, t.cols_pad, gs)
    assert np.all(np.abs(quant.bf16_to_f32(t.scales) * xs) < np.finfo(F).tiny), 'scales not subnormal'
    assert np.all(got != 0), 'flushed: a zero group scale zeroes the row'


def quantize_on_device(fw, n: int, gs: int, scale: float, seed: int):
    """Activation quantization of the qkernel draws on the device: the
    dispatched kernel equals the reference, the reference equals
    llmtools.quant bit for bit. Returns (x, xq, xs, xsum)."""
    out = run(fw, 'quantize_q8', (n, gs), scale, seed)
    check_dispatch(fw, out, ('', '_xs', '_xsum'))
    x = Draws(seed).values(scale, n)
    xq, xs, xsum = quant.quantize_activation(x, quant.cols_pad(DTYPE_Q8, n, gs), gs)
    assert np.array_equal(i8(out['ref']), xq)
    assert same_bits(f32(out['ref_xs']), xs)
    assert [int(v) for v in out['ref_xsum'].split(',')] == [int(v) for v in xsum]
    return x, xq, xs, xsum


@pytest.mark.parametrize('dims', [(1, 16), (64, 32), (172, 32), (45, 16), (300, 64), (33, 256), (5, 128)],
                         ids=lambda d: 'x'.join(map(str, d)))
@pytest.mark.parametrize('scale', [1.0, 1e-3, 80.0])
def test_quantize_activation_exact(fw, dims, scale):
    n, gs = dims
    x, xq, _, _ = quantize_on_device(fw, n, gs, scale, 3 + n)
    assert np.all(np.abs(xq.astype(np.int32)) <= 127)
    assert np.all(xq[n:] == 0), 'padding must quantize to 0'
    # Each group's largest |x| maps to +-127.
    n_pad = xq.size
    xp = np.zeros(n_pad, F)
    xp[:n] = x
    big = np.abs(xp.reshape(-1, gs)).argmax(axis=1)
    assert np.all(np.abs(xq.reshape(-1, gs)[np.arange(n_pad // gs), big]) == 127)


@pytest.mark.parametrize('dims', [(64, 32), (172, 16)], ids=lambda d: 'x'.join(map(str, d)))
@pytest.mark.parametrize('scale', [3e-37, 4e-36])
def test_quantize_activation_tiny(fw, dims, scale):
    """Groups whose largest |x| is below 2^-120 quantize to zeros (127 / amax
    would overflow); just above it they use the full -127..127 range. The
    smaller scale's draws include subnormals, which Helium flushes: its
    result must still be the reference's."""
    n, gs = dims
    x, xq, _, _ = quantize_on_device(fw, n, gs, scale, 17 + n)
    amax = np.abs(np.pad(x, (0, xq.size - n)).reshape(-1, gs)).max(axis=1)
    tiny = amax < quant.AMAX_MIN
    assert tiny.all() == (scale < 1e-36), 'the draws do not fall on the intended side of 2^-120'
    if scale < 1e-36:
        assert np.any((x != 0) & (np.abs(x) < np.finfo(F).tiny)), 'no subnormal among the draws'
    assert np.all(xq.reshape(-1, gs)[tiny] == 0)
    assert np.all(np.abs(xq.reshape(-1, gs)[~tiny]).max(axis=1) == 127)


@pytest.mark.parametrize('scale', [3e-37, 1e-30])
def test_kv_store_q8_tiny(fw, scale):
    """A head whose largest |x| is below 2^-120 is stored as zeros (the
    reciprocal of its scale would overflow); above it, as any other."""
    dims = (4, 8)
    seed = 23
    out = run(fw, 'kv_store_q8', dims, scale, seed)
    check_dispatch(fw, out, ('', '_scale'))
    x = Draws(seed).values(scale, 32).reshape(dims)
    q, bits = quant.kv_store_q8(x)
    assert np.array_equal(i8(out['ref']), q.reshape(-1))
    assert np.array_equal(u16(out['ref_scale']), bits)
    assert (q == 0).all() == (scale < 1e-36)
    assert (np.abs(q).max(axis=1) >= 100).all() or scale < 1e-36


@pytest.mark.parametrize('dtype', [DTYPE_Q8, DTYPE_Q4], ids=['q8', 'q4'])
@pytest.mark.parametrize('dims', [(16, 16), (64, 32), (172, 32), (45, 16), (288, 64)],
                         ids=lambda d: 'x'.join(map(str, d)))
def test_dequant_exact(fw, dtype, dims):
    n, gs = dims
    seed = 5 + n
    op = 'dequant_q8' if dtype == DTYPE_Q8 else 'dequant_q4'
    out = run(fw, op, dims, 2.0, seed)
    check_dispatch(fw, out)
    t = weights_from_draws(Draws(seed), dtype, 1, n, gs, 2.0)
    assert same_bits(f32(out['ref']), t.row(0))


def test_q4_nibble_order(fw):
    """One q4 row through the device: code j of each 32-code unit sits in the
    low nibble of byte j, code j + 16 in its high nibble (BLOB_FORMAT.md)."""
    n, gs, seed = 64, 32, 77
    out = run(fw, 'dequant_q4', (n, gs), 1.0, seed)
    g = Draws(seed)
    raw = g.bytes(n // 2)
    s = [(g.scale_bits(1.0), g.offset_bits(1.0)) for _ in range(n // gs)]
    sf = quant.bf16_to_f32(np.array([a for a, _ in s], np.uint16))
    mf = quant.bf16_to_f32(np.array([b for _, b in s], np.uint16))
    codes = np.empty(n, np.int64)
    for unit in range(n // 32):
        b = raw[unit * 16:(unit + 1) * 16]
        codes[unit * 32:unit * 32 + 16] = b & 15
        codes[unit * 32 + 16:unit * 32 + 32] = b >> 4
    want = (codes.astype(F) * np.repeat(sf, gs)).astype(F) + np.repeat(mf, gs)
    assert same_bits(f32(out['ref']), want.astype(F))


@pytest.mark.parametrize('dims', [(1, 2), (4, 8), (3, 6), (6, 48), (2, 64)], ids=lambda d: 'x'.join(map(str, d)))
@pytest.mark.parametrize('scale', [1.0, 30.0, 1e-4])
def test_kv_store_q8_exact(fw, dims, scale):
    seed = 9 + sum(dims)
    out = run(fw, 'kv_store_q8', dims, scale, seed)
    check_dispatch(fw, out, ('', '_scale'))
    x = Draws(seed).values(scale, dims[0] * dims[1]).reshape(dims)
    q, bits = quant.kv_store_q8(x)
    assert np.array_equal(i8(out['ref']), q.reshape(-1))
    assert np.array_equal(u16(out['ref_scale']), bits)
    # Rounding error at most half a step (the scale is rounded up, so no clipping).
    s = quant.bf16_to_f32(bits).astype(np.float64)
    err = np.abs(q.astype(np.float64) * s[:, None] - x)
    assert np.all(err <= s[:, None] * 0.5 * (1 + 1e-6))


@pytest.mark.parametrize('n', [1, 7, 64, 333])
@pytest.mark.parametrize('scale', [1.0, 7e4, 1e-6])
def test_kv_store_f16_exact(fw, n, scale):
    """Round to nearest even, overflow to inf, subnormals: as NumPy's float16."""
    out = run(fw, 'kv_store_f16', (n,), scale, 21 + n)
    check_dispatch(fw, out)
    x = Draws(21 + n).values(scale, n)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).view(np.uint16)
    assert np.array_equal(u16(out["ref"]), want)


def _attention_expected(q, k, v, ks=None, vs=None):
    """float64 attention over dequantized caches, with one more rounding per
    dot and in the weighted sum than test_kernels' (the scales)."""
    kf = k.astype(np.float64) * (1 if ks is None else ks[:, None])
    vf = v.astype(np.float64) * (1 if vs is None else vs[:, None])
    return attention(q, kf, vf, extra=1)


# (n_pos, hs, stride): odd and even head sizes, rows that are and are not
# multiples of 16 bytes, hs of one, two and several 16-byte vectors, and one
# head longer than the ESP32-S3's PIE path takes (256).
ATT_DIMS = [(1, 2, 2), (3, 8, 8), (17, 8, 32), (33, 16, 16), (100, 48, 96), (255, 4, 12), (9, 5, 7),
            (4, 11, 13), (21, 32, 40), (6, 64, 64), (5, 257, 257)]


def _check_attention(fw, kind, dims, out, seed, scale):
    ref = f32(out['ref']).astype(np.float64)
    k_out = f32(out['k']).astype(np.float64)
    # The ESP32-S3's, the Cortex-M4F/M7/M33's, x86's and the NEON int8-cache
    # kernels keep the reference's order of sums (x86 has no fp16-cache
    # kernel: the reference runs).
    if fw.backend in ('ref', 'x86') or (kind == 'q8' and fw.backend in ('esp32s3', 'cm4', 'neon')):
        assert np.array_equal(ref, k_out), f'{kind} attention on {fw.backend} is not bit-exact'
    else:
        assert np.max(np.abs(k_out - ref)) <= ATT_DISPATCH_RTOL * (np.max(np.abs(ref)) + 1e-30)
    n_pos, hs, stride = dims
    g = Draws(seed)
    q = g.values(scale, hs)
    if kind == 'f16':
        kc = g.values(scale, n_pos * stride).astype(np.float16).reshape(n_pos, stride)[:, :hs]
        vc = g.values(scale, n_pos * stride).astype(np.float16).reshape(n_pos, stride)[:, :hs]
        exp, tol = _attention_expected(q, kc, vc)
    else:
        kc = g.q8(n_pos * stride).reshape(n_pos, stride)[:, :hs]
        ks = quant.bf16_to_f32(np.array([g.scale_bits(scale / 127) for _ in range(n_pos)], np.uint16))
        vc = g.q8(n_pos * stride).reshape(n_pos, stride)[:, :hs]
        vs = quant.bf16_to_f32(np.array([g.scale_bits(scale / 127) for _ in range(n_pos)], np.uint16))
        qq, qs = quant.kv_store_q8(q[None, :])  # the query as the kernel gets it
        q = qq[0].astype(np.float64) * float(quant.bf16_to_f32(qs)[0])
        exp, tol = _attention_expected(q, kc, vc, ks.astype(np.float64), vs.astype(np.float64))
    err = np.abs(ref - exp)
    assert np.all(err <= tol), f'max |diff| {err.max():g}, tolerance {tol.min():g}..{tol.max():g}'


@pytest.mark.parametrize('dims', ATT_DIMS, ids=lambda d: 'x'.join(map(str, d)))
@pytest.mark.parametrize('kind', ['f16', 'q8'])
def test_attention_quantized_cache(fw, dims, kind):
    seed = 31 + dims[0] * dims[1]
    out = run(fw, f'attention_{kind}', dims, 1.0, seed)
    _check_attention(fw, kind, dims, out, seed, 1.0)


@pytest.mark.parametrize('mis', [1, 5, 8, 15])
@pytest.mark.parametrize('dims', [(17, 8, 32), (33, 16, 16), (9, 48, 56), (4, 11, 13)],
                         ids=lambda d: 'x'.join(map(str, d)))
def test_attention_q8_misaligned_cache(fw, dims, mis):
    """An int8 cache that starts mis bytes past a 16-byte boundary (its
    rows then straddle vector boundaries differently)."""
    seed = 77 + dims[0] * dims[1] + mis
    out = run(fw, 'attention_q8', dims, 1.0, seed, mis=mis)
    _check_attention(fw, 'q8', dims, out, seed, 1.0)


def test_bad_group_size_rejected(fw):
    """Group sizes outside 16..256 or not powers of two are refused."""
    for bad in ('matvec_q8 2 64 24', 'matvec_q4 2 64 8', 'quantize_q8 64 512'):
        with pytest.raises(AssertionError, match='usage'):
            fw.command(f'qkernel {bad} 1.0 1')
