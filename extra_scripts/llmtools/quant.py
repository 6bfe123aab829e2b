"""Quantized weights (q8, q4) and KV caches, bit-exact with the C library.

Layouts (lib/llm/BLOB_FORMAT.md, lib/llm/src/kernels/ref/quantize.h): a q8
or q4 tensor (rows, cols) with group size gs holds every row padded with
zeros to cols_pad values (a multiple of gs, and for q4 also of 32), then per
group of each row a bf16 scale (q8: value = code * scale, code -127..127) or
a bf16 scale and offset (q4: value = code * scale + offset, code 0..15). q4
packs 32 codes in 16 bytes: byte j holds code j (low nibble) and code j + 16
(high nibble).

The C library quantizes activations on the fly (int8, one float scale per
group) and sums int32 group dot products; `matvec` reproduces its result bit
for bit, so the oracle uses quantized weights exactly as the device does.

Recipes: `quantize_weights` turns float weights into QTensors per tensor
kind (`recipe`). The default q4 recipe: asymmetric int4 (each group's 16
levels span its own clipped range), group 32, rounded by GPTQ (column by
column, each rounding error compensated in the columns not yet rounded,
using input statistics the float model produces on text it samples itself
from BOS), with each group's range chosen by a search weighted by those
statistics; the embedding (and classifier) stay int8. On stories260K that
costs about 1-2% perplexity; symmetric absmax int4 everywhere costs about 18%.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .blob import DTYPE_F32, DTYPE_NAMES, DTYPE_Q4, DTYPE_Q8, GROUP_SIZES, LAYER_NAMES, Config

DEFAULT_GROUP_SIZE = 32     # q8, and the default
DEFAULT_Q4_GROUP_SIZE = 32  # the default q4 recipe
MATRIX_KINDS = ("tok_emb", "cls", "wq", "wk", "wv", "wo", "w1", "w2", "w3")
DTYPE_BY_NAME = {"f32": DTYPE_F32, "q8": DTYPE_Q8, "q4": DTYPE_Q4}

_F = np.float32
# A group (or int8 KV head) whose largest |x| is below 2^-120 is stored as
# zeros: 127 / amax would overflow (LLM_Q_AMAX_MIN in ref/quantize.h).
AMAX_MIN = _F(2.0 ** -120)

# ------------------------------------------------------------------ scalars

def bf16_to_f32(bits) -> np.ndarray:
    """bf16 bits (uint16 array) as float32, exactly."""
    b = np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16
    return b.view(np.float32)

def f32_to_bf16_up(x) -> np.ndarray:
    """Smallest bf16 >= x for finite x >= 0 (as llm_f32_to_bf16_up)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = np.where(u & 0xFFFF, u + 0x10000, u)
    return (u >> 16).astype(np.uint16)

def f32_to_bf16_nearest(x) -> np.ndarray:
    """bf16 nearest to x (ties to even), finite x of either sign."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    return (u >> 16).astype(np.uint16)

def round_half_away(v) -> np.ndarray:
    """C roundf: nearest integer, halves away from zero (float64, exact for float32 input)."""
    v = np.asarray(v, dtype=np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)

# ------------------------------------------------------------------ layout

def check_group_size(gs: int) -> None:
    if gs not in GROUP_SIZES:
        raise ValueError(f"group size {gs} is not one of {GROUP_SIZES}")


def cols_pad(dtype: int, cols: int, gs: int) -> int:
    """Values per stored row (as llm_q_cols_pad)."""
    unit = 32 if dtype == DTYPE_Q4 and gs < 32 else gs
    return -(-cols // unit) * unit


def row_bytes(dtype: int, n_pad: int) -> int:
    return n_pad // 2 if dtype == DTYPE_Q4 else n_pad


def tensor_nbytes(dtype: int, rows: int, cols: int, gs: int) -> int:
    """Bytes of a q8/q4 tensor: the padded rows, then per group a bf16 scale
    (q8) or a bf16 scale and a bf16 offset (q4)."""
    n_pad = cols_pad(dtype, cols, gs)
    per_group = 4 if dtype == DTYPE_Q4 else 2
    return rows * (row_bytes(dtype, n_pad) + per_group * (n_pad // gs))


@dataclass(eq=False)
class QTensor:
    """A q8 or q4 matrix as stored in a blob.

    q: (rows, cols_pad) codes, zero in the padding: int8 -127..127 (q8,
    value = q * scale) or 0..15 (q4, value = q * scale + offset).
    scales, offsets: (rows, cols_pad / group_size) bf16 bits (uint16);
    offsets is None for q8.
    """

    dtype: int
    group_size: int
    rows: int
    cols: int
    q: np.ndarray
    scales: np.ndarray
    offsets: np.ndarray | None = None
    _q3: np.ndarray | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple:
        return (self.rows, self.cols)

    @property
    def cols_pad(self) -> int:
        return self.q.shape[1]

    @property
    def n_groups(self) -> int:
        return self.cols_pad // self.group_size

    @property
    def dtype_name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.dtype, self.rows, self.cols, self.group_size)

    def _expand(self, bits: np.ndarray) -> np.ndarray:
        return np.repeat(bf16_to_f32(bits), self.group_size, axis=-1)

    def dequantize(self) -> np.ndarray:
        """(rows, cols) float32, each value as the C row lookup computes it."""
        v = self.q.astype(np.float32) * self._expand(self.scales)
        if self.offsets is not None:
            v = v + self._expand(self.offsets)
        return v[:, :self.cols]

    def row(self, r: int) -> np.ndarray:
        """Row r dequantized, float32 (cols,) (llm_ref_dequant_q8 / _q4)."""
        v = self.q[r].astype(np.float32) * self._expand(self.scales[r])
        if self.offsets is not None:
            v = v + self._expand(self.offsets[r])
        return v[:self.cols]

    def groups_i32(self) -> np.ndarray:
        """q as (rows, n_groups, group_size) int32, cached."""
        if self._q3 is None:
            self._q3 = self.q.astype(np.int32).reshape(self.rows, self.n_groups, self.group_size)
        return self._q3

    def payload(self) -> bytes:
        """The tensor's bytes in a blob."""
        if self.dtype == DTYPE_Q8:
            quants = np.ascontiguousarray(self.q, dtype=np.int8).tobytes()
            tail = np.ascontiguousarray(self.scales, dtype="<u2").tobytes()
        else:
            u = self.q.astype(np.uint8).reshape(self.rows, -1, 2, 16)
            quants = (u[:, :, 0, :] | (u[:, :, 1, :] << 4)).astype(np.uint8).tobytes()
            tail = np.stack([self.scales, self.offsets], axis=-1).astype("<u2").tobytes()
        return quants + tail

    @classmethod
    def from_payload(cls, dtype: int, group_size: int, rows: int, cols: int, data) -> "QTensor":
        n_pad = cols_pad(dtype, cols, group_size)
        rb = row_bytes(dtype, n_pad)
        ng = n_pad // group_size
        raw = np.frombuffer(bytes(data), dtype=np.uint8)
        if raw.size != tensor_nbytes(dtype, rows, cols, group_size):
            raise ValueError(f"{raw.size} bytes for a {DTYPE_NAMES[dtype]} ({rows}, {cols}) "
                             f"group {group_size} tensor")
        quants = raw[:rows * rb].reshape(rows, rb)
        tail = raw[rows * rb:].view("<u2").astype(np.uint16)
        if dtype == DTYPE_Q8:
            return cls(dtype, group_size, rows, cols, quants.view(np.int8).copy(), tail.reshape(rows, ng))
        u = quants.reshape(rows, -1, 16)
        q = np.stack([u & 0x0F, u >> 4], axis=2).reshape(rows, n_pad).astype(np.int8)
        tail = tail.reshape(rows, ng, 2)
        return cls(dtype, group_size, rows, cols, q, tail[..., 0].copy(), tail[..., 1].copy())


# ------------------------------------------------------------------ quantizers

def _padded_groups(w: np.ndarray, dtype: int, gs: int) -> np.ndarray:
    """w (rows, cols) as float64 (rows, n_groups, gs), zero-padded."""
    w = np.asarray(w, dtype=np.float32)
    rows, cols = w.shape
    n_pad = cols_pad(dtype, cols, gs)
    p = np.zeros((rows, n_pad), dtype=np.float64)
    p[:, :cols] = w
    return p.reshape(rows, n_pad // gs, gs)


def quantize_q8(w: np.ndarray, gs: int = DEFAULT_GROUP_SIZE) -> QTensor:
    """Symmetric absmax int8: scale = amax / 127 rounded to the nearest bf16,
    codes clipped to -127..127 (a scale rounded down clips the largest
    value by at most a quarter step)."""
    check_group_size(gs)
    rows, cols = np.asarray(w).shape
    g = _padded_groups(w, DTYPE_Q8, gs)
    scales = f32_to_bf16_nearest(np.abs(g).max(axis=2).astype(np.float32) / _F(127))
    s = bf16_to_f32(scales).astype(np.float64)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, np.clip(round_half_away(g / s), -127, 127), 0)
    q = q.reshape(rows, -1).astype(np.int8)
    q[:, cols:] = 0
    return QTensor(DTYPE_Q8, gs, rows, cols, q, scales.astype(np.uint16))


# q4 is asymmetric: value = code * scale + offset, code 0..15, so the 16
# levels span each group's own [lo, hi]. Candidate ranges shrink lo and hi
# towards 0 by 0..30% each: clipping an outlier cuts the rounding error of
# everything else in the group.
_CLIP = np.linspace(0.0, 0.3, 7)


def _q4_codes(g: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, np.clip(round_half_away((g - m) / s), 0, 15), 0)


def _q4_params(lo: np.ndarray, hi: np.ndarray):
    """bf16 (scale, offset) bits and their float64 values for ranges [lo, hi]."""
    s_bits = f32_to_bf16_nearest(((hi - lo) / 15.0).astype(np.float32))
    m_bits = f32_to_bf16_nearest(lo)
    return s_bits, m_bits, bf16_to_f32(s_bits).astype(np.float64), bf16_to_f32(m_bits).astype(np.float64)


def _q4_search(g: np.ndarray, weight: np.ndarray | None, clip=_CLIP):
    """(scale bits, offset bits), each (..., 1), minimising
    sum weight * (code * s + m - g)^2 over the candidate ranges; g (..., gs)."""
    lo0 = np.minimum(g.min(axis=-1, keepdims=True), 0.0)
    hi0 = np.maximum(g.max(axis=-1, keepdims=True), 0.0)
    best = None
    for a in clip:
        for b in clip:
            sb, mb, s, m = _q4_params(lo0 * (1 - a), hi0 * (1 - b))
            d = _q4_codes(g, s, m) * s + m - g
            err = ((d * d) if weight is None else (d * d * weight)).sum(axis=-1, keepdims=True)
            if best is None:
                best = [err, sb, mb]
            else:
                better = err < best[0]
                best = [np.where(better, err, best[0]), np.where(better, sb, best[1]),
                        np.where(better, mb, best[2])]
    return best[1].astype(np.uint16), best[2].astype(np.uint16)


def quantize_q4(w: np.ndarray, gs: int = DEFAULT_Q4_GROUP_SIZE, method: str = "search",
                inputs: np.ndarray | None = None, damp: float = 0.1) -> QTensor:
    """int4 with a bf16 scale and offset per group (value = code * scale + offset).

    method: 'minmax' (the group's own min and max, with 0 inside the range),
    'search' (the clipped range that minimises the group's squared error,
    weighted by mean(x^2) of each input when `inputs` is given), or 'gptq'
    (needs inputs (n_samples, cols): rounds one column at a time and spreads
    each rounding error over the columns not yet rounded through the inverse
    of the inputs' second-moment matrix, damped by `damp` times its mean
    diagonal; each group's range is searched when the group is reached).
    """
    check_group_size(gs)
    w = np.asarray(w, dtype=np.float32)
    rows, cols = w.shape
    if method not in ("minmax", "search", "gptq"):
        raise ValueError(f"unknown q4 method {method!r}")
    x = None if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1, cols)
    diag = None if x is None or len(x) == 0 else (x * x).mean(axis=0)
    if method == "gptq" and diag is not None and diag.mean() > 0:
        return _gptq(w, x, gs, damp)
    g = _padded_groups(w, DTYPE_Q4, gs)
    wt = None
    if diag is not None and method != "minmax":
        wt = np.zeros(g.shape[1] * gs)
        wt[:cols] = diag
        wt = wt.reshape(-1, gs)[None]
    sb, mb = _q4_search(g, wt, clip=(0.0,) if method == "minmax" else _CLIP)
    s = bf16_to_f32(sb).astype(np.float64)
    m = bf16_to_f32(mb).astype(np.float64)
    q = _q4_codes(g, s, m).reshape(rows, -1).astype(np.int8)
    q[:, cols:] = 0
    return QTensor(DTYPE_Q4, gs, rows, cols, q, sb[..., 0], mb[..., 0])


def _gptq(w: np.ndarray, x: np.ndarray, gs: int, damp: float) -> QTensor:
    rows, cols = w.shape
    W = w.astype(np.float64).copy()
    H = x.T @ x / len(x)
    diag = np.diag(H).copy()
    H[np.diag_indices(cols)] += damp * diag.mean()
    dead = np.diag(H) <= 0
    H[dead, dead] = 1.0
    # Upper Cholesky factor of H^-1: row j says how the rounding error of
    # column j moves the columns after it.
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    n_pad = cols_pad(DTYPE_Q4, cols, gs)
    n_groups = n_pad // gs
    q = np.zeros((rows, n_pad), dtype=np.int8)
    scales = np.zeros((rows, n_groups), dtype=np.uint16)
    offsets = np.zeros((rows, n_groups), dtype=np.uint16)
    for gi in range(n_groups):
        c0, c1 = gi * gs, min(cols, (gi + 1) * gs)
        if c0 >= cols:
            break  # padding-only group: scale, offset and codes 0
        sb, mb = _q4_search(W[:, c0:c1], diag[c0:c1])
        scales[:, gi], offsets[:, gi] = sb[:, 0], mb[:, 0]
        s = bf16_to_f32(sb[:, 0]).astype(np.float64)
        m = bf16_to_f32(mb[:, 0]).astype(np.float64)
        for j in range(c0, c1):
            qj = _q4_codes(W[:, j], s, m)
            q[:, j] = qj
            err = (W[:, j] - (qj * s + m)) / U[j, j]
            if j + 1 < cols:
                W[:, j + 1:] -= np.outer(err, U[j, j + 1:])
    return QTensor(DTYPE_Q4, gs, rows, cols, q, scales, offsets)


def quantize(w: np.ndarray, dtype: int, gs: int, method: str = "search",
             inputs: np.ndarray | None = None):
    """Float32 (rows, cols) -> QTensor (q8/q4), or float32 unchanged for f32."""
    if dtype == DTYPE_F32:
        return np.asarray(w, dtype=np.float32)
    if dtype == DTYPE_Q8:
        return quantize_q8(w, gs)
    if dtype == DTYPE_Q4:
        return quantize_q4(w, gs, method, inputs)
    raise ValueError(f"cannot quantize to dtype {dtype}")


# ------------------------------------------------------------------ device arithmetic

def quantize_activation(x: np.ndarray, n_pad: int, gs: int):
    """(xq (n_pad,) int8, xs (n_pad/gs,) float32, xsum (n_pad/gs,) int32)
    exactly as llm_ref_quantize_q8."""
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    p = np.zeros(n_pad, dtype=np.float32)
    p[:x.size] = x
    g = p.reshape(-1, gs)
    amax = np.abs(g).max(axis=1)
    inv = np.zeros_like(amax)
    np.divide(_F(127), amax, out=inv, where=amax >= AMAX_MIN)
    xs = (amax / _F(127)).astype(np.float32)
    q = round_half_away((g * inv[:, None]).astype(np.float32)).astype(np.int8)
    return q.reshape(-1), xs, q.astype(np.int32).sum(axis=1)


def matvec(t: QTensor, x: np.ndarray) -> np.ndarray:
    """t @ x as the C library computes it (llm_ref_matvec_q8 / _q4): float32 (rows,)."""
    xq, xs, xsum = quantize_activation(x, t.cols_pad, t.group_size)
    isum = np.einsum("rgk,gk->rg", t.groups_i32(), xq.astype(np.int32).reshape(t.n_groups, -1))
    isum = isum.astype(np.float32)  # |isum| < 2^23: exact
    sw = bf16_to_f32(t.scales)
    acc = np.zeros(t.rows, dtype=np.float32)
    if t.offsets is None:
        for g in range(t.n_groups):
            acc = acc + isum[:, g] * (sw[:, g] * xs[g])
    else:
        mw = bf16_to_f32(t.offsets)
        xsf = xsum.astype(np.float32)
        for g in range(t.n_groups):
            acc = acc + (isum[:, g] * (sw[:, g] * xs[g]) + xsf[g] * (mw[:, g] * xs[g]))
    return acc


def kv_store_q8(x: np.ndarray):
    """(q int8 (n_heads, hs), scale bf16 bits (n_heads,)) as llm_ref_kv_store_q8."""
    x = np.asarray(x, dtype=np.float32)
    amax = np.abs(x).max(axis=-1)
    bits = f32_to_bf16_up((amax / _F(127)).astype(np.float32))
    s = bf16_to_f32(bits)
    inv = np.zeros_like(s)
    np.divide(_F(1), s, out=inv, where=amax >= AMAX_MIN)
    q = np.clip(round_half_away((x * inv[..., None]).astype(np.float32)), -127, 127)
    return q.astype(np.int8), bits


# ------------------------------------------------------------------ recipes

@dataclass
class TensorReport:
    name: str        # e.g. 'wq[3]'
    dtype: str
    group_size: int
    nbytes: int
    rms: float       # RMS of dequantized - float
    max: float       # largest |dequantized - float|
    rel_rms: float   # rms / RMS of the float weights

def recipe(weights: str = "q8", group_size: int | None = None, overrides: dict | None = None) -> dict:
    """kind -> (dtype, group_size) for every matrix kind.

    weights 'q8': every matrix int8, group 32 (or group_size). 'q4': every
    matrix int4 with group 32 (or group_size), the embedding and classifier
    int8 with group 32. 'f32': nothing quantized. overrides: kind ->
    (dtype name, group size or None) applied last.
    """
    if weights not in DTYPE_BY_NAME:
        raise ValueError(f"weights must be f32, q8 or q4, not {weights!r}")
    dt = DTYPE_BY_NAME[weights]
    gs = group_size or (DEFAULT_Q4_GROUP_SIZE if dt == DTYPE_Q4 else DEFAULT_GROUP_SIZE)
    r = {k: (dt, gs if dt != DTYPE_F32 else 0) for k in MATRIX_KINDS}
    if dt == DTYPE_Q4:
        r["tok_emb"] = r["cls"] = (DTYPE_Q8, DEFAULT_GROUP_SIZE)
    for kind, (name, ogs) in (overrides or {}).items():
        if kind not in MATRIX_KINDS:
            raise ValueError(f"cannot override {kind!r}: one of {', '.join(MATRIX_KINDS)}")
        odt = DTYPE_BY_NAME.get(name)
        if odt is None:
            raise ValueError(f"{kind}: dtype must be f32, q8 or q4, not {name!r}")
        if odt == DTYPE_F32:
            r[kind] = (odt, 0)
        else:
            r[kind] = (odt, ogs or (gs if dt == odt else
                                    DEFAULT_Q4_GROUP_SIZE if odt == DTYPE_Q4 else DEFAULT_GROUP_SIZE))
    for kind, (odt, ogs) in r.items():
        if odt != DTYPE_F32:
            check_group_size(ogs)
    return r

def calibration_inputs(config: Config, weights: dict, n_seq: int = 8, steps: int = 256,
                       seed: int = 1234) -> dict:
    """Inputs of every matrix while the float model writes n_seq texts of its
    own from BOS (temperature 1, top-p 0.95): (layer, 'attn'|'heads'|'ffn'|
    'hidden') -> (n_samples, cols) float32."""
    from .oracle import Model
    from .sampler import Sampler
    rec: dict = {}
    m = Model(config, weights, record=rec)
    steps = min(steps, config.seq_len)
    for s in range(n_seq):
        m.reset()
        smp = Sampler(config.vocab_size, temperature=1.0, top_p=0.95, seed=seed + s)
        tok, hist = 1, [1]
        for pos in range(steps):
            nxt = smp.sample(m.forward(tok, pos).copy(), hist)
            if nxt in (1, 2):
                break
            hist.append(nxt)
            tok = nxt
    return {k: np.asarray(v, dtype=np.float32) for k, v in rec.items()}

_INPUT_OF = {"wq": "attn", "wk": "attn", "wv": "attn", "wo": "heads", "w1": "ffn", "w3": "ffn",
             "w2": "hidden"}

def quantize_weights(config: Config, weights: dict, spec: dict, q4_method: str = "gptq",
                     calib: dict | None = None, progress=None):
    """Quantize float weights by spec (from `recipe`): returns (weights with
    QTensor values where quantized, list of TensorReport). q4 tensors use
    q4_method ('gptq', 'search', 'minmax'); 'gptq' and 'search' gather
    calibration inputs (calibration_inputs) unless calib is given. The
    classifier follows tok_emb when tied. progress(n) is called per tensor.
    """
    needs_calib = q4_method in ("gptq", "search") and any(
        spec[k][0] == DTYPE_Q4 for k in MATRIX_KINDS)
    if needs_calib and calib is None:
        calib = calibration_inputs(config, weights)
    out = {"final_norm": np.asarray(weights["final_norm"], dtype=np.float32)}
    reports = []

    def one(name, kind, w, inputs=None):
        dt, gs = spec[kind]
        q = quantize(w, dt, gs, q4_method, inputs)
        w32 = np.asarray(w, dtype=np.float32)
        if isinstance(q, QTensor):
            d = q.dequantize().astype(np.float64) - w32
            rms_w = math.sqrt(float(np.mean(w32.astype(np.float64) ** 2))) or 1.0
            rms = math.sqrt(float(np.mean(d * d)))
            reports.append(TensorReport(name, q.dtype_name, gs, q.nbytes, rms, float(np.abs(d).max()),
                                        rms / rms_w))
        else:
            reports.append(TensorReport(name, "f32", 0, 4 * w32.size, 0.0, 0.0, 0.0))
        if progress is not None:
            progress(1)
        return q

    # The classifier's input is the final normed state; a tied embedding
    # table is the classifier too, so it is weighted by that input.
    cls_inputs = None if calib is None else calib.get(("cls",))
    tied = weights.get("cls") is None
    out["tok_emb"] = one("tok_emb", "tok_emb", weights["tok_emb"], cls_inputs if tied else None)
    for name in LAYER_NAMES:
        out[name] = []
        for layer, w in enumerate(weights[name]):
            if name in _INPUT_OF:
                inputs = None if calib is None else calib.get((layer, _INPUT_OF[name]))
                out[name].append(one(f"{name}[{layer}]", name, w, inputs))
            else:
                out[name].append(np.asarray(w, dtype=np.float32))
    if weights.get("cls") is not None:
        out["cls"] = one("cls", "cls", weights["cls"], cls_inputs)
    return out, reports

def payload_size(t) -> int:
    """Bytes a tensor takes in a blob (f32 array or QTensor)."""
    return t.nbytes if isinstance(t, QTensor) else 4 * np.asarray(t).size


def n_quantized_tensors(config: Config, weights: dict) -> int:
    """How many progress steps quantize_weights takes."""
    return 1 + 7 * config.n_layers + (1 if weights.get("cls") is not None else 0)

# ------------------------------------------------------------------ llama2.c runq export

RUNQ_MAGIC = 0x616B3432
RUNQ_HEADER_SIZE = 256

def _q80(w: np.ndarray, gs: int):
    """llama2.c export.py quantize_q80: groups over the flattened tensor."""
    g = np.asarray(w, dtype=np.float32).reshape(-1, gs)
    scale = (np.abs(g).max(axis=1) / _F(127)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(scale[:, None] > 0, round_half_away(g / scale[:, None]), 0)
    return q.astype(np.int8), scale

def write_llama2c_q80(config: Config, weights: dict, group_size: int = 64) -> bytes:
    """llama2.c's version-2 int8 export (export.py version2_export), the input
    of its runq.c: for benchmarking against runq only. Float weights in.

    Layout: 256-byte header (u32 magic 'ak42', i32 version 2, 7 x i32 config,
    u8 shared classifier, i32 group size, zeros), fp32 norms (attention x
    n_layers, ffn x n_layers, final), then for tok_emb, wq[*], wk[*], wv[*],
    wo[*], w1[*], w2[*], w3[*] and an unshared cls: int8 values then float32
    scales, groups of group_size over the flattened tensor. The group size
    halves until it divides dim, as export.py does. runq.c's mat-vec assumes
    every input length is a multiple of the group size; for stories260K
    (hidden_dim 172) it silently skips the last columns of w2.
    """
    import struct
    c = config
    gs = group_size
    while c.dim % gs:
        gs //= 2
    tied = weights.get("cls") is None
    mats = [weights["tok_emb"]]
    for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        mats += list(weights[name])
    if not tied:
        mats.append(weights["cls"])
    for m in mats:
        if np.asarray(m).size % gs:
            raise ValueError(f"a tensor of {np.asarray(m).size} values is not a multiple of "
                             f"group size {gs}; runq cannot load it")
    head = struct.pack("<Ii7i", RUNQ_MAGIC, 2, c.dim, c.hidden_dim, c.n_layers, c.n_heads,
                       c.n_kv_heads, c.vocab_size, c.seq_len)
    head += struct.pack("<B", 1 if tied else 0) + struct.pack("<i", gs)
    parts = [head + b"\0" * (RUNQ_HEADER_SIZE - len(head))]
    for name in ("attn_norm", "ffn_norm"):
        parts += [np.asarray(a, dtype="<f4").tobytes() for a in weights[name]]
    parts.append(np.asarray(weights["final_norm"], dtype="<f4").tobytes())
    for m in mats:
        q, s = _q80(m, gs)
        parts += [q.tobytes(), s.astype("<f4").tobytes()]
    return b"".join(parts)
