"""The inputs of the firmware's `kernel` command, regenerated in Python, and
NumPy (float64) versions of each kernel in lib/llm/src/kernels/kernels.h.

Inputs (fw_cmd_kernel.c): xorshift64* seeded with `seed`, each value
scale * (2 f - 1) in float32 with f the generator's next float, drawn in the
order the op lists them.
"""
from __future__ import annotations

import numpy as np
from llmtools.sampler import XorShift64Star

F32 = np.float32
U = 2.0 ** -24  # float32 unit roundoff


def _gamma(n: int) -> float:
    """Higham's gamma_n = n u / (1 - n u): bound on the relative error of an
    n-term float32 sum (any order) of non-negative terms."""
    return n * U / (1 - n * U)


class Inputs:
    def __init__(self, seed: int, scale: float):
        self.rng = XorShift64Star(seed)
        self.scale = F32(scale)

    def unit(self, n: int) -> np.ndarray:
        """2 f - 1 for n draws (exact in float32)."""
        f = np.array([self.rng.next_f32() for _ in range(n)], dtype=np.float32)
        return (F32(2) * f - F32(1)).astype(np.float32)

    def take(self, n: int) -> np.ndarray:
        return (self.scale * self.unit(n)).astype(np.float32)


def inputs(op: str, dims, scale: float, seed: int) -> dict:
    """The arrays the firmware feeds the kernel, by name."""
    g = Inputs(seed, scale)
    if op == 'matvec_f32':
        d, n = dims
        return {'w': g.take(d * n).reshape(d, n), 'x': g.take(n)}
    if op == 'rmsnorm':
        (n,) = dims
        return {'x': g.take(n), 'w': g.take(n)}
    if op == 'softmax':
        (n,) = dims
        return {'x': g.take(n)}
    if op == 'rope':
        nh, hs = dims
        return {'v': g.take(nh * hs).reshape(nh, hs)}  # cs comes back from the firmware
    if op in ('swiglu', 'add'):
        (n,) = dims
        return {'x': g.take(n), 'y': g.take(n)}
    if op == 'attention':
        n_pos, hs, stride = dims
        return {'q': g.take(hs), 'k': g.take(n_pos * stride).reshape(n_pos, stride),
                'v': g.take(n_pos * stride).reshape(n_pos, stride)}
    if op == 'argmax':
        (n,) = dims
        return {'x': np.floor(g.take(n)).astype(np.float32)}
    raise ValueError(op)


def attention(q, k, v, extra: int = 0):
    """(float64 single-head attention of q (hs) over k, v (n_pos, hs), its
    tolerance). Score errors (dot of hs terms) turn into relative errors of
    the weights; then an n_pos-term weighted sum. extra: roundings added to
    each dot and to the weighted sum (1 where cached values are scaled)."""
    q, k, v = (np.asarray(t, dtype=np.float64) for t in (q, k, v))
    n_pos, hs = k.shape
    sc = k @ q / np.sqrt(hs)
    e = np.exp(sc - sc.max())
    att = e / e.sum()
    score_err = 2 * _gamma(hs + 2 + extra) * float(np.max(np.abs(k) @ np.abs(q))) / np.sqrt(hs)
    w_rel = 2 * score_err + 2 * _gamma(n_pos) + (16 + 4 * float(np.max(np.abs(sc)))) * U
    tol = 2 * ((w_rel + _gamma(n_pos + 1 + extra)) * (att @ np.abs(v))) + 1e-30
    return att @ v, tol


def reference(op: str, dims, a: dict, cs: np.ndarray | None = None):
    """(expected float64 result, per-element absolute tolerance for the
    float32 C reference). The tolerances are forward-error bounds of the
    operation with a safety factor, not fitted to observed errors."""
    f64 = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    if op == 'matvec_f32':
        w, x = f64(a['w']), f64(a['x'])
        n = dims[1]
        exp = w @ x
        # n products and n - 1 additions: |error| <= gamma_(n+1) * sum |w x|.
        tol = 2 * _gamma(n + 1) * (np.abs(w) @ np.abs(x)) + 1e-30
        return exp, tol
    if op == 'rmsnorm':
        x, w = f64(a['x']), f64(a['w'])
        n = dims[0]
        exp = w * x / np.sqrt(np.mean(x * x) + 1e-5)
        # Sum of squares (gamma_n relative), sqrt and three roundings.
        tol = 2 * (_gamma(n) + 8 * U) * np.abs(exp) + 1e-30
        return exp, tol
    if op == 'softmax':
        x = f64(a['x'])
        e = np.exp(x - x.max())
        exp = e / e.sum()
        n = dims[0]
        # expf within a few ulps (|x - max| up to 2*scale magnifies the
        # argument's rounding), the sum gamma_n, one division.
        tol = (_gamma(n) + (8 + 2 * float(np.max(np.abs(x)))) * U) * 2 * np.abs(exp) + 1e-30
        return exp, tol
    if op == 'rope':
        v = f64(a['v'])
        c, s = f64(cs[0::2]), f64(cs[1::2])
        v0, v1 = v[:, 0::2], v[:, 1::2]
        exp = np.empty_like(v)
        exp[:, 0::2] = v0 * c - v1 * s
        exp[:, 1::2] = v0 * s + v1 * c
        mag = np.empty_like(v)
        mag[:, 0::2] = np.abs(v0 * c) + np.abs(v1 * s)
        mag[:, 1::2] = np.abs(v0 * s) + np.abs(v1 * c)
        return exp.reshape(-1), (4 * U * mag).reshape(-1) + 1e-30
    if op == 'swiglu':
        x, y = f64(a['x']), f64(a['y'])
        exp = x / (1 + np.exp(-x)) * y
        return exp, 16 * U * np.abs(exp) + 1e-30
    if op == 'add':
        # float32 addition is correctly rounded: the result is exact.
        return (a['x'] + a['y']).astype(np.float64), np.zeros(dims[0])
    if op == 'attention':
        hs = dims[1]
        return attention(a['q'], f64(a['k'])[:, :hs], f64(a['v'])[:, :hs])
    if op == 'argmax':
        return int(np.argmax(a['x'])), 0
    raise ValueError(op)


# Dispatched (optimized) kernel vs the C reference, for backends other than
# the reference itself: relative to the output's magnitude. On the reference
# backend the two must be bit-identical.
DISPATCH_RTOL = {
    'matvec_f32': 1e-5, 'rmsnorm': 1e-5, 'softmax': 1e-5, 'rope': 1e-6,
    'swiglu': 1e-5, 'add': 0.0, 'attention': 1e-5, 'argmax': 0.0,
}
