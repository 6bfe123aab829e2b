"""The sampler of the C library, in float32 NumPy (team convention in llm.h).

Order: repeat penalty, greedy argmax (temperature 0, no RNG draw), temperature,
softmax, one coin from xorshift64*, then multinomial, nucleus (llama2.c
sample_topp) or top-k (optionally truncated by top-p).
"""
from __future__ import annotations

import numpy as np

_MASK64 = (1 << 64) - 1


class XorShift64Star:
    """llama2.c run.c's random_u32 / random_f32; seed 0 is replaced by 1."""

    def __init__(self, seed: int):
        self.state = (seed & _MASK64) or 1

    def next_u32(self) -> int:
        s = self.state
        s ^= s >> 12
        s ^= (s << 25) & _MASK64
        s ^= s >> 27
        self.state = s
        return ((s * 0x2545F4914F6CDD1D) & _MASK64) >> 32

    def next_f32(self) -> np.float32:
        """Uniform in [0, 1) with 24 random bits."""
        return np.float32((self.next_u32() >> 8) / 16777216.0)


def softmax_f32(x: np.ndarray) -> np.ndarray:
    """Max-subtracted softmax with float32 exp and a sequential float32 sum."""
    x = np.asarray(x, dtype=np.float32)
    # exp in float64 rounded to float32 is what a correctly rounded expf gives.
    e = np.exp((x - x.max()).astype(np.float64)).astype(np.float32)
    total = np.cumsum(e, dtype=np.float32)[-1]
    return e / total


def _truncate_top_p(probs_sorted: np.ndarray, top_p: np.float32):
    """Index of the last kept candidate and the float32 mass up to it
    (llama2.c: stop at the first cumulative sum > top_p, else keep all)."""
    cum = np.cumsum(probs_sorted, dtype=np.float32)
    over = np.nonzero(cum > top_p)[0]
    last = int(over[0]) if over.size else len(cum) - 1
    return last, cum


def _pick(cum: np.ndarray, last: int, r: np.float32) -> int:
    """First position 0..last whose cdf exceeds r, else last."""
    hit = np.nonzero(r < cum[:last + 1])[0]
    return int(hit[0]) if hit.size else last


class Sampler:
    """Sampling exactly as the C llm_sample (see the team conventions)."""

    def __init__(self, vocab_size: int, temperature: float = 1.0, top_p: float = 0.9,
                 top_k: int = 0, repeat_penalty: float = 1.0, repeat_last_n: int = 0,
                 seed: int = 1):
        self.vocab_size = vocab_size
        self.temperature = np.float32(temperature)
        self.top_p = np.float32(top_p)
        self.top_k = int(top_k)
        self.repeat_penalty = np.float32(repeat_penalty)
        self.repeat_last_n = int(repeat_last_n)
        self.rng = XorShift64Star(seed)

    def probabilities(self, logits: np.ndarray, history) -> np.ndarray:
        """Steps (1) and (3): penalised, tempered softmax (temperature must be > 0)."""
        x = self._penalised(logits, history)
        return softmax_f32(x / self.temperature)

    def _penalised(self, logits, history) -> np.ndarray:
        x = np.array(logits, dtype=np.float32).reshape(-1)
        if x.shape[0] != self.vocab_size:
            raise ValueError(f"{x.shape[0]} logits, vocab_size {self.vocab_size}")
        pen = self.repeat_penalty
        if pen != np.float32(1) and self.repeat_last_n > 0 and len(history):
            recent = set(int(t) for t in list(history)[-self.repeat_last_n:])
            for t in recent:
                if 0 <= t < self.vocab_size:
                    x[t] = x[t] / pen if x[t] > 0 else x[t] * pen
        return x

    def sample(self, logits: np.ndarray, history) -> int:
        """Next token id; logits (vocab_size,) are not modified."""
        x = self._penalised(logits, history)
        if self.temperature == 0:
            return int(np.argmax(x))
        p = softmax_f32(x / self.temperature)
        coin = self.rng.next_f32()
        n = self.vocab_size
        top_p_on = np.float32(0) < self.top_p < np.float32(1)
        if self.top_k == 0 or self.top_k >= n:
            if not top_p_on:
                cdf = np.cumsum(p, dtype=np.float32)
                hit = np.nonzero(coin < cdf)[0]
                return int(hit[0]) if hit.size else n - 1
            cutoff = (np.float32(1) - self.top_p) / np.float32(n - 1)
            cand = np.nonzero(p >= cutoff)[0]
            if cand.size == 0:  # only when n == 1 or top_p < 1/n on a flat distribution
                cand = np.arange(n)
        else:
            cand = np.arange(n)
        # Descending probability, ties by lower index.
        order = cand[np.argsort(-p[cand], kind="stable")]
        if not (self.top_k == 0 or self.top_k >= n):
            order = order[:self.top_k]
        ps = p[order]
        if top_p_on:
            last, cum = _truncate_top_p(ps, self.top_p)
        else:
            cum = np.cumsum(ps, dtype=np.float32)
            last = len(ps) - 1
        r = np.float32(coin * cum[last])
        return int(order[_pick(cum, last, r)])
