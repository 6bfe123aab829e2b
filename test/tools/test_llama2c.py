"""llmtools.llama2c: legacy and version-1 checkpoints.

Version-1 files are built here with struct, following llama2.c export.py
version1_export, independently of the module under test.
"""
import struct

import numpy as np
import pytest

from llmtools import testmodels as T
from llmtools.blob import BlobError, Config, write_blob
from llmtools.llama2c import read_checkpoint, write_legacy

LAYER_KEYS = ("attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3")


def _equal(a, b):
    assert set(a) == set(b)
    for k in a:
        xs, ys = (a[k], b[k]) if isinstance(a[k], list) else ([a[k]], [b[k]])
        assert len(xs) == len(ys)
        for x, y in zip(xs, ys):
            assert x.shape == y.shape and np.array_equal(x, y), k


def _f32(*arrays):
    return b"".join(np.asarray(a, "<f4").tobytes() for a in arrays)


def make_v1(c: Config, w: dict, version: int = 1) -> bytes:
    """export.py version1_export: 256-byte header, norms first, then matrices."""
    shared = "cls" not in w
    head = struct.pack("<Ii", 0x616B3432, version)
    head += struct.pack("<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                        c.vocab_size, c.seq_len)
    head += struct.pack("B", int(shared))
    head += b"\0" * (256 - len(head))
    body = _f32(*w["attn_norm"], *w["ffn_norm"], w["final_norm"], w["tok_emb"])
    for k in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        body += _f32(*w[k])
    if not shared:
        body += _f32(w["cls"])
    return head + body


def test_stories260k_legacy(stories260k, model_file):
    c, w = stories260k
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len) == \
        (64, 172, 5, 8, 4, 512, 512)
    assert "cls" not in w  # positive vocab in the header: tied
    assert w["wk"][0].shape == (32, 64) and w["w2"][4].shape == (64, 172)
    raw = model_file("stories260K.bin").read_bytes()
    # tok_emb follows the 28-byte header; last layer's w3 ends before final_norm
    assert np.array_equal(w["tok_emb"].ravel(), np.frombuffer(raw, "<f4", 512 * 64, 28))
    fn_off = len(raw) - 4 * (64 + 2 * 512 * 4)  # final_norm, then freq_cis (seq_len, hs/2) x2
    assert np.array_equal(w["final_norm"], np.frombuffer(raw, "<f4", 64, fn_off))


def test_write_legacy_reproduces_stories260k(stories260k, model_file):
    c, w = stories260k
    raw = model_file("stories260K.bin").read_bytes()
    out = write_legacy(c, w)
    assert len(out) == len(raw)
    fq = 28 + 4 * (len(raw) // 4 - 7 - 2 * 512 * 4)  # start of freq_cis tables
    assert out[:fq] == raw[:fq]
    # The RoPE tables run.c skips: torch and NumPy cos/sin differ by at most an ulp.
    a = np.frombuffer(out[fq:], "<f4")
    b = np.frombuffer(raw[fq:], "<f4")
    assert np.allclose(a, b, rtol=0, atol=1e-6)


@pytest.mark.parametrize("tied", [True, False])
def test_legacy_round_trip(tied):
    c = T.random_config(5)
    w = T.random_model(c, 5, tied)
    data = write_legacy(c, w)
    assert struct.unpack_from("<i", data, 20)[0] == (c.vocab_size if tied else -c.vocab_size)
    c2, w2 = read_checkpoint(data)
    assert c2 == c
    _equal(w, w2)


@pytest.mark.parametrize("tied", [True, False])
def test_v1_read(tied):
    c = T.tiny_config(n_layers=3)
    w = T.random_model(c, 7, tied)
    c2, w2 = read_checkpoint(make_v1(c, w))
    assert c2 == c
    _equal(w, w2)


def test_v1_stories260k(stories260k):
    c, w = stories260k
    c2, w2 = read_checkpoint(make_v1(c, w))
    assert c2 == c
    _equal(w, w2)


def _code(data):
    with pytest.raises(BlobError) as ei:
        read_checkpoint(data)
    return ei.value.code


def test_v1_errors():
    c = T.tiny_config()
    data = make_v1(c, T.random_model(c, 1, False))
    assert _code(data[:-4]) == "LLM_ERR_TRUNCATED"
    assert _code(data + b"\0" * 4) == "LLM_ERR_SIZE"
    assert _code(data[:100]) == "LLM_ERR_TRUNCATED"
    assert _code(make_v1(c, T.random_model(c, 1, False), version=2)) == "LLM_ERR_VERSION"


def test_legacy_errors(tiny):
    c, w, _ = tiny
    data = write_legacy(c, w)
    assert _code(data[:-1]) == "LLM_ERR_TRUNCATED"
    assert _code(data[:20]) == "LLM_ERR_TRUNCATED"
    assert _code(data + b"\0" * 8) == "LLM_ERR_SIZE"
    bad = bytearray(data)
    struct.pack_into("<i", bad, 12, 3)  # n_heads 3 does not divide dim 32
    assert _code(bytes(bad)) == "LLM_ERR_DIMS"
    assert _code(write_blob(c, w)) == "LLM_ERR_MAGIC"  # already a blob
    assert _code(b"\x07\0\0\0" + b"\0" * 100) == "LLM_ERR_DIMS"  # e.g. a tokenizer file
