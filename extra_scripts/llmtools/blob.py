"""Read and write llm blobs (lib/llm/BLOB_FORMAT.md, version 1).

A blob holds the hyperparameters, a tensor table, the tensors (each on a
16-byte boundary), optionally a llama2.c tokenizer and optionally a
key/value metadata record. `read_blob` validates
in the same order as the C reader and raises `BlobError` whose `.code` is the
C status name, so tests can check both readers against the same corruptions.
"""
from __future__ import annotations

import math
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"LLMB"
VERSION = 1
HEADER_SIZE = 64
ENTRY_SIZE = 32
ALIGN = 16

KIND_TOK_EMB = 1
KIND_ATTN_NORM = 2
KIND_WQ = 3
KIND_WK = 4
KIND_WV = 5
KIND_WO = 6
KIND_FFN_NORM = 7
KIND_W1 = 8
KIND_W2 = 9
KIND_W3 = 10
KIND_FINAL_NORM = 11
KIND_CLS = 12
KIND_TOKENIZER = 13
KIND_METADATA = 14

KIND_NAMES = {
    KIND_TOK_EMB: "tok_emb", KIND_ATTN_NORM: "attn_norm", KIND_WQ: "wq",
    KIND_WK: "wk", KIND_WV: "wv", KIND_WO: "wo", KIND_FFN_NORM: "ffn_norm",
    KIND_W1: "w1", KIND_W2: "w2", KIND_W3: "w3", KIND_FINAL_NORM: "final_norm",
    KIND_CLS: "cls", KIND_TOKENIZER: "tokenizer", KIND_METADATA: "metadata",
}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}
# Per-layer kinds in table order (the writer's order within a layer).
LAYER_KINDS = (KIND_ATTN_NORM, KIND_WQ, KIND_WK, KIND_WV, KIND_WO,
               KIND_FFN_NORM, KIND_W1, KIND_W2, KIND_W3)
LAYER_NAMES = tuple(KIND_NAMES[k] for k in LAYER_KINDS)
# Optional kinds stored as raw u8 bytes, without a weight shape.
RAW_KINDS = (KIND_TOKENIZER, KIND_METADATA)
# Kinds that may be stored quantized (the 2-D weights).
MATRIX_KINDS = (KIND_TOK_EMB, KIND_WQ, KIND_WK, KIND_WV, KIND_WO, KIND_W1, KIND_W2, KIND_W3, KIND_CLS)

DTYPE_F32 = 0
DTYPE_F16 = 1
DTYPE_Q8 = 2
DTYPE_Q4 = 3
DTYPE_U8 = 4
DTYPE_NAMES = {DTYPE_F32: "f32", DTYPE_F16: "f16", DTYPE_Q8: "q8",
               DTYPE_Q4: "q4", DTYPE_U8: "u8"}
# Group sizes q8/q4 tensors may use (kernels/ref/quantize.h).
GROUP_SIZES = (16, 32, 64, 128, 256)

# Defaults of the C build options in llm_config.h.
MAX_DIM = 65536
MAX_LAYERS = 32
MAX_VOCAB = 65535
MAX_SEQ_LEN = 65536
MAX_LAYERS_LIMIT = 256  # largest LLM_MAX_LAYERS a build may set

# Metadata record (BLOB_FORMAT.md "Metadata"): u16 version, u16 count, then
# per pair u16 key_len, u16 value_len, key, NUL, value, NUL.
META_VERSION = 1
META_MAX_PAIRS = 64
META_MAX_KEY = 64
META_MAX_VALUE = 0xFFFF  # bytes of UTF-8
# The keys the converters write; name, source, ... are free text, the ids and
# train_ctx decimals. Only bos_id and eos_id are read by the C library.
META_KEYS = ("name", "source", "source_sha256", "bos_id", "eos_id", "chat_template",
             "train_ctx", "recipe")
_META_KEY = re.compile(r"[a-z][a-z0-9_.]*\Z")
_TOKEN_ID = re.compile(r"(0|[1-9][0-9]{0,4})\Z")

# Header: magic, version, header_size, flags, dim, hidden_dim, n_layers,
# n_heads, n_kv_heads, vocab_size, seq_len, rope_theta, norm_eps, n_tensors,
# table_offset, total_size, crc32.
_HEADER = struct.Struct("<4sHHI7IffIIII")
# Entry: kind, layer, dtype, ndim, group_size, rows, cols, offset, nbytes, reserved.
_ENTRY = struct.Struct("<HHBBHIIII8s")
assert _HEADER.size == HEADER_SIZE and _ENTRY.size == ENTRY_SIZE

# Byte offset of each header field, for tests that corrupt one field.
HEADER_OFFSETS = {
    "magic": 0, "version": 4, "header_size": 6, "flags": 8, "dim": 12,
    "hidden_dim": 16, "n_layers": 20, "n_heads": 24, "n_kv_heads": 28,
    "vocab_size": 32, "seq_len": 36, "rope_theta": 40, "norm_eps": 44,
    "n_tensors": 48, "table_offset": 52, "total_size": 56, "crc32": 60,
}
# Byte offset of each field inside a tensor table entry.
ENTRY_OFFSETS = {
    "kind": 0, "layer": 2, "dtype": 4, "ndim": 5, "group_size": 6, "rows": 8,
    "cols": 12, "offset": 16, "nbytes": 20, "reserved": 24,
}


class BlobError(ValueError):
    """Invalid model data; `.code` is the C status name, e.g. 'LLM_ERR_CHECKSUM'."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class Config:
    """Model hyperparameters, as in llm_config."""

    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_size(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_dim(self) -> int:
        return self.n_kv_heads * self.head_size


def validate_config(c: Config, max_layers: int = MAX_LAYERS) -> None:
    """Raise BlobError('LLM_ERR_DIMS') unless c is a model the C library accepts."""
    def bad(msg):
        raise BlobError("LLM_ERR_DIMS", msg)

    for name, hi in (("dim", MAX_DIM), ("hidden_dim", MAX_DIM), ("n_layers", max_layers),
                     ("n_heads", MAX_DIM), ("n_kv_heads", MAX_DIM),
                     ("vocab_size", MAX_VOCAB), ("seq_len", MAX_SEQ_LEN)):
        v = getattr(c, name)
        if not isinstance(v, (int, np.integer)) or not 1 <= v <= hi:
            bad(f"{name} = {v} is outside 1..{hi}")
    if c.dim % c.n_heads:
        bad(f"dim {c.dim} is not divisible by n_heads {c.n_heads}")
    if c.head_size % 2:
        bad(f"head_size {c.head_size} (dim / n_heads) is odd; RoPE rotates pairs")
    if c.n_heads % c.n_kv_heads:
        bad(f"n_kv_heads {c.n_kv_heads} does not divide n_heads {c.n_heads}")
    for name in ("rope_theta", "norm_eps"):
        v = float(getattr(c, name))
        if not math.isfinite(v) or v <= 0:
            bad(f"{name} = {v} is not finite and > 0")


def tensor_shapes(c: Config) -> dict:
    """(rows, cols, ndim) of each weight kind for config c."""
    hs = c.head_size
    return {
        KIND_TOK_EMB: (c.vocab_size, c.dim, 2),
        KIND_ATTN_NORM: (c.dim, 1, 1),
        KIND_WQ: (c.n_heads * hs, c.dim, 2),
        KIND_WK: (c.n_kv_heads * hs, c.dim, 2),
        KIND_WV: (c.n_kv_heads * hs, c.dim, 2),
        KIND_WO: (c.dim, c.n_heads * hs, 2),
        KIND_FFN_NORM: (c.dim, 1, 1),
        KIND_W1: (c.hidden_dim, c.dim, 2),
        KIND_W2: (c.dim, c.hidden_dim, 2),
        KIND_W3: (c.hidden_dim, c.dim, 2),
        KIND_FINAL_NORM: (c.dim, 1, 1),
        KIND_CLS: (c.vocab_size, c.dim, 2),
    }


def _array_shape(rows: int, cols: int, ndim: int) -> tuple:
    return (rows,) if ndim == 1 else (rows, cols)


def _pad(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _f32(x: float) -> float:
    """x stored as f32 and read back as the shortest decimal (1e-5, not 9.99e-06)."""
    return float(str(np.float32(x)))


def _blob_crc(data, total: int) -> int:
    crc = zlib.crc32(bytes(data[:60]))
    crc = zlib.crc32(b"\0\0\0\0", crc)
    return zlib.crc32(bytes(data[64:total]), crc) & 0xFFFFFFFF


def check_meta_key(key) -> None:
    """Raise ValueError unless key is a metadata key the format allows."""
    if not isinstance(key, str) or not _META_KEY.match(key) or len(key) > META_MAX_KEY:
        raise ValueError(f"metadata key {key!r} is not 1..{META_MAX_KEY} characters of "
                         "[a-z][a-z0-9_.]*")


def encode_metadata(metadata: dict) -> bytes:
    """The metadata record for a dict of 1..64 pairs, in its order. Values are
    str (an int, e.g. a token id, is written as its decimal)."""
    if not 1 <= len(metadata) <= META_MAX_PAIRS:
        raise ValueError(f"{len(metadata)} metadata pairs, the format allows 1..{META_MAX_PAIRS}")
    out = [struct.pack("<HH", META_VERSION, len(metadata))]
    for key, value in metadata.items():
        check_meta_key(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"metadata {key!r}: value {value!r} is not a str")
        v = value.encode("utf-8")  # str rejects lone surrogates here
        if b"\0" in v or len(v) > META_MAX_VALUE:
            raise ValueError(f"metadata {key!r}: value holds NUL or is over {META_MAX_VALUE} bytes")
        k = key.encode("ascii")
        out += [struct.pack("<HH", len(k), len(v)), k, b"\0", v, b"\0"]
    return b"".join(out)


def parse_metadata(raw, vocab_size: int) -> dict:
    """Validate a metadata record like the C reader (same codes, same order)
    and return its pairs as a dict of str, in blob order."""
    raw = bytes(raw)
    n = len(raw)
    if n < 4:
        raise BlobError("LLM_ERR_META_TRUNCATED", f"metadata record is {n} bytes, shorter than 4")
    version, count = struct.unpack_from("<HH", raw)
    if version != META_VERSION:
        raise BlobError("LLM_ERR_META_VERSION", f"metadata version {version}, this reader "
                        f"supports {META_VERSION}")
    if not 1 <= count <= META_MAX_PAIRS:
        raise BlobError("LLM_ERR_META_COUNT", f"metadata count {count} is outside 1..{META_MAX_PAIRS}")
    out, pos = {}, 4
    for i in range(count):
        where = f"metadata pair {i}"
        if n - pos < 4:
            raise BlobError("LLM_ERR_META_TRUNCATED", f"{where}: lengths past the end of the record")
        klen, vlen = struct.unpack_from("<HH", raw, pos)
        if not 1 <= klen <= META_MAX_KEY:
            raise BlobError("LLM_ERR_META_KEY", f"{where}: key length {klen} outside 1..{META_MAX_KEY}")
        k0 = pos + 4
        v0 = k0 + klen + 1
        end = v0 + vlen + 1
        if end > n:
            raise BlobError("LLM_ERR_META_TRUNCATED", f"{where}: key or value past the end of the record")
        if raw[k0 + klen] != 0 or raw[v0 + vlen] != 0:
            raise BlobError("LLM_ERR_META_TERMINATOR", f"{where}: key or value not followed by NUL")
        kb, vb = raw[k0:k0 + klen], raw[v0:v0 + vlen]
        key = kb.decode("latin-1")
        if not _META_KEY.match(key):
            raise BlobError("LLM_ERR_META_KEY", f"{where}: key {kb!r} is not [a-z][a-z0-9_.]*")
        try:
            if b"\0" in vb:
                raise UnicodeError("NUL")
            value = vb.decode("utf-8")
        except UnicodeError:
            raise BlobError("LLM_ERR_META_VALUE", f"{where} ({key}): value is not UTF-8 "
                            "or holds NUL") from None
        if key in out:
            raise BlobError("LLM_ERR_META_DUPLICATE", f"{where}: key {key!r} appears twice")
        out[key] = value
        pos = end
    if pos != n:
        raise BlobError("LLM_ERR_META_TRAILING", f"metadata pairs end at byte {pos} of {n}")
    for key in ("bos_id", "eos_id"):
        v = out.get(key)
        if v is not None and not (_TOKEN_ID.match(v) and int(v) < vocab_size):
            raise BlobError("LLM_ERR_META_TOKEN_ID", f"metadata {key} {v!r} is not a decimal "
                            f"below vocab_size {vocab_size}")
    return out


class BlobContents(tuple):
    """read_blob's result: unpacks as (config, weights, tokenizer) and also
    has .metadata, the metadata pairs ({} when the blob has none)."""

    def __new__(cls, config, weights, tokenizer, metadata):
        self = super().__new__(cls, (config, weights, tokenizer))
        self.metadata = metadata
        return self

    config = property(lambda self: self[0])
    weights = property(lambda self: self[1])
    tokenizer = property(lambda self: self[2])


def write_blob(config: Config, weights: dict, tokenizer: bytes | None = None,
               progress=None, metadata: dict | None = None) -> bytes:
    """Serialize a model (and optionally tokenizer.bin bytes) as a blob.

    weights: 'tok_emb', 'final_norm', optional 'cls' (absent = tied) and lists of
    n_layers arrays for the per-layer names. Arrays are written as f32; a
    llmtools.quant.QTensor value (matrices only) is written as q8/q4 with its
    group size. progress, if given, is called with the byte count of each
    tensor as it is written. metadata: str keys and values (META_KEYS are the
    known ones; an int value is written as its decimal), stored as the
    metadata record; None or {} writes none.
    """
    validate_config(config, max_layers=MAX_LAYERS_LIMIT)
    shapes = tensor_shapes(config)
    items = [(KIND_TOK_EMB, 0, weights["tok_emb"])]
    for name in LAYER_NAMES:
        if len(weights[name]) != config.n_layers:
            raise ValueError(f"weights[{name!r}] has {len(weights[name])} layers, "
                             f"config says {config.n_layers}")
    for layer in range(config.n_layers):
        for kind in LAYER_KINDS:
            items.append((kind, layer, weights[KIND_NAMES[kind]][layer]))
    items.append((KIND_FINAL_NORM, 0, weights["final_norm"]))
    if weights.get("cls") is not None:
        items.append((KIND_CLS, 0, weights["cls"]))

    from .quant import QTensor  # late: quant imports this module

    entries = []  # (kind, layer, dtype, ndim, group_size, rows, cols, payload bytes)
    for kind, layer, arr in items:
        rows, cols, ndim = shapes[kind]
        if isinstance(arr, QTensor):
            if ndim != 2 or arr.shape != (rows, cols):
                raise ValueError(f"{KIND_NAMES[kind]} layer {layer} is a quantized {arr.shape}, "
                                 f"expected a ({rows}, {cols}) matrix")
            entries.append((kind, layer, arr.dtype, ndim, arr.group_size, rows, cols, arr.payload()))
            continue
        a = np.asarray(arr)
        if a.shape != _array_shape(rows, cols, ndim):
            raise ValueError(f"{KIND_NAMES[kind]} layer {layer} has shape {a.shape}, "
                             f"expected {_array_shape(rows, cols, ndim)}")
        entries.append((kind, layer, DTYPE_F32, ndim, 0, rows, cols,
                        np.ascontiguousarray(a, dtype="<f4").tobytes()))
    if tokenizer is not None:
        tok = bytes(tokenizer)
        entries.append((KIND_TOKENIZER, 0, DTYPE_U8, 1, 0, len(tok), 1, tok))
    if metadata:
        rec = encode_metadata(metadata)
        parse_metadata(rec, config.vocab_size)  # e.g. a bos_id past the vocabulary
        entries.append((KIND_METADATA, 0, DTYPE_U8, 1, 0, len(rec), 1, rec))

    table_end = HEADER_SIZE + ENTRY_SIZE * len(entries)
    offsets, pos = [], _pad(table_end)
    for e in entries:
        offsets.append(pos)
        pos = _pad(pos + len(e[7]))
    total = pos
    if total > 0xFFFFFFFF:
        raise ValueError(f"blob would be {total} bytes; the format's offsets are 32-bit")

    buf = bytearray(total)
    for i, ((kind, layer, dtype, ndim, gs, rows, cols, payload), off) in enumerate(zip(entries, offsets)):
        _ENTRY.pack_into(buf, HEADER_SIZE + i * ENTRY_SIZE, kind, layer, dtype, ndim, gs,
                         rows, cols, off, len(payload), b"\0" * 8)
        buf[off:off + len(payload)] = payload
        if progress is not None:
            progress(len(payload))
    c = config
    _HEADER.pack_into(buf, 0, MAGIC, VERSION, HEADER_SIZE, 0, c.dim, c.hidden_dim,
                      c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len,
                      c.rope_theta, c.norm_eps, len(entries), HEADER_SIZE, total, 0)
    struct.pack_into("<I", buf, 60, _blob_crc(buf, total))
    return bytes(buf)


def parse_header(data) -> dict:
    """The 64-byte header's fields, unvalidated (data must hold 64 bytes)."""
    if len(data) < HEADER_SIZE:
        raise BlobError("LLM_ERR_TRUNCATED", f"{len(data)} bytes, a blob header needs {HEADER_SIZE}")
    f = _HEADER.unpack_from(bytes(data[:HEADER_SIZE]))
    names = ("magic", "version", "header_size", "flags", "dim", "hidden_dim", "n_layers",
             "n_heads", "n_kv_heads", "vocab_size", "seq_len", "rope_theta", "norm_eps",
             "n_tensors", "table_offset", "total_size", "crc32")
    return dict(zip(names, f))


def tensor_table(data) -> list:
    """Raw tensor table entries as dicts (kind, layer, dtype, ndim, group_size,
    rows, cols, offset, nbytes, reserved, entry_offset); entries past the end
    of data are left out. Nothing is validated."""
    h = parse_header(data)
    out = []
    for i in range(h["n_tensors"]):
        eo = h["table_offset"] + i * ENTRY_SIZE
        if eo + ENTRY_SIZE > len(data):
            break
        kind, layer, dtype, ndim, gs, rows, cols, off, nb, res = _ENTRY.unpack_from(bytes(data[eo:eo + ENTRY_SIZE]))
        out.append(dict(kind=kind, layer=layer, dtype=dtype, ndim=ndim, group_size=gs,
                        rows=rows, cols=cols, offset=off, nbytes=nb, reserved=res,
                        entry_offset=eo))
    return out


def stored_crc(data) -> int:
    return struct.unpack_from("<I", bytes(data[60:64]))[0]


def computed_crc(data) -> int:
    """CRC-32 the header should hold (over min(total_size, len(data)) bytes)."""
    total = min(parse_header(data)["total_size"], len(data))
    return _blob_crc(data, total)


def fix_crc(data: bytearray) -> None:
    """Recompute the header's CRC-32 in place (after a test corrupts a field)."""
    struct.pack_into("<I", data, 60, computed_crc(data))


def read_blob(data, verify_checksum: bool = True, max_layers: int = MAX_LAYERS) -> BlobContents:
    """Validate a blob like the C reader and return (Config, weights, tokenizer bytes or None)
    as a BlobContents, whose .metadata holds the metadata pairs ({} when none).

    f32 tensors come back as float32 arrays, q8/q4 ones as llmtools.quant.QTensor.

    data may be longer than the blob (a flash partition's tail is ignored).
    Raises BlobError; checks run in the order listed in BLOB_FORMAT.md.
    """
    data = bytes(data)
    h = parse_header(data)
    if h["magic"] != MAGIC:
        raise BlobError("LLM_ERR_MAGIC", f"magic is {h['magic']!r}, expected {MAGIC!r}")
    if h["version"] != VERSION or h["header_size"] != HEADER_SIZE:
        raise BlobError("LLM_ERR_VERSION", f"version {h['version']} header_size {h['header_size']}; "
                        f"this reader supports version {VERSION} with a {HEADER_SIZE}-byte header")
    if h["flags"] != 0:
        raise BlobError("LLM_ERR_VERSION", f"flags 0x{h['flags']:x} set; version 1 defines none")
    total = h["total_size"]
    if len(data) < total:
        raise BlobError("LLM_ERR_TRUNCATED", f"{len(data)} bytes, header says total_size {total}")
    if total % ALIGN or total < HEADER_SIZE:
        raise BlobError("LLM_ERR_BOUNDS", f"total_size {total} is not a multiple of {ALIGN} "
                        f"of at least {HEADER_SIZE}")
    if verify_checksum:
        want, got = h["crc32"], _blob_crc(data, total)
        if want != got:
            raise BlobError("LLM_ERR_CHECKSUM", f"header CRC-32 0x{want:08x}, data 0x{got:08x}")

    config = Config(h["dim"], h["hidden_dim"], h["n_layers"], h["n_heads"], h["n_kv_heads"],
                    h["vocab_size"], h["seq_len"], _f32(h["rope_theta"]), _f32(h["norm_eps"]))
    validate_config(config, max_layers)
    n = h["n_tensors"]
    if not 1 <= n <= 9 * config.n_layers + 5:
        raise BlobError("LLM_ERR_TENSOR_TABLE", f"n_tensors {n} is outside 1..{9 * config.n_layers + 5}")
    if h["table_offset"] != HEADER_SIZE:
        raise BlobError("LLM_ERR_TENSOR_TABLE", f"table_offset {h['table_offset']}, expected {HEADER_SIZE}")
    table_end = HEADER_SIZE + n * ENTRY_SIZE
    if table_end > total:
        raise BlobError("LLM_ERR_BOUNDS", f"tensor table ends at {table_end}, past total_size {total}")

    shapes = tensor_shapes(config)
    seen = {}
    spans = []
    for e in tensor_table(data[:total]):
        kind, layer, where = e["kind"], e["layer"], f"entry at {e['entry_offset']}"
        # LLM_ERR_TENSOR_TABLE: kind, layer, duplicates, reserved bytes
        if kind not in KIND_NAMES:
            raise BlobError("LLM_ERR_TENSOR_TABLE", f"{where}: unknown kind {kind}")
        name = KIND_NAMES[kind]
        lim = config.n_layers if kind in LAYER_KINDS else 1
        if layer >= lim:
            raise BlobError("LLM_ERR_TENSOR_TABLE", f"{where}: {name} layer {layer} not in 0..{lim - 1}")
        if (kind, layer) in seen:
            raise BlobError("LLM_ERR_TENSOR_TABLE", f"{where}: duplicate {name} layer {layer}")
        if e["reserved"] != b"\0" * 8:
            raise BlobError("LLM_ERR_TENSOR_TABLE", f"{where}: reserved bytes not zero")
        # LLM_ERR_DTYPE: the tokenizer and metadata are u8; weights f32,
        # matrices also q8/q4 with an allowed group size (only quantized
        # dtypes have groups)
        is_quant = e["dtype"] in (DTYPE_Q8, DTYPE_Q4)
        if kind in RAW_KINDS:
            allowed = (DTYPE_U8,)
        elif kind in MATRIX_KINDS:
            allowed = (DTYPE_F32, DTYPE_Q8, DTYPE_Q4)
        else:
            allowed = (DTYPE_F32,)
        if e["dtype"] not in allowed:
            dn = DTYPE_NAMES.get(e["dtype"], str(e["dtype"]))
            raise BlobError("LLM_ERR_DTYPE", f"{where}: {name} has dtype {dn}, this reader "
                            f"supports {'/'.join(DTYPE_NAMES[d] for d in allowed)} for it")
        if is_quant and e["group_size"] not in GROUP_SIZES:
            raise BlobError("LLM_ERR_DTYPE", f"{where}: {name} group_size {e['group_size']} "
                            f"is not one of {GROUP_SIZES}")
        if not is_quant and e["group_size"] != 0:
            raise BlobError("LLM_ERR_DTYPE", f"{where}: {name} group_size {e['group_size']} "
                            f"on an unquantized dtype")
        # LLM_ERR_SHAPE: ndim, shape, nbytes
        if kind in RAW_KINDS:
            rows, cols, ndim = e["rows"], 1, 1
            want_nbytes = e["rows"]
        else:
            rows, cols, ndim = shapes[kind]
            want_nbytes = 4 * rows * cols
            if is_quant:
                from .quant import tensor_nbytes
                want_nbytes = tensor_nbytes(e["dtype"], rows, cols, e["group_size"])
        if (e["ndim"], e["rows"], e["cols"]) != (ndim, rows, cols):
            raise BlobError("LLM_ERR_SHAPE", f"{where}: {name} layer {layer} is ndim {e['ndim']} "
                            f"({e['rows']}, {e['cols']}), expected ndim {ndim} ({rows}, {cols})")
        if e["nbytes"] != want_nbytes:
            raise BlobError("LLM_ERR_SHAPE", f"{where}: {name} nbytes {e['nbytes']}, expected {want_nbytes}")
        # LLM_ERR_BOUNDS: inside the blob, after the table, no overlap
        off, end = e["offset"], e["offset"] + e["nbytes"]
        if off < table_end or end > total or end > 0xFFFFFFFF:
            raise BlobError("LLM_ERR_BOUNDS", f"{where}: {name} bytes {off}..{end} outside "
                            f"{table_end}..{total}")
        for o, en, other in spans:
            if off < en and o < end:
                raise BlobError("LLM_ERR_BOUNDS", f"{where}: {name} bytes {off}..{end} overlap {other}")
        if off % ALIGN:
            raise BlobError("LLM_ERR_ALIGN", f"{where}: {name} offset {off} not {ALIGN}-byte aligned")
        spans.append((off, end, name))
        seen[(kind, layer)] = e

    for kind in KIND_NAMES:
        if kind == KIND_CLS or kind in RAW_KINDS:
            continue
        for layer in range(config.n_layers if kind in LAYER_KINDS else 1):
            if (kind, layer) not in seen:
                raise BlobError("LLM_ERR_TENSOR_TABLE", f"missing {KIND_NAMES[kind]} layer {layer}")

    # LLM_ERR_BOUNDS: the gaps between tensors are the format's zero padding
    pos = table_end
    for o, en, name in sorted(spans) + [(total, total, "end")]:
        if any(data[pos:o]):
            raise BlobError("LLM_ERR_BOUNDS", f"non-zero padding in bytes {pos}..{o} before {name}")
        pos = max(pos, en)

    def arr(kind, layer=0):
        e = seen[(kind, layer)]
        rows, cols, ndim = shapes[kind]
        if e["dtype"] in (DTYPE_Q8, DTYPE_Q4):
            from .quant import QTensor
            return QTensor.from_payload(e["dtype"], e["group_size"], rows, cols,
                                        data[e["offset"]:e["offset"] + e["nbytes"]])
        a = np.frombuffer(data, dtype="<f4", count=rows * cols, offset=e["offset"])
        return a.reshape(_array_shape(rows, cols, ndim)).astype(np.float32)

    tokenizer = None
    if (KIND_TOKENIZER, 0) in seen:
        e = seen[(KIND_TOKENIZER, 0)]
        tokenizer = data[e["offset"]:e["offset"] + e["nbytes"]]
        from .tokenizer import parse_tokenizer  # late: tokenizer imports BlobError
        parse_tokenizer(tokenizer, config.vocab_size)
    metadata = {}
    if (KIND_METADATA, 0) in seen:
        e = seen[(KIND_METADATA, 0)]
        metadata = parse_metadata(data[e["offset"]:e["offset"] + e["nbytes"]], config.vocab_size)

    weights = {"tok_emb": arr(KIND_TOK_EMB), "final_norm": arr(KIND_FINAL_NORM)}
    for kind in LAYER_KINDS:
        weights[KIND_NAMES[kind]] = [arr(kind, layer) for layer in range(config.n_layers)]
    if (KIND_CLS, 0) in seen:
        weights["cls"] = arr(KIND_CLS)
    return BlobContents(config, weights, tokenizer, metadata)
