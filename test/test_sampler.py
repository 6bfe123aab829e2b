"""llm_sample on the device: fixed-seed sequences equal to the oracle Sampler
(llmtools.sampler, the team's sampler algorithm), top-p / top-k never leave
their candidate sets, draw frequencies match the softmax (chi-square over
thousands of draws), repetition penalty and temperature 0."""
import math

import numpy as np
import pytest
from llmtools.blob import Config
from llmtools.sampler import Sampler, softmax_f32

from helpers.models import write_model

V = 48


@pytest.fixture
def sampler_fw(fw, tmp_path):
    """A context over a tiny model with a V-token vocabulary (the sampler
    needs a context; the logits come from the test)."""
    c = Config(dim=8, hidden_dim=8, n_layers=1, n_heads=1, n_kv_heads=1, vocab_size=V, seq_len=4)
    fw.load(write_model(tmp_path, c, seed=1).path)
    return fw


def logits_for(seed: int, spread: float = 2.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(V) * spread).astype(np.float32)


CONFIGS = {
    'multinomial': dict(temperature=1.0, top_p=0.0),
    'multinomial_top_p_1': dict(temperature=1.0, top_p=1.0),
    'cold': dict(temperature=0.5, top_p=0.0),
    'hot': dict(temperature=1.7, top_p=0.0),
    'top_p_0.9': dict(temperature=1.0, top_p=0.9),
    'top_p_0.5_cold': dict(temperature=0.7, top_p=0.5),
    'top_k_5': dict(temperature=1.0, top_p=0.0, top_k=5),
    'top_k_1': dict(temperature=1.0, top_p=0.0, top_k=1),
    'top_k_5_top_p_0.7': dict(temperature=1.0, top_p=0.7, top_k=5),
    'top_k_ge_vocab': dict(temperature=1.0, top_p=0.9, top_k=V),
    'penalty': dict(temperature=1.0, top_p=0.9, repeat_penalty=1.3, repeat_last_n=4,
                    history=[3, 7, 7, 11, 20, 30]),
    'penalty_greedy': dict(temperature=0.0, repeat_penalty=2.0, repeat_last_n=64,
                           history=list(range(0, V, 3))),
    'greedy': dict(temperature=0.0),
}


@pytest.mark.parametrize('name', CONFIGS)
@pytest.mark.parametrize('seed', [1, 0, 987654321987654321])
def test_sequence_matches_oracle(sampler_fw, name, seed):
    cfg = dict(CONFIGS[name])
    history = cfg.pop('history', [])
    logits = logits_for(len(name) + seed % 1000)
    got = sampler_fw.sample(logits, 300, seed=seed, history=history, **cfg)
    s = Sampler(V, seed=seed, **{'top_p': 0.9, **cfg})
    want = [s.sample(logits, history) for _ in range(300)]
    assert got == want


def test_same_seed_same_sequence_other_seed_differs(sampler_fw):
    logits = logits_for(5)
    a = sampler_fw.sample(logits, 200, seed=42, top_p=0.9)
    b = sampler_fw.sample(logits, 200, seed=42, top_p=0.9)
    c = sampler_fw.sample(logits, 200, seed=43, top_p=0.9)
    assert a == b
    assert a != c


def nucleus(p: np.ndarray, top_p: float, top_k: int = 0) -> set:
    """Indices the nucleus / top-k rule may return, from the probabilities."""
    order = sorted(range(len(p)), key=lambda i: (-p[i], i))
    if 0 < top_k < len(p):
        order = order[:top_k]
    if 0 < top_p < 1:
        cum = np.cumsum(p[order], dtype=np.float32)
        over = np.nonzero(cum > np.float32(top_p))[0]
        order = order[:int(over[0]) + 1] if over.size else order
    return set(order)


@pytest.mark.parametrize('top_p,top_k,temp', [(0.9, 0, 1.0), (0.5, 0, 1.0), (0.3, 0, 2.0),
                                               (0.0, 3, 1.0), (0.0, 10, 1.5), (0.6, 8, 1.0)])
def test_never_outside_candidate_set(sampler_fw, top_p, top_k, temp):
    logits = logits_for(11, spread=1.0)
    p = softmax_f32(logits / np.float32(temp))
    allowed = nucleus(p, top_p, top_k)
    assert 1 < len(allowed) < V
    draws = sampler_fw.sample(logits, 4000, temperature=temp, top_p=top_p, top_k=top_k, seed=99)
    outside = set(draws) - allowed
    assert not outside, f'drew {sorted(outside)} outside the allowed {sorted(allowed)}'
    # Every allowed token with a reasonable share shows up.
    seen = set(draws)
    for i in allowed:
        share = p[i] / sum(p[j] for j in allowed)
        if share > 0.01:
            assert i in seen, f'token {i} (share {share:.3f}) never drawn'


def chi_square_p(draws, probs) -> float:
    counts = np.bincount(draws, minlength=len(probs)).astype(np.float64)
    expected = np.asarray(probs, dtype=np.float64) * len(draws)
    # Pool cells with small expectations so the chi-square approximation holds.
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    exp = exp * obs.sum() / exp.sum()
    x, dof = float(np.sum((obs - exp) ** 2 / exp)), len(obs) - 1
    # Upper tail of chi-square(dof) by the Wilson-Hilferty cube-root normal
    # approximation: within a few percent of the exact p down to 1e-8 at these dofs.
    z = ((x / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize('temp', [1.0, 0.6, 2.0])
def test_multinomial_distribution(sampler_fw, temp):
    logits = logits_for(21, spread=1.0)
    n = 20000
    draws = sampler_fw.sample(logits, n, temperature=temp, top_p=0.0, seed=2024)
    p = softmax_f32(logits / np.float32(temp)).astype(np.float64)
    # Fixed seed: deterministic; a correct sampler passes at this level, a
    # wrong temperature or an off-by-one cdf walk does not.
    assert chi_square_p(draws, p) > 1e-3
    freq = np.bincount(draws, minlength=V) / n
    assert np.max(np.abs(freq - p)) < 4 * np.sqrt(0.25 / n) + 1e-3


def test_wrong_distribution_is_detected(sampler_fw):
    """The chi-square check has power: draws at temperature 1 do not fit 0.8."""
    logits = logits_for(21, spread=1.0)
    draws = sampler_fw.sample(logits, 20000, temperature=1.0, top_p=0.0, seed=2024)
    wrong = softmax_f32(logits / np.float32(0.8)).astype(np.float64)
    assert chi_square_p(draws, wrong) < 1e-6


def test_top_k_distribution(sampler_fw):
    logits = logits_for(31, spread=1.0)
    k = 6
    draws = sampler_fw.sample(logits, 12000, temperature=1.0, top_p=0.0, top_k=k, seed=7)
    p = softmax_f32(logits).astype(np.float64)
    keep = np.argsort(-p, kind='stable')[:k]
    q = np.zeros(V)
    q[keep] = p[keep] / p[keep].sum()
    assert set(draws) <= set(keep.tolist())
    assert chi_square_p(draws, q) > 1e-3


def test_temperature_zero_is_argmax(sampler_fw):
    for seed in range(10):
        logits = logits_for(100 + seed)
        assert sampler_fw.sample(logits, 3, temperature=0.0, seed=seed) == [int(np.argmax(logits))] * 3
    tie = np.zeros(V, dtype=np.float32)
    tie[[9, 17, 30]] = 3.0
    assert sampler_fw.sample(tie, 1, temperature=0.0) == [9]


def test_repeat_penalty_changes_greedy_choice(sampler_fw):
    base = np.full(V, -4.0, dtype=np.float32)
    # Positive logits are divided by the penalty.
    x = base.copy()
    x[10], x[20] = 2.0, 1.5
    greedy = lambda logits, **kw: sampler_fw.sample(logits, 1, temperature=0.0, **kw)[0]  # noqa: E731
    assert greedy(x) == 10
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=8, history=[10]) == 20   # 2/1.5 < 1.5
    assert greedy(x, repeat_penalty=1.2, repeat_last_n=8, history=[10]) == 10   # 2/1.2 > 1.5
    # Each distinct token is penalised once, however often it repeats (2/1.44 < 1.5).
    assert greedy(x, repeat_penalty=1.2, repeat_last_n=8, history=[10, 10, 10]) == 10
    # Only the last repeat_last_n tokens count.
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=2, history=[10, 5, 6]) == 10
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=3, history=[10, 5, 6]) == 20
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=1, history=[5, 10]) == 20
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=1, history=[10, 5]) == 10
    # repeat_last_n 0 or penalty 1 disable it.
    assert greedy(x, repeat_penalty=1.5, repeat_last_n=0, history=[10]) == 10
    assert greedy(x, repeat_penalty=1.0, repeat_last_n=8, history=[10]) == 10
    # Negative logits are multiplied: -1 * 1.5 = -1.5 < -1.2.
    y = base.copy()
    y[3], y[4] = -1.0, -1.2
    assert greedy(y) == 3
    assert greedy(y, repeat_penalty=1.5, repeat_last_n=4, history=[3]) == 4
