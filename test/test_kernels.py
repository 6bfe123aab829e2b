"""Every kernel of kernels.h on the device: the dispatched llm_k_<op> against
the reference llm_ref_<op> (bit-identical on the reference, cm4, x86 and
default NEON backends, within DISPATCH_RTOL elsewhere), and the reference against NumPy in float64 within
a forward-error bound (helpers/kernels_np.py). Sizes include ones that are
not multiples of 4, 16 or 32, so SIMD tails are exercised; the firmware
allocates every buffer with its exact size, so the sanitizer build catches
reads past the end."""
import numpy as np
import pytest

from helpers.kernels_np import DISPATCH_RTOL, inputs, reference

ODD = [1, 3, 5, 17, 33, 64, 172, 255]

CASES = (
    [('matvec_f32', (d, n), 1.0) for d, n in
     [(1, 1), (3, 5), (5, 3), (17, 33), (33, 17), (16, 64), (172, 64), (64, 172), (255, 3), (1, 255),
      (29, 300), (257, 300)]]  # the last two: over 8K floats in rows of 256 or more, where
    # the x86 kernel streams rows one at a time and prefetches
    + [('rmsnorm', (n,), s) for n in ODD for s in (1.0,)] + [('rmsnorm', (33,), 100.0)]
    + [('softmax', (n,), s) for n in ODD for s in (1.0, 20.0)]
    + [('softmax', (n,), 100.0) for n in (17, 255)]  # x - max below -87.3: e^x underflows to 0
    + [('rope', (nh, hs), 1.0) for nh, hs in [(1, 2), (3, 6), (2, 34), (4, 16), (8, 8), (5, 10), (1, 64)]]
    + [('swiglu', (n,), 6.0) for n in ODD] + [('swiglu', (33,), 100.0)]  # e^-v overflows
    + [('add', (n,), 1.0) for n in ODD]
    + [('attention', dims, 1.0) for dims in
       [(1, 2, 2), (3, 5, 8), (17, 8, 32), (33, 16, 16), (5, 34, 68), (255, 4, 12), (64, 8, 8)]]
    + [('attention', (20, 8, 8), 4.0)]
    + [('argmax', (n,), s) for n in ODD + [4099, 32000] for s in (3.0, 1e6)]  # 32000: a Llama vocabulary
)


EXACT_BACKENDS = ('ref', 'cm4', 'x86')


def exact_backend(fw) -> bool:
    """The dispatched float kernels must equal the reference bit for bit:
    EXACT_BACKENDS, and the NEON backend unless built with LLM_NEON_FMA=1
    (its kernels keep the reference's order of sums; fused multiply-adds
    are the only difference that option makes)."""
    return fw.backend in EXACT_BACKENDS or (fw.backend == 'neon' and fw.info()['neon_fma'] == '0')


def _id(case):
    op, dims, scale = case
    return f'{op}-{"x".join(map(str, dims))}-s{scale:g}'


@pytest.mark.parametrize('case', CASES, ids=_id)
def test_kernel(fw, case):
    op, dims, scale = case
    seed = 1 + sum(dims) * 7919
    out = fw.kernel(op, dims, scale, seed)
    a = inputs(op, dims, scale, seed)

    # Dispatched vs reference (bit-identical where the backend runs the
    # reference's order of operations: cm4's CMSIS-DSP mat-vec sums each row
    # in column order, as the reference does on a scalar FPU; x86's AVX2
    # kernels and the default NEON ones keep the reference's 8-lane sums
    # and trees).
    rtol = 0.0 if exact_backend(fw) else DISPATCH_RTOL[op]
    keys = ['k', 'k_inplace'] if op == 'rmsnorm' else ['k']
    for key in keys:
        if op == 'argmax' or rtol == 0.0:
            assert np.array_equal(np.asarray(out[key]), np.asarray(out['ref'])), \
                f'{key} differs from the reference'
        else:
            scale_ref = np.max(np.abs(out['ref'])) + 1e-30
            err = np.max(np.abs(out[key].astype(np.float64) - out['ref']))
            assert err <= rtol * scale_ref, f'{key}: max |diff| {err:g} > {rtol:g} * {scale_ref:g}'

    # Reference vs NumPy.
    exp, tol = reference(op, dims, a, out.get('cs'))
    if op == 'argmax':
        assert out['ref'] == exp, f'argmax {out["ref"]}, NumPy (first max) {exp}'
        return
    got = out['ref'].astype(np.float64).reshape(-1)
    exp = np.asarray(exp).reshape(-1)
    assert got.shape == exp.shape
    assert np.all(np.isfinite(got))
    err = np.abs(got - exp)
    worst = int(np.argmax(err - tol))
    assert np.all(err <= tol), (f'element {worst}: reference {got[worst]!r}, NumPy {exp[worst]!r}, '
                                f'|diff| {err[worst]:g} > tolerance {tol.reshape(-1)[worst] if np.ndim(tol) else tol:g}')


def test_argmax_ties_pick_first(fw):
    """Coarse inputs (floor of 3 * u) tie often; both kernels must return the
    first maximum, which np.argmax also does."""
    hits = 0
    for seed in range(1, 21):
        out = fw.kernel('argmax', (37,), 3.0, seed)
        x = inputs('argmax', (37,), 3.0, seed)['x']
        first = int(np.argmax(x))
        assert out['ref'] == first and out['k'] == first
        hits += int(np.sum(x == x.max()) > 1)
    assert hits > 10, 'the inputs were meant to contain ties'


def test_rope_angles_are_rotations(fw):
    """The rope inputs are unit (cos, sin) pairs, so rotation keeps each pair's length."""
    out = fw.kernel('rope', (3, 6), 1.0, 5)
    cs = out['cs'].astype(np.float64)
    assert np.allclose(cs[0::2] ** 2 + cs[1::2] ** 2, 1.0, atol=1e-6)
    v = inputs('rope', (3, 6), 1.0, 5)['v'].astype(np.float64)
    r = out['ref'].astype(np.float64).reshape(3, 6)
    assert np.allclose(v[:, 0::2] ** 2 + v[:, 1::2] ** 2, r[:, 0::2] ** 2 + r[:, 1::2] ** 2, rtol=1e-5)


def _host_cpu_has_avx2_fma() -> bool:
    with open('/proc/cpuinfo') as f:
        flags = next((line.split(':', 1)[1].split() for line in f if line.startswith('flags')), [])
    return 'avx2' in flags and 'fma' in flags


def test_simd_path(fw, request):
    """The x86 backend runs its AVX2 + FMA kernels exactly when the CPU has
    both (the firmware runs on this machine: --llm-target host) and they are
    not switched off, and `simd off` / `simd on` switch them; other backends
    choose at build time and say so."""
    forced_off = request.config.getoption('llm_simd') == 'off'
    info = fw.command('info').fields
    if fw.backend != 'x86':
        assert info['simd'] == '-'
        with pytest.raises(AssertionError, match='no_runtime_choice'):
            fw.command('simd off')
        return
    assert request.config.getoption('llm_target') == 'host', 'the x86 firmware runs on the host'
    cpu = 'avx2' if _host_cpu_has_avx2_fma() else 'ref'
    assert info['simd'] == ('ref' if forced_off else cpu)
    try:
        assert fw.command('simd off').fields['simd'] == 'ref'
        assert fw.command('info').fields['simd'] == 'ref'
        assert fw.command('simd on').fields['simd'] == cpu
    finally:
        fw.command('simd off' if forced_off else 'simd on')
