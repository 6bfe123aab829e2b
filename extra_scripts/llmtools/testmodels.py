"""Small random models and tokenizers for tests that need no trained model."""
from __future__ import annotations

import struct

import numpy as np

from .blob import LAYER_NAMES, Config

_WORDS = (
    "once upon a time there was little girl boy named lily tim she he loved to play "
    "with her his ball in the park one day saw big red dog cat tree sun happy sad "
    "and but said mom dad friend went home wanted help fun run jump look at it was "
    "very nice good bird fish toy car box blue green yellow small tall old new"
).split()

_SINGLES = " etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ.,!?'\"-:;()0123456789"


# llama2.c's stories15M shape, for benchmarks on random weights of its size.
STORIES15M = Config(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6, vocab_size=32000,
                    seq_len=256)


def tiny_config(**overrides) -> Config:
    """A small valid config (GQA, untied-friendly); override any field."""
    base = dict(dim=32, hidden_dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                vocab_size=320, seq_len=64)
    base.update(overrides)
    return Config(**base)


def random_config(seed: int, max_dim: int = 64, max_layers: int = 3,
                  vocab_size: int = 320, seq_len: int = 48) -> Config:
    """A random valid config: head_size even, n_kv_heads dividing n_heads."""
    rng = np.random.default_rng(seed)
    head_size = int(rng.choice([2, 4, 8]))
    n_heads = int(rng.choice([h for h in (1, 2, 4, 8) if h * head_size <= max_dim]))
    n_kv = int(rng.choice([k for k in (1, 2, 4, 8) if n_heads % k == 0]))
    dim = n_heads * head_size
    return Config(dim=dim, hidden_dim=int(rng.integers(dim, 3 * dim + 1)),
                  n_layers=int(rng.integers(1, max_layers + 1)), n_heads=n_heads,
                  n_kv_heads=n_kv, vocab_size=vocab_size, seq_len=seq_len)


def random_model(config: Config, seed: int, tied: bool) -> dict:
    """float32 weights with activations O(1): matrices ~ N(0, 1/fan_in),
    norms ~ 1 + N(0, 0.1^2); 'cls' only when not tied."""
    c = config
    rng = np.random.default_rng(seed)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    def norm():
        return (1.0 + 0.1 * rng.standard_normal(c.dim)).astype(np.float32)

    hs = c.head_size
    w = {"tok_emb": mat(c.vocab_size, c.dim)}
    w.update({name: [] for name in LAYER_NAMES})
    for _ in range(c.n_layers):
        w["attn_norm"].append(norm())
        w["wq"].append(mat(c.n_heads * hs, c.dim))
        w["wk"].append(mat(c.kv_dim, c.dim))
        w["wv"].append(mat(c.kv_dim, c.dim))
        w["wo"].append(mat(c.dim, c.n_heads * hs))
        w["ffn_norm"].append(norm())
        w["w1"].append(mat(c.hidden_dim, c.dim))
        w["w2"].append(mat(c.dim, c.hidden_dim))
        w["w3"].append(mat(c.hidden_dim, c.dim))
    w["final_norm"] = norm()
    if not tied:
        w["cls"] = mat(c.vocab_size, c.dim)
    return w


def tokenizer_bytes(vocab, scores) -> bytes:
    """Serialize tokens (bytes) and scores as llama2.c tokenizer.bin."""
    max_len = max(1, max(len(t) for t in vocab))
    parts = [struct.pack("<I", max_len)]
    for t, s in zip(vocab, scores):
        parts.append(struct.pack("<fi", s, len(t)) + t)
    return b"".join(parts)


def synthetic_tokenizer(vocab_size: int, seed: int) -> bytes:
    """A valid tokenizer.bin: <unk>, BOS, EOS, the 256 byte tokens, single
    ASCII characters (space first), then multi-character merges such as ' t',
    ' th', ' the' (each the concatenation of two earlier tokens, earlier
    merges scoring higher) up to vocab_size (>= 260)."""
    if vocab_size < 260:
        raise ValueError("vocab_size must be >= 260 (specials, 256 bytes, ' ')")
    rng = np.random.default_rng(seed)
    vocab = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)]
    scores = [0.0] * len(vocab)
    singles = [ch.encode() for ch in _SINGLES][:vocab_size - len(vocab)]
    vocab += singles
    scores += [-1000.0 - i for i in range(len(singles))]
    have = set(vocab)

    # Candidate merges: prefixes of words with and without a leading space,
    # shortest first so every merge's halves already exist.
    words = list(_WORDS)
    rng.shuffle(words)
    extra = ["".join(rng.choice(list("etaoinshrdl"), int(rng.integers(3, 7)))) for _ in range(400)]
    cands = []
    for w in words + extra:
        for s in (" " + w, w):
            cands += [s[:n].encode() for n in range(2, len(s) + 1)]
    cands.sort(key=len)
    merges = []
    for t in cands:
        if len(vocab) + len(merges) >= vocab_size:
            break
        if t in have or t[:-1] not in have or t[-1:] not in have:
            continue
        have.add(t)
        merges.append(t)
    # A few random pair merges keep the set from being prefix-only.
    tries = 0
    while len(vocab) + len(merges) < vocab_size and tries < 100000:
        tries += 1
        pool = singles + merges
        a, b = pool[int(rng.integers(len(pool)))], pool[int(rng.integers(len(pool)))]
        t = a + b
        if len(t) <= 8 and t not in have:
            have.add(t)
            merges.append(t)
    if len(vocab) + len(merges) < vocab_size:
        raise ValueError(f"could not make {vocab_size} distinct tokens")
    vocab += merges
    scores += [-float(i) for i in range(len(merges))]
    return tokenizer_bytes(vocab, scores)
