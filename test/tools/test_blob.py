"""llmtools.blob: write -> read round trips, layout rules, and every BlobError
code read_blob can raise, reached by corrupting a written blob."""
import struct
import zlib

import numpy as np
import pytest

from llmtools import blob as B
from llmtools import testmodels as T


def _same_weights(a, b):
    assert set(a) == set(b)
    for k in a:
        if isinstance(a[k], list):
            assert len(a[k]) == len(b[k])
            for x, y in zip(a[k], b[k]):
                assert x.dtype == np.float32 and np.array_equal(x, y), k
        else:
            assert np.array_equal(a[k], b[k]), k


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("tied", [True, False])
def test_round_trip_random_configs(seed, tied):
    c = T.random_config(seed)
    w = T.random_model(c, seed, tied)
    tok = T.synthetic_tokenizer(c.vocab_size, seed) if seed % 2 else None
    data = B.write_blob(c, w, tok)
    c2, w2, tok2 = B.read_blob(data)
    assert c2 == c
    assert tok2 == tok
    _same_weights(w, w2)
    assert ("cls" in w2) == (not tied)


def test_layout_rules(tiny):
    c, w, tok = tiny
    data = B.write_blob(c, w, tok)
    h = B.parse_header(data)
    assert data[:4] == b"LLMB" and h["version"] == 1 and h["header_size"] == B.HEADER_SIZE
    assert h["total_size"] == len(data) and len(data) % 16 == 0
    crc = zlib.crc32(data[:60] + b"\0\0\0\0" + data[64:])
    assert h["crc32"] == crc
    table = B.tensor_table(data)
    assert len(table) == h["n_tensors"] == 9 * c.n_layers + 2 + 1 + 1  # + cls + tokenizer
    names = [(B.KIND_NAMES[e["kind"]], e["layer"]) for e in table]
    expect = [("tok_emb", 0)] + [(n, l) for l in range(c.n_layers) for n in B.LAYER_NAMES] + \
             [("final_norm", 0), ("cls", 0), ("tokenizer", 0)]
    assert names == expect
    end = B.HEADER_SIZE + B.ENTRY_SIZE * len(table)
    for e in table:
        assert e["offset"] % 16 == 0 and e["offset"] >= end and e["reserved"] == b"\0" * 8
        end = e["offset"] + e["nbytes"]
    assert end <= len(data)
    tok_entry = table[-1]
    assert tok_entry["dtype"] == B.DTYPE_U8 and tok_entry["nbytes"] == len(tok)
    assert data[tok_entry["offset"]:tok_entry["offset"] + len(tok)] == tok
    # stored tensors are row-major float32: wq of layer 1
    e = next(e for e in table if e["kind"] == B.KIND_WQ and e["layer"] == 1)
    got = np.frombuffer(data, "<f4", e["rows"] * e["cols"], e["offset"]).reshape(e["rows"], e["cols"])
    assert np.array_equal(got, w["wq"][1])


def test_partition_tail_ignored_and_config_floats(tiny):
    c, w, _ = tiny
    c.rope_theta, c.norm_eps = 500000.0, 1e-6
    data = B.write_blob(c, w)
    c2, _, tok = B.read_blob(data + b"\xff" * 100)
    assert c2 == c and tok is None


def test_write_rejects_wrong_shape(tiny):
    c, w, _ = tiny
    w["w2"][0] = w["w2"][0].T.copy()
    with pytest.raises(ValueError, match="w2"):
        B.write_blob(c, w)


# ---------------------------------------------------------------- corruption

@pytest.fixture
def good(tiny):
    c, w, tok = tiny
    return c, bytearray(B.write_blob(c, w, tok))


def _put(data, off, fmt, value, fix=True):
    struct.pack_into("<" + fmt, data, off, value)
    if fix:
        B.fix_crc(data)


def _hdr(data, field, fmt, value, fix=True):
    _put(data, B.HEADER_OFFSETS[field], fmt, value, fix)


def _entry(data, index, field, fmt, value):
    e = B.tensor_table(data)[index]
    _put(data, e["entry_offset"] + B.ENTRY_OFFSETS[field], fmt, value)


def _code(data, **kw):
    with pytest.raises(B.BlobError) as ei:
        B.read_blob(bytes(data), **kw)
    assert str(ei.value).startswith(ei.value.code)
    return ei.value.code


def _index(data, kind, layer=0):
    return next(i for i, e in enumerate(B.tensor_table(data)) if e["kind"] == kind and e["layer"] == layer)


def test_good_blob_reads(good):
    c, data = good
    assert B.read_blob(data)[0] == c


def test_truncated(good):
    _, data = good
    assert _code(data[:63]) == "LLM_ERR_TRUNCATED"
    assert _code(data[:-16]) == "LLM_ERR_TRUNCATED"
    assert _code(data[:-1]) == "LLM_ERR_TRUNCATED"


def test_magic(good):
    _, data = good
    data[0:4] = b"LLMA"
    assert _code(data) == "LLM_ERR_MAGIC"


@pytest.mark.parametrize("field,value", [("version", 2), ("version", 0), ("header_size", 80)])
def test_version(good, field, value):
    _, data = good
    _hdr(data, field, "H", value)
    assert _code(data) == "LLM_ERR_VERSION"


def test_flags_rejected(good):
    _, data = good
    _hdr(data, "flags", "I", 1)
    assert _code(data) == "LLM_ERR_VERSION"


def test_checksum(good):
    _, data = good
    e = B.tensor_table(data)[3]
    data[e["offset"] + 5] ^= 0x40  # one flipped bit inside a tensor
    assert _code(data) == "LLM_ERR_CHECKSUM"
    B.read_blob(bytes(data), verify_checksum=False)
    B.fix_crc(data)
    B.read_blob(bytes(data))


def test_checksum_before_dims(good):
    _, data = good
    _hdr(data, "dim", "I", 0, fix=False)
    assert _code(data) == "LLM_ERR_CHECKSUM"


@pytest.mark.parametrize("field,fmt,value", [
    ("dim", "I", 0), ("dim", "I", 30), ("dim", "I", 65536 * 2),  # tiny has 4 heads
    ("n_heads", "I", 0), ("n_kv_heads", "I", 3), ("n_kv_heads", "I", 0),
    ("hidden_dim", "I", 0), ("n_layers", "I", 0), ("n_layers", "I", 33),
    ("vocab_size", "I", 0), ("vocab_size", "I", 65536), ("seq_len", "I", 0),
    ("rope_theta", "f", float("nan")), ("rope_theta", "f", 0.0), ("norm_eps", "f", float("inf")),
    ("norm_eps", "f", -1e-5),
])
def test_dims(good, field, fmt, value):
    _, data = good
    _hdr(data, field, fmt, value)
    assert _code(data) == "LLM_ERR_DIMS"


def test_valid_header_that_tensors_do_not_match(good):
    _, data = good
    _hdr(data, "n_heads", "I", 8)  # head_size 4 is valid, but wk/wv are now too big
    assert _code(data) == "LLM_ERR_SHAPE"


def test_dims_odd_head_size(tiny):
    c, w, _ = tiny
    data = bytearray(B.write_blob(c, w))
    _hdr(data, "n_heads", "I", 32)  # head_size 1: RoPE needs pairs
    _hdr(data, "n_kv_heads", "I", 1)
    assert _code(data) == "LLM_ERR_DIMS"


@pytest.mark.parametrize("extra", [None, 1])
def test_tensor_count_out_of_range(good, extra):
    c, data = good
    _hdr(data, "n_tensors", "I", 0 if extra is None else 9 * c.n_layers + 5 + extra)
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


@pytest.mark.parametrize("field,fmt,value", [
    ("kind", "H", 0), ("kind", "H", 15), ("layer", "H", 2),
])
def test_tensor_table_bad_entry(good, field, fmt, value):
    _, data = good
    _entry(data, _index(data, B.KIND_W1, 1), field, fmt, value)
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


def test_tensor_table_layer_on_global_kind(good):
    _, data = good
    _entry(data, _index(data, B.KIND_FINAL_NORM), "layer", "H", 1)
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


def test_tensor_table_duplicate(good):
    _, data = good
    _entry(data, _index(data, B.KIND_WQ, 1), "layer", "H", 0)  # two wq for layer 0
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


def test_tensor_table_reserved(good):
    _, data = good
    e = B.tensor_table(data)[2]
    data[e["entry_offset"] + 31] = 1
    B.fix_crc(data)
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


def test_tensor_table_missing(good):
    _, data = good
    # Overwrite final_norm's entry with the last entry (the tokenizer) and drop the last.
    table = B.tensor_table(data)
    fe = table[_index(data, B.KIND_FINAL_NORM)]["entry_offset"]
    last = table[-1]["entry_offset"]
    data[fe:fe + 32] = data[last:last + 32]
    data[last:last + 32] = bytes(32)
    _hdr(data, "n_tensors", "I", len(table) - 1)
    with pytest.raises(B.BlobError, match="missing final_norm") as ei:
        B.read_blob(bytes(data))
    assert ei.value.code == "LLM_ERR_TENSOR_TABLE"


@pytest.mark.parametrize("dtype", [B.DTYPE_F16, B.DTYPE_Q8, B.DTYPE_Q4, B.DTYPE_U8, 9])
def test_dtype_weight(good, dtype):
    _, data = good
    _entry(data, _index(data, B.KIND_WO, 0), "dtype", "B", dtype)
    assert _code(data) == "LLM_ERR_DTYPE"


def test_dtype_tokenizer(good):
    _, data = good
    _entry(data, _index(data, B.KIND_TOKENIZER), "dtype", "B", B.DTYPE_F32)
    assert _code(data) == "LLM_ERR_DTYPE"


@pytest.mark.parametrize("field,fmt,delta", [
    ("rows", "I", 1), ("cols", "I", -1), ("nbytes", "I", -4), ("ndim", "B", 1),
])
def test_shape(good, field, fmt, delta):
    _, data = good
    i = _index(data, B.KIND_W3, 1)
    e = B.tensor_table(data)[i]
    _entry(data, i, field, fmt, e[field] + delta)
    assert _code(data) == "LLM_ERR_SHAPE"


def test_group_size_on_float_tensor(good):
    _, data = good
    _entry(data, _index(data, B.KIND_W3, 1), "group_size", "H", 32)
    assert _code(data) == "LLM_ERR_DTYPE"


def test_table_offset(good):
    _, data = good
    _hdr(data, "table_offset", "I", 80)
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"


def test_nonzero_padding():
    c = T.tiny_config(dim=6, n_heads=1, n_kv_heads=1)  # (6) norms leave 8 bytes of padding
    data = bytearray(B.write_blob(c, T.random_model(c, 0, tied=True)))
    table = sorted(B.tensor_table(data), key=lambda e: e["offset"])
    gaps = [a["offset"] + a["nbytes"] for a, b in zip(table, table[1:])
            if a["offset"] + a["nbytes"] < b["offset"]]
    assert gaps, "the test blob has no padding to corrupt"
    data[gaps[0]] = 0x5A
    B.fix_crc(data)
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_shape_norm_ndim(good):
    _, data = good
    _entry(data, _index(data, B.KIND_ATTN_NORM, 0), "ndim", "B", 2)
    assert _code(data) == "LLM_ERR_SHAPE"


def test_bounds_past_end(good):
    _, data = good
    i = _index(data, B.KIND_TOK_EMB)
    _entry(data, i, "offset", "I", len(data))
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_bounds_inside_table(good):
    _, data = good
    _entry(data, _index(data, B.KIND_W2, 0), "offset", "I", 64)
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_bounds_overlap(good):
    _, data = good
    table = B.tensor_table(data)
    i = _index(data, B.KIND_WK, 1)
    _entry(data, i, "offset", "I", table[i - 1]["offset"])  # onto wq of the same layer
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_bounds_32bit_overflow(good):
    _, data = good
    _entry(data, _index(data, B.KIND_TOKENIZER), "offset", "I", 0xFFFFFFF0)
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_bounds_total_size_not_multiple_of_16(good):
    _, data = good
    _hdr(data, "total_size", "I", len(data) - 8)
    assert _code(data) == "LLM_ERR_BOUNDS"


def test_align(good):
    _, data = good
    # Grow the blob by 16 bytes and move the last tensor 4 bytes up: in bounds, unaligned.
    data += bytes(16)
    _hdr(data, "total_size", "I", len(data), fix=False)
    i = len(B.tensor_table(data)) - 1
    e = B.tensor_table(data)[i]
    payload = bytes(data[e["offset"]:e["offset"] + e["nbytes"]])
    data[e["offset"]:e["offset"] + e["nbytes"] + 4] = b"\0\0\0\0" + payload
    _entry(data, i, "offset", "I", e["offset"] + 4)
    assert _code(data) == "LLM_ERR_ALIGN"


def test_tokenizer_vocab_mismatch(tiny):
    c, w, _ = tiny
    tok = T.synthetic_tokenizer(c.vocab_size + 1, seed=3)
    assert _code(B.write_blob(c, w, tok)) == "LLM_ERR_TOKENIZER"
    tok = T.synthetic_tokenizer(c.vocab_size - 1, seed=3)
    assert _code(B.write_blob(c, w, tok)) == "LLM_ERR_TOKENIZER"


def test_tokenizer_malformed(good):
    _, data = good
    e = B.tensor_table(data)[_index(data, B.KIND_TOKENIZER)]
    # first record's length field (after max_token_length and score): longer than max
    _put(data, e["offset"] + 8, "i", 1000)
    assert _code(data) == "LLM_ERR_TOKENIZER"


# ---------------------------------------------------------------- metadata

META = {"name": "tiny ✓", "source": "tiny.bin", "source_sha256": "ab" * 32, "bos_id": "1",
        "eos_id": "2", "chat_template": "llama2", "train_ctx": "64", "recipe": "weights=f32",
        "empty": ""}


def test_metadata_round_trip_and_layout(tiny):
    c, w, tok = tiny
    data = B.write_blob(c, w, tok, metadata=META)
    got = B.read_blob(data)
    assert got.metadata == META and list(got.metadata) == list(META)
    assert got.config == c and got.tokenizer == tok
    table = B.tensor_table(data)
    assert len(table) == 9 * c.n_layers + 5 == B.parse_header(data)["n_tensors"]  # the format's limit
    e = table[-1]
    assert (e["kind"], e["layer"], e["dtype"], e["ndim"], e["group_size"]) == (B.KIND_METADATA, 0, B.DTYPE_U8, 1, 0)
    assert e["rows"] == e["nbytes"] and e["cols"] == 1 and e["offset"] % 16 == 0
    rec = data[e["offset"]:e["offset"] + e["nbytes"]]
    # u16 version 1, u16 count, then u16 key_len, u16 value_len, key, NUL, value, NUL
    assert rec[:4] == struct.pack("<HH", 1, len(META))
    assert rec[4:18] == struct.pack("<HH", 4, len("tiny ✓".encode())) + b"name\0" + "tiny ✓".encode()[:5]
    assert rec == B.encode_metadata(META) and rec.endswith(b"recipe\0weights=f32\0" + b"\5\0\0\0empty\0\0")
    # The same model without metadata: the tensors before it are unchanged.
    plain = B.write_blob(c, w, tok)
    assert B.read_blob(plain).metadata == {}
    assert B.KIND_METADATA not in {x["kind"] for x in B.tensor_table(plain)}
    assert B.write_blob(c, w, tok, metadata={}) == plain == B.write_blob(c, w, tok, metadata=None)


def test_metadata_int_values_and_untied(tiny):
    c, _, _ = tiny
    w = T.random_model(c, 3, tied=True)
    data = B.write_blob(c, w, metadata={"bos_id": 0, "eos_id": c.vocab_size - 1, "train_ctx": 2048})
    assert B.read_blob(data).metadata == {"bos_id": "0", "eos_id": str(c.vocab_size - 1), "train_ctx": "2048"}


@pytest.mark.parametrize("meta,match", [
    ({"Name": "x"}, "metadata key"),
    ({"": "x"}, "metadata key"),
    ({"k" * 65: "x"}, "metadata key"),
    ({"1a": "x"}, "metadata key"),
    ({"a-b": "x"}, "metadata key"),
    ({"name": "a\0b"}, "NUL"),
    ({"name": "x" * 65536}, "NUL or is over"),
    ({"name": b"bytes"}, "not a str"),
    ({"name": True}, "not a str"),
    ({"name": "\ud800"}, "surrogate"),
    ({f"k{i}": "v" for i in range(65)}, "65 metadata pairs"),
    ({"bos_id": "512"}, "bos_id"),
    ({"eos_id": -1}, "eos_id"),
])
def test_write_rejects_bad_metadata(tiny, meta, match):
    c, w, _ = tiny
    with pytest.raises(ValueError, match=match):
        B.write_blob(c, w, metadata=meta)


def _pair(k: bytes, v: bytes, klen=None, vlen=None, kterm=b"\0", vterm=b"\0"):
    return struct.pack("<HH", len(k) if klen is None else klen, len(v) if vlen is None else vlen) + k + kterm + v + vterm


def _rec(*pairs, version=1, count=None, tail=b""):
    return struct.pack("<HH", version, len(pairs) if count is None else count) + b"".join(pairs) + tail


@pytest.mark.parametrize("rec,code", [
    (b"\1\0\1", "LLM_ERR_META_TRUNCATED"),
    (_rec(_pair(b"a", b"b"), count=2), "LLM_ERR_META_TRUNCATED"),
    (_rec(_pair(b"a", b"b", vlen=9)), "LLM_ERR_META_TRUNCATED"),
    (_rec(_pair(b"a", b"b"), version=3), "LLM_ERR_META_VERSION"),
    (_rec(count=0), "LLM_ERR_META_COUNT"),
    (_rec(*[_pair(b"k%d" % i, b"") for i in range(65)]), "LLM_ERR_META_COUNT"),
    (_rec(_pair(b"", b"b")), "LLM_ERR_META_KEY"),
    (_rec(_pair(b"a" * 65, b"b")), "LLM_ERR_META_KEY"),
    (_rec(_pair(b"aB", b"b")), "LLM_ERR_META_KEY"),
    (_rec(_pair(b"a\xe9", b"b")), "LLM_ERR_META_KEY"),
    (_rec(_pair(b"a", b"b", kterm=b" ")), "LLM_ERR_META_TERMINATOR"),
    (_rec(_pair(b"a", b"b", vterm=b"!")), "LLM_ERR_META_TERMINATOR"),
    (_rec(_pair(b"a", b"\xc3")), "LLM_ERR_META_VALUE"),
    (_rec(_pair(b"a", b"\xe0\x80\x80")), "LLM_ERR_META_VALUE"),
    (_rec(_pair(b"a", b"x\0")), "LLM_ERR_META_VALUE"),
    (_rec(_pair(b"a", b"1"), _pair(b"b", b"2"), _pair(b"a", b"3")), "LLM_ERR_META_DUPLICATE"),
    (_rec(_pair(b"a", b"1"), tail=b"\0\0"), "LLM_ERR_META_TRAILING"),
    (_rec(_pair(b"bos_id", b"1.0")), "LLM_ERR_META_TOKEN_ID"),
    (_rec(_pair(b"eos_id", b"+2")), "LLM_ERR_META_TOKEN_ID"),
    (_rec(_pair(b"eos_id", b"64")), "LLM_ERR_META_TOKEN_ID"),
])
def test_metadata_record_errors(rec, code):
    """parse_metadata directly, on a vocabulary of 64 (the device tests run the same codes)."""
    with pytest.raises(B.BlobError) as ei:
        B.parse_metadata(rec, 64)
    assert ei.value.code == code
    assert B.parse_metadata(_rec(_pair(b"eos_id", b"63"), _pair(b"x.y_1", "é🙂".encode())), 64) == \
        {"eos_id": "63", "x.y_1": "é🙂"}


def test_metadata_entry_errors(tiny):
    c, w, tok = tiny
    good = bytearray(B.write_blob(c, w, tok, metadata=META))
    i = len(B.tensor_table(good)) - 1
    for field, fmt, value, code in [("layer", "H", 1, "LLM_ERR_TENSOR_TABLE"),
                                    ("dtype", "B", B.DTYPE_F32, "LLM_ERR_DTYPE"),
                                    ("ndim", "B", 2, "LLM_ERR_SHAPE")]:
        data = bytearray(good)
        _entry(data, i, field, fmt, value)
        assert _code(data) == code, field
    data = bytearray(good)
    _entry(data, i - 1, "kind", "H", B.KIND_METADATA)  # the tokenizer's entry: two metadata tensors
    assert _code(data) == "LLM_ERR_TENSOR_TABLE"
    data = bytearray(good)
    e = B.tensor_table(data)[i]
    data[e["offset"] + 5] = ord("N")  # first key "name" -> "Name"
    B.fix_crc(data)
    assert _code(data) == "LLM_ERR_META_KEY"


def test_every_code_has_a_corruption_test():
    """Every status read_blob can raise (found in its source) is reached by a test above."""
    import inspect
    import re
    from llmtools import tokenizer
    src = "".join(inspect.getsource(f) for f in
                  (B.read_blob, B.validate_config, B.parse_header, tokenizer.parse_tokenizer,
                   B.parse_metadata))
    raised = set(re.findall(r'"(LLM_ERR_[A-Z_]+)"', src))
    tested = set(re.findall(r'"(LLM_ERR_[A-Z_]+)"', inspect.getsource(inspect.getmodule(_code))))
    assert raised and raised <= tested
