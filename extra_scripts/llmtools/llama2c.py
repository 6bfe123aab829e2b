"""llama2.c checkpoints: the legacy 7-int header and export.py's version-1 'ak42' fp32 file.

Legacy (run.c): 7 x i32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
vocab_size, seq_len; vocab_size < 0 means a separate classifier), then fp32
tok_emb, attn_norm[*], wq[*], wk[*], wv[*], wo[*], ffn_norm[*], w1[*], w2[*],
w3[*], final_norm, freq_cis_real (seq_len, hs/2), freq_cis_imag (seq_len, hs/2),
and cls if untied.

Version 1 (export.py version1_export): a 256-byte header (u32 magic 0x616b3432,
i32 version 1, the 7 ints with a positive vocab_size, u8 shared_classifier,
zero padding), then attn_norm[*], ffn_norm[*], final_norm, tok_emb, wq[*],
wk[*], wv[*], wo[*], w1[*], w2[*], w3[*], and cls if not shared.
"""
from __future__ import annotations

import struct

import numpy as np

from .blob import MAGIC as BLOB_MAGIC, MAX_LAYERS_LIMIT, BlobError, Config, LAYER_NAMES, validate_config

V1_MAGIC = 0x616B3432
V1_HEADER_SIZE = 256
LEGACY_HEADER_SIZE = 28


def _shapes(c: Config) -> dict:
    hs = c.head_size
    return {
        "tok_emb": (c.vocab_size, c.dim), "attn_norm": (c.dim,),
        "wq": (c.n_heads * hs, c.dim), "wk": (c.kv_dim, c.dim), "wv": (c.kv_dim, c.dim),
        "wo": (c.dim, c.n_heads * hs), "ffn_norm": (c.dim,),
        "w1": (c.hidden_dim, c.dim), "w2": (c.dim, c.hidden_dim), "w3": (c.hidden_dim, c.dim),
        "final_norm": (c.dim,), "cls": (c.vocab_size, c.dim),
        "freq": (c.seq_len, hs // 2),
    }


def _legacy_order(c: Config, tied: bool) -> list:
    """(name, layer or None, shape) in file order."""
    s = _shapes(c)
    order = [("tok_emb", None, s["tok_emb"])]
    for name in LAYER_NAMES:
        order += [(name, l, s[name]) for l in range(c.n_layers)]
    order += [("final_norm", None, s["final_norm"]), ("freq_cos", None, s["freq"]),
              ("freq_sin", None, s["freq"])]
    if not tied:
        order.append(("cls", None, s["cls"]))
    return order


def _v1_order(c: Config, tied: bool) -> list:
    s = _shapes(c)
    order = [("attn_norm", l, s["attn_norm"]) for l in range(c.n_layers)]
    order += [("ffn_norm", l, s["ffn_norm"]) for l in range(c.n_layers)]
    order += [("final_norm", None, s["final_norm"]), ("tok_emb", None, s["tok_emb"])]
    for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        order += [(name, l, s[name]) for l in range(c.n_layers)]
    if not tied:
        order.append(("cls", None, s["cls"]))
    return order


def _config(ints) -> Config:
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = ints
    c = Config(dim, hidden, n_layers, n_heads, n_kv, vocab, seq)
    try:
        validate_config(c, max_layers=MAX_LAYERS_LIMIT)
    except BlobError as e:
        raise BlobError(e.code, f"not a valid llama2.c checkpoint header {tuple(ints)}: {e.message}") from None
    return c


def _dims(c: Config) -> str:
    return (f"dim {c.dim}, hidden_dim {c.hidden_dim}, n_layers {c.n_layers}, n_heads {c.n_heads}, "
            f"n_kv_heads {c.n_kv_heads}, vocab_size {c.vocab_size}, seq_len {c.seq_len}")


def _read_weights(data: bytes, start: int, c: Config, order: list) -> dict:
    n_floats = sum(int(np.prod(shape)) for _, _, shape in order)
    want = start + 4 * n_floats
    if len(data) < want:
        raise BlobError("LLM_ERR_TRUNCATED", f"checkpoint is {len(data)} bytes, "
                        f"its header ({_dims(c)}) implies {want}")
    if len(data) > want:
        raise BlobError("LLM_ERR_SIZE", f"checkpoint is {len(data)} bytes, "
                        f"its header ({_dims(c)}) implies {want}")
    flat = np.frombuffer(data, dtype="<f4", count=n_floats, offset=start).astype(np.float32)
    w = {name: [None] * c.n_layers for name in LAYER_NAMES}
    pos = 0
    for name, layer, shape in order:
        n = int(np.prod(shape))
        a = flat[pos:pos + n].reshape(shape)
        pos += n
        if layer is None:
            w[name] = a
        else:
            w[name][layer] = a
    w.pop("freq_cos", None)
    w.pop("freq_sin", None)
    return w


def read_checkpoint(data: bytes):
    """(Config, weights) of a legacy or version-1 llama2.c checkpoint.

    Raises BlobError: LLM_ERR_TRUNCATED / LLM_ERR_SIZE when the length differs
    from what the header implies, LLM_ERR_MAGIC for an llm blob, LLM_ERR_VERSION
    for other 'ak42' versions (e.g. version 2, int8), LLM_ERR_DIMS for a header
    that is not a valid model (which is what a random file looks like).
    """
    data = bytes(data)
    if data[:4] == BLOB_MAGIC:
        raise BlobError("LLM_ERR_MAGIC", "this is already an llm blob, not a llama2.c checkpoint")
    if len(data) >= 4 and struct.unpack_from("<I", data)[0] == V1_MAGIC:
        if len(data) < V1_HEADER_SIZE:
            raise BlobError("LLM_ERR_TRUNCATED", f"{len(data)} bytes, the version-1 header needs {V1_HEADER_SIZE}")
        (version,) = struct.unpack_from("<i", data, 4)
        if version != 1:
            raise BlobError("LLM_ERR_VERSION", f"llama2.c export version {version}; only the legacy "
                            "format and version 1 (fp32) are supported")
        ints = struct.unpack_from("<7i", data, 8)
        tied = data[36] != 0
        c = _config(ints)
        w = _read_weights(data, V1_HEADER_SIZE, c, _v1_order(c, tied))
        return c, w
    if len(data) < LEGACY_HEADER_SIZE:
        raise BlobError("LLM_ERR_TRUNCATED", f"{len(data)} bytes, a llama2.c header needs {LEGACY_HEADER_SIZE}")
    ints = list(struct.unpack_from("<7i", data, 0))
    tied = ints[5] > 0
    ints[5] = abs(ints[5])
    c = _config(ints)
    w = _read_weights(data, LEGACY_HEADER_SIZE, c, _legacy_order(c, tied))
    return c, w


def rope_tables(c: Config):
    """(cos, sin), each (seq_len, head_size/2) float32, as llama2.c model.py
    precompute_freqs_cis (written into legacy files, ignored by run.c)."""
    hs = c.head_size
    freqs = (1.0 / (np.float32(c.rope_theta) ** (np.arange(0, hs, 2, dtype=np.float32) / np.float32(hs)))).astype(np.float32)
    ang = np.outer(np.arange(c.seq_len, dtype=np.float32), freqs).astype(np.float32)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def write_legacy(config: Config, weights: dict) -> bytes:
    """A legacy llama2.c checkpoint run.c can load (untied when weights has 'cls')."""
    c = config
    validate_config(c, max_layers=MAX_LAYERS_LIMIT)
    tied = weights.get("cls") is None
    vocab = c.vocab_size if tied else -c.vocab_size
    parts = [struct.pack("<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, vocab, c.seq_len)]
    cos, sin = rope_tables(c)
    extra = {"freq_cos": cos, "freq_sin": sin}
    for name, layer, shape in _legacy_order(c, tied):
        a = extra[name] if name in extra else (weights[name] if layer is None else weights[name][layer])
        a = np.asarray(a)
        if a.shape != shape:
            raise ValueError(f"{name} layer {layer} has shape {a.shape}, expected {shape}")
        parts.append(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return b"".join(parts)
