"""Hugging Face Llama folders (config.json + safetensors) -> (Config, weights).

Reads `LlamaForCausalLM` checkpoints without torch: safetensors files are
parsed here (an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the raw little-endian data), in
one file or sharded with `model.safetensors.index.json`. F32, F16 and BF16
tensors are read and widened to float32.

Query and key rows are permuted back to llama2.c's layout. Both apply RoPE to
pairs of a head's dimensions with frequency theta^(-2j/head_size):
llama2.c pairs rows (2j, 2j+1) of each head, Hugging Face's rotate-half pairs
rows (j, j + head_size/2). So interleaved row 2j is HF row j and row 2j+1 is
HF row j + head_size/2, head by head; values and outputs are not rotated and
keep their order. Scores q.k are sums over the pairs, so renaming the pairs
consistently in q and k leaves the attention unchanged.

Anything this library cannot run the same way raises HfError with one line
naming what is unsupported.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from .blob import MAX_LAYERS_LIMIT, BlobError, Config, LAYER_NAMES, validate_config


class HfError(Exception):
    """A Hugging Face folder this converter cannot use (exit status 2)."""


# safetensors dtype -> (numpy dtype of the stored words, bytes per element)
_ST_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2)}
_ST_MAX_HEADER = 100 << 20

# llama2.c weight name -> Hugging Face tensor name (per layer: {i})
_LAYER_MAP = {
    "attn_norm": "model.layers.{i}.input_layernorm.weight",
    "wq": "model.layers.{i}.self_attn.q_proj.weight",
    "wk": "model.layers.{i}.self_attn.k_proj.weight",
    "wv": "model.layers.{i}.self_attn.v_proj.weight",
    "wo": "model.layers.{i}.self_attn.o_proj.weight",
    "ffn_norm": "model.layers.{i}.post_attention_layernorm.weight",
    "w1": "model.layers.{i}.mlp.gate_proj.weight",   # silu(w1 x) * (w3 x)
    "w2": "model.layers.{i}.mlp.down_proj.weight",
    "w3": "model.layers.{i}.mlp.up_proj.weight",
}
assert set(_LAYER_MAP) == set(LAYER_NAMES)
EMBED = "model.embed_tokens.weight"
NORM = "model.norm.weight"
LM_HEAD = "lm_head.weight"
# Buffers some exporters save beside the weights; recomputed by the library.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


def is_hf_folder(path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "config.json").is_file()


# ------------------------------------------------------------------ safetensors

class SafetensorsFile:
    """One .safetensors file: tensor names, dtypes, shapes; read() widens to f32."""

    def __init__(self, path):
        self.path = Path(path)
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise HfError(f"{self.path.name}: {size} bytes, not a safetensors file")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, _ST_MAX_HEADER):
                raise HfError(f"{self.path.name}: header length {n} does not fit the "
                              f"{size}-byte file: not a safetensors file")
            try:
                header = json.loads(f.read(n).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise HfError(f"{self.path.name}: unreadable safetensors header ({e})") from None
        if not isinstance(header, dict):
            raise HfError(f"{self.path.name}: safetensors header is not a JSON object")
        header.pop("__metadata__", None)
        self.data_start = 8 + n
        self.tensors = {}
        for name, info in header.items():
            try:
                dtype, shape, (lo, hi) = info["dtype"], list(info["shape"]), info["data_offsets"]
            except (KeyError, TypeError, ValueError):
                raise HfError(f"{self.path.name}: tensor {name} has a malformed header entry") from None
            if dtype not in _ST_DTYPES:
                raise HfError(f"{self.path.name}: tensor {name} is {dtype}; supported: "
                              f"{', '.join(_ST_DTYPES)}")
            nbytes = _ST_DTYPES[dtype][1] * math.prod(shape)
            if not (0 <= lo <= hi and hi - lo == nbytes and self.data_start + hi <= size):
                raise HfError(f"{self.path.name}: tensor {name} bytes {lo}..{hi} do not hold "
                              f"{dtype} {shape} inside the file")
            self.tensors[name] = (dtype, tuple(shape), lo)

    def read(self, name: str) -> np.ndarray:
        dtype, shape, lo = self.tensors[name]
        np_dtype, size = _ST_DTYPES[dtype]
        count = math.prod(shape)
        with open(self.path, "rb") as f:
            f.seek(self.data_start + lo)
            a = np.frombuffer(f.read(count * size), dtype=np_dtype, count=count)
        if dtype == "BF16":  # the high half of an f32
            a = (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32).reshape(shape)


class Checkpoint:
    """The tensors of a folder: model.safetensors, or the shards its index names."""

    def __init__(self, folder):
        folder = Path(folder)
        index = folder / "model.safetensors.index.json"
        single = folder / "model.safetensors"
        self.where = {}  # tensor name -> SafetensorsFile
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
                files = sorted(set(weight_map.values()))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise HfError(f"{index.name}: no weight_map object") from None
            shards = {}
            for fname in files:
                p = folder / fname
                if not p.is_file():
                    raise HfError(f"{index.name} names {fname}, which is not in {folder}")
                shards[fname] = SafetensorsFile(p)
            for name, fname in weight_map.items():
                if name not in shards[fname].tensors:
                    raise HfError(f"{index.name} puts {name} in {fname}, which does not hold it")
                self.where[name] = shards[fname]
        elif single.is_file():
            f = SafetensorsFile(single)
            self.where = {name: f for name in f.tensors}
        else:
            bins = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pth"))
            hint = f" ({bins[0]} is a torch pickle: re-save it with safetensors)" if bins else ""
            raise HfError(f"no model.safetensors or model.safetensors.index.json in {folder}{hint}")

    def names(self):
        return self.where.keys()

    def shape(self, name: str) -> tuple:
        return self.where[name].tensors[name][1]

    def read(self, name: str) -> np.ndarray:
        return self.where[name].read(name)


# ------------------------------------------------------------------ config

def read_config_json(folder) -> dict:
    p = Path(folder) / "config.json"
    try:
        cfg = json.loads(p.read_text())
    except FileNotFoundError:
        raise HfError(f"no config.json in {folder}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise HfError(f"config.json: not JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise HfError("config.json: not a JSON object")
    return cfg


def _rope_theta(cfg: dict) -> float:
    """rope_theta from config.json; rope scaling of any kind is refused."""
    scaling = cfg.get("rope_scaling")
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type")) if isinstance(scaling, dict) else scaling
        raise HfError(f"unsupported: rope_scaling {kind!r} (only plain RoPE)")
    params = cfg.get("rope_parameters")  # transformers 5 keeps rope_theta here
    theta = cfg.get("rope_theta")
    if isinstance(params, dict):
        kind = params.get("rope_type", "default")
        if kind != "default":
            raise HfError(f"unsupported: rope_parameters rope_type {kind!r} (only plain RoPE)")
        extra = sorted(set(params) - {"rope_type", "rope_theta"})
        if extra:
            raise HfError(f"unsupported: rope_parameters {', '.join(extra)} (only plain RoPE)")
        theta = params.get("rope_theta", theta)
    elif params is not None:
        raise HfError("config.json: rope_parameters is not an object")
    return 10000.0 if theta is None else theta


def _int(cfg: dict, key: str, default=None) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise HfError(f"config.json: {key} is {v!r}, expected an integer")
    return v


def parse_config(cfg: dict) -> tuple[Config, dict]:
    """(Config, facts) from a config.json dict; facts: tie_word_embeddings,
    bos_token_id, eos_token_id. Raises HfError on anything unsupported."""
    mt = cfg.get("model_type")
    archs = cfg.get("architectures") or []
    if mt != "llama":
        raise HfError(f"unsupported architecture: model_type {mt!r} (only llama, LlamaForCausalLM)")
    if archs and list(archs) != ["LlamaForCausalLM"]:
        raise HfError(f"unsupported architecture: {', '.join(map(str, archs))} (only LlamaForCausalLM)")
    act = cfg.get("hidden_act", "silu")
    if act != "silu":
        raise HfError(f"unsupported: hidden_act {act!r} (only silu)")
    for key in ("attention_bias", "mlp_bias"):
        if cfg.get(key):
            raise HfError(f"unsupported: {key} true (the library has no bias terms)")
    dim = _int(cfg, "hidden_size")
    n_heads = _int(cfg, "num_attention_heads")
    n_kv = n_heads if cfg.get("num_key_value_heads") is None else _int(cfg, "num_key_value_heads")
    if n_heads <= 0 or dim % n_heads:
        raise HfError(f"config.json: hidden_size {dim} is not a multiple of num_attention_heads {n_heads}")
    head_dim = cfg.get("head_dim")
    if head_dim is not None and head_dim != dim // n_heads:
        raise HfError(f"unsupported: head_dim {head_dim} != hidden_size / num_attention_heads "
                      f"({dim // n_heads})")
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = _rope_theta(cfg)
    for key, v in (("rms_norm_eps", eps), ("rope_theta", theta)):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise HfError(f"config.json: {key} is {v!r}, expected a number")
    c = Config(dim=dim, hidden_dim=_int(cfg, "intermediate_size"),
               n_layers=_int(cfg, "num_hidden_layers"), n_heads=n_heads, n_kv_heads=n_kv,
               vocab_size=_int(cfg, "vocab_size"), seq_len=_int(cfg, "max_position_embeddings"),
               rope_theta=float(theta), norm_eps=float(eps))
    try:
        validate_config(c, max_layers=MAX_LAYERS_LIMIT)
    except BlobError as e:
        raise HfError(f"unsupported: {e.message}") from None
    facts = {"tie_word_embeddings": bool(cfg.get("tie_word_embeddings", False)),
             "bos_token_id": cfg.get("bos_token_id"), "eos_token_id": cfg.get("eos_token_id")}
    return c, facts


# ------------------------------------------------------------------ weights

def unpermute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """HF rotate-half row order -> llama2.c interleaved, per head.

    w: (n_heads * head_size, cols). Row j + half * head_size/2 of a head
    (half 0 or 1, j < head_size/2) moves to row 2j + half.
    """
    rows, cols = w.shape
    hs = rows // n_heads
    return np.ascontiguousarray(w.reshape(n_heads, 2, hs // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols))


def permute_rope_rows(w: np.ndarray, n_heads: int) -> np.ndarray:
    """The inverse of unpermute_rope_rows: llama2.c interleaved -> HF rotate-half."""
    rows, cols = w.shape
    hs = rows // n_heads
    return np.ascontiguousarray(w.reshape(n_heads, hs // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols))


def read_weights(ck: Checkpoint, c: Config, tie_word_embeddings: bool) -> dict:
    """The llama2.c weights dict (blob.write_blob's input) of a checkpoint.

    Tied when config says tie_word_embeddings or lm_head.weight is absent.
    Unknown tensors (biases, other modules) are refused.
    """
    hs = c.head_size
    want = {EMBED: (c.vocab_size, c.dim), NORM: (c.dim,)}
    shapes = {"attn_norm": (c.dim,), "wq": (c.n_heads * hs, c.dim), "wk": (c.kv_dim, c.dim),
              "wv": (c.kv_dim, c.dim), "wo": (c.dim, c.n_heads * hs), "ffn_norm": (c.dim,),
              "w1": (c.hidden_dim, c.dim), "w2": (c.dim, c.hidden_dim), "w3": (c.hidden_dim, c.dim)}
    for i in range(c.n_layers):
        for k, tmpl in _LAYER_MAP.items():
            want[tmpl.format(i=i)] = shapes[k]
    names = set(ck.names())
    tied = tie_word_embeddings or LM_HEAD not in names
    if LM_HEAD in names:
        want[LM_HEAD] = (c.vocab_size, c.dim)
    for name in sorted(names):
        if name in want or name.endswith(_IGNORED_SUFFIXES):
            continue
        what = "bias terms are" if name.endswith(".bias") else "it is"
        raise HfError(f"unsupported: tensor {name} ({what} not part of the Llama architecture "
                      "this library runs)")
    for name, shape in want.items():
        if name not in names:
            raise HfError(f"tensor {name} is missing from the checkpoint")
        if tuple(ck.shape(name)) != shape:
            raise HfError(f"tensor {name} has shape {list(ck.shape(name))}, config.json implies {list(shape)}")
    w = {"tok_emb": ck.read(EMBED), "final_norm": ck.read(NORM)}
    for k, tmpl in _LAYER_MAP.items():
        w[k] = []
        for i in range(c.n_layers):
            a = ck.read(tmpl.format(i=i))
            if k == "wq":
                a = unpermute_rope_rows(a, c.n_heads)
            elif k == "wk":
                a = unpermute_rope_rows(a, c.n_kv_heads)
            w[k].append(a)
    if not tied:
        w["cls"] = ck.read(LM_HEAD)
    return w


def source_sha256(folder) -> str:
    """SHA-256 of the checkpoint: of model.safetensors, or for a sharded one
    of the lines '<sha256>  <shard name>' of its shards in name order."""
    from .download import sha256_file
    folder = Path(folder)
    if (folder / "model.safetensors.index.json").is_file():
        weight_map = json.loads((folder / "model.safetensors.index.json").read_text())["weight_map"]
        lines = "".join(f"{sha256_file(folder / n)}  {n}\n" for n in sorted(set(weight_map.values())))
        import hashlib
        return hashlib.sha256(lines.encode()).hexdigest()
    return sha256_file(folder / "model.safetensors")


def read_folder(folder) -> tuple[Config, dict, dict]:
    """(Config, weights, facts) of a Hugging Face Llama folder."""
    c, facts = parse_config(read_config_json(folder))
    ck = Checkpoint(folder)
    w = read_weights(ck, c, facts["tie_word_embeddings"])
    facts["tied"] = "cls" not in w
    return c, w, facts
