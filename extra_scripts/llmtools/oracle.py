"""Float32 NumPy reference of the forward pass and of llama2.c's generate loop.

Mirrors llama2.c run.c's forward(): RMSNorm, RoPE on pairs (freq =
1/theta^(2j/head_size), angle float32(pos * freq)), grouped-query attention,
SwiGLU feed-forward, tied or separate classifier. Vectorized over heads, so a
token costs a few dozen NumPy calls.

Quantized weights (llmtools.quant.QTensor values in the weights dict) are
used exactly as the C library uses them: each mat-vec quantizes its input
per group and sums int32 group products (bit-identical to the C kernels), and
an embedding row is dequantized. kv_type 'f16' or 'q8' stores keys and
values as the C cache does (IEEE half; int8 with a bf16 scale per head and
position) and attends over the stored values; with 'q8' the query is
quantized the same way first, as the C kernel's integer scores need.
"""
from __future__ import annotations

import numpy as np

from . import quant
from .blob import Config
from .tokenizer import BOS, EOS

_F = np.float32


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """w * x / sqrt(mean(x^2) + eps), in float32."""
    ss = _F(np.dot(x, x)) / _F(x.shape[0]) + _F(eps)
    return w * (_F(1.0) / _F(np.sqrt(ss)) * x)


def _mv(w, x: np.ndarray) -> np.ndarray:
    """w @ x for a float32 matrix or a QTensor (the C library's int8 path)."""
    if isinstance(w, quant.QTensor):
        return quant.matvec(w, x)
    return w @ x


class Model:
    """A model with its own KV cache; feed positions 0, 1, 2, ... in order.

    kv_type: 'f32', 'f16' or 'q8' (llm_params.kv_type). record: a dict that,
    when given, collects every mat-vec input: (layer, 'attn' | 'heads' |
    'ffn' | 'hidden') and ('cls',) -> list of float32 vectors (calibration).
    """

    def __init__(self, config: Config, weights: dict, kv_type: str = "f32", record: dict | None = None):
        c = self.config = config
        self.w = weights
        if kv_type not in ("f32", "f16", "q8"):
            raise ValueError(f"kv_type must be f32, f16 or q8, not {kv_type!r}")
        self.kv_type = kv_type
        self.record = record

        def f32(a):
            return a if isinstance(a, quant.QTensor) else np.ascontiguousarray(a, dtype=np.float32)

        self.tok_emb = f32(weights["tok_emb"])                     # (vocab, dim)
        cls = weights.get("cls")
        self.cls = self.tok_emb if cls is None else f32(cls)       # (vocab, dim)
        self.final_norm = f32(weights["final_norm"])               # (dim,)
        self.layers = [{k: f32(weights[k][l]) for k in
                        ("attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3")}
                       for l in range(c.n_layers)]
        hs = c.head_size
        # freq_j = 1 / theta^(2j/hs), rounded to float32 like run.c's powf.
        j2 = np.arange(0, hs, 2, dtype=np.float32) / _F(hs)
        self.rope_freq = (1.0 / np.power(np.float64(c.rope_theta), j2.astype(np.float64))).astype(np.float32)
        self.scale = _F(1.0) / _F(np.sqrt(_F(hs)))
        self.reset()

    def reset(self) -> None:
        """Empty the KV cache; the next forward must be at position 0."""
        c = self.config
        shape = (c.n_layers, c.seq_len, c.n_kv_heads, c.head_size)
        self.key_cache = np.zeros(shape, dtype=np.float32)    # (n_layers, seq_len, n_kv_heads, hs)
        self.value_cache = np.zeros(shape, dtype=np.float32)  # (n_layers, seq_len, n_kv_heads, hs)
        self.next_pos = 0

    def _rope(self, v: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """Rotate pairs of each head; v is (heads, hs)."""
        v0, v1 = v[:, 0::2], v[:, 1::2]
        out = np.empty_like(v)
        out[:, 0::2] = v0 * cos - v1 * sin
        out[:, 1::2] = v0 * sin + v1 * cos
        return out

    def forward(self, token: int, pos: int) -> np.ndarray:
        """Logits (vocab_size,) float32 after token at position pos."""
        c = self.config
        if pos != self.next_pos:
            raise ValueError(f"position {pos} fed, expected {self.next_pos} (call reset() to restart)")
        if not 0 <= pos < c.seq_len:
            raise ValueError(f"position {pos} outside the context 0..{c.seq_len - 1}")
        if not 0 <= token < c.vocab_size:
            raise ValueError(f"token {token} outside 0..{c.vocab_size - 1}")
        hs, nh, nkv = c.head_size, c.n_heads, c.n_kv_heads
        kv_mul = nh // nkv
        angle = _F(pos) * self.rope_freq
        cos = np.cos(angle.astype(np.float64)).astype(np.float32)  # (hs/2,)
        sin = np.sin(angle.astype(np.float64)).astype(np.float32)  # (hs/2,)
        if isinstance(self.tok_emb, quant.QTensor):
            x = self.tok_emb.row(token)  # (dim,)
        else:
            x = self.tok_emb[token].copy()  # (dim,)
        rec = self.record
        for l, L in enumerate(self.layers):
            xb = rmsnorm(x, L["attn_norm"], c.norm_eps)
            if rec is not None:
                rec.setdefault((l, "attn"), []).append(xb)
            q = self._rope(_mv(L["wq"], xb).reshape(nh, hs), cos, sin)
            k = self._rope(_mv(L["wk"], xb).reshape(nkv, hs), cos, sin)
            self.key_cache[l, pos] = self._stored(k)
            self.value_cache[l, pos] = self._stored(_mv(L["wv"], xb).reshape(nkv, hs))
            keys = self.key_cache[l, :pos + 1]    # (T, nkv, hs)
            vals = self.value_cache[l, :pos + 1]  # (T, nkv, hs)
            if self.kv_type == "q8":  # an int8 cache meets a query quantized like it
                q = self._stored(q)
            qg = q.reshape(nkv, kv_mul, hs)       # query head h uses kv head h // kv_mul
            att = np.einsum("gmd,tgd->gmt", qg, keys) * self.scale  # (nkv, kv_mul, T)
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            heads = np.einsum("gmt,tgd->gmd", att, vals).reshape(nh * hs)
            x = x + _mv(L["wo"], heads)
            xb = rmsnorm(x, L["ffn_norm"], c.norm_eps)
            h1 = _mv(L["w1"], xb)
            h3 = _mv(L["w3"], xb)
            h = h1 * (_F(1.0) / (_F(1.0) + np.exp(-h1))) * h3
            x = x + _mv(L["w2"], h)
            if rec is not None:
                rec.setdefault((l, "heads"), []).append(heads)
                rec.setdefault((l, "ffn"), []).append(xb)
                rec.setdefault((l, "hidden"), []).append(h)
        x = rmsnorm(x, self.final_norm, c.norm_eps)
        if rec is not None:
            rec.setdefault(("cls",), []).append(x)
        self.next_pos = pos + 1
        return _mv(self.cls, x)

    def shift(self, n_keep: int, n_discard: int) -> None:
        """The C library's llm_kv_shift: drop positions n_keep..n_keep+n_discard-1,
        move the later ones down and rotate their cached keys by -n_discard
        positions (stored again as the cache type stores them)."""
        c = self.config
        end = self.next_pos
        if n_discard < 1 or n_keep + n_discard > end:
            raise ValueError(f"cannot drop {n_discard} after {n_keep} of {end} positions")
        src = slice(n_keep + n_discard, end)
        dst = slice(n_keep, end - n_discard)
        angle = _F(n_discard) * self.rope_freq
        cos = np.cos(angle.astype(np.float64)).astype(np.float32)
        sin = -np.sin(angle.astype(np.float64)).astype(np.float32)
        for l in range(c.n_layers):
            keys = self.key_cache[l, src].copy()    # (n, nkv, hs)
            self.value_cache[l, dst] = self.value_cache[l, src].copy()
            self.key_cache[l, dst] = np.stack([self._stored(self._rope(k, cos, sin)) for k in keys]) \
                if len(keys) else keys
        self.next_pos = end - n_discard

    def _stored(self, v: np.ndarray) -> np.ndarray:
        """v (heads, hs) as the KV cache holds it, read back as float32."""
        if self.kv_type == "f16":
            return v.astype(np.float16).astype(np.float32)
        if self.kv_type == "q8":
            q, bits = quant.kv_store_q8(v)
            return q.astype(np.float32) * quant.bf16_to_f32(bits)[:, None]
        return v


def generate(model: Model, tokenizer, prompt: str, steps: int, sampler):
    """llama2.c run.c's generate loop; returns (text bytes, tokens).

    The text includes the prompt's pieces (as run.c prints them). tokens is
    the sequence from BOS: the prompt, then every sampled token that was
    emitted; a sampled BOS or EOS (the tokenizer's bos_id / eos_id) ends
    generation and is not included. steps 0 or > seq_len means seq_len.
    """
    seq_len = model.config.seq_len
    if steps <= 0 or steps > seq_len:
        steps = seq_len
    prompt_tokens = tokenizer.encode(prompt, True, False)
    if len(prompt_tokens) > seq_len:
        raise ValueError(f"prompt is {len(prompt_tokens)} tokens, context is {seq_len}")
    model.reset()
    seq = [prompt_tokens[0]]
    out = []
    token, pos = prompt_tokens[0], 0
    while pos < steps:
        logits = model.forward(token, pos)
        sampled = pos >= len(prompt_tokens) - 1
        nxt = sampler.sample(logits, seq) if sampled else prompt_tokens[pos + 1]
        pos += 1
        if sampled and nxt in (getattr(tokenizer, "bos_id", BOS), getattr(tokenizer, "eos_id", EOS)):
            break
        out.append(tokenizer.decode(token, nxt))
        seq.append(nxt)
        token = nxt
    return b"".join(out), seq
