"""llmtools.sampler: xorshift64*, the sampling rules of the team convention,
reproducibility and the support sets of top-k / top-p."""
import numpy as np
import pytest

from llmtools.sampler import Sampler, XorShift64Star, softmax_f32

# First five random_u32() values and the sixth as random_f32(), printed by a
# C program using llama2.c run.c's random_u32 / random_f32.
RNG_C = {
    1: ([1206177355, 2882512552, 3117485455, 1303648416, 241277360], 0.782826126),
    42: ([1456360119, 3359763283, 3393612768, 4054632243, 3283045847], 0.835739851),
    0xDEADBEEFCAFEF00D: ([1364020930, 2080822070, 2671696488, 861316076, 3432432736], 0.152925491),
}


@pytest.mark.parametrize("seed", list(RNG_C))
def test_xorshift_matches_c(seed):
    r = XorShift64Star(seed)
    u32s, f = RNG_C[seed]
    assert [r.next_u32() for _ in range(5)] == u32s
    x = r.next_f32()
    assert isinstance(x, np.float32) and abs(float(x) - f) < 1e-9


def test_seed_zero_is_one():
    a, b = XorShift64Star(0), XorShift64Star(1)
    assert [a.next_u32() for _ in range(10)] == [b.next_u32() for _ in range(10)]


def test_f32_range():
    r = XorShift64Star(123)
    xs = np.array([r.next_f32() for _ in range(5000)])
    assert xs.min() >= 0 and xs.max() < 1 and 0.45 < xs.mean() < 0.55


def _logits(p):
    return np.log(np.asarray(p, dtype=np.float64)).astype(np.float32)


def _sampler(n, **kw):
    """Sampler whose next coin is seed 1's second draw, 0.6711 (2882512552 >> 8 / 2^24)."""
    s = Sampler(n, seed=1, **kw)
    s.rng.next_u32()
    return s


P4 = [0.1, 0.35, 0.05, 0.5]   # sorted: 3 (.5), 1 (.35), 0 (.1), 2 (.05)
Q4 = [0.05, 0.25, 0.08, 0.62]  # sorted: 3 (.62), 1 (.25), 2 (.08), 0 (.05)


def test_coin_value():
    assert float(_sampler(4).rng.next_f32()) == (2882512552 >> 8) / 2 ** 24


def test_multinomial_uses_coin_on_the_index_order_cdf():
    # cdf in index order .1 .45 .5 1.0: coin .6711 -> 3 (the sorted order would give 1)
    assert _sampler(4, temperature=1.0, top_p=1.0).sample(_logits(P4), []) == 3
    assert _sampler(4, temperature=1.0, top_p=0.0).sample(_logits(P4), []) == 3


def test_nucleus_truncates_then_rescales_the_coin():
    # top_p .8: cum .5, .85 > .8 keeps {3, 1}; r = .6711 * .85 = .570 -> 1
    assert _sampler(4, temperature=1.0, top_p=0.8).sample(_logits(P4), []) == 1
    # keeps {3, 1}, mass .87; r = .584 < .62 -> 3 (an unscaled coin would give 1)
    assert _sampler(4, temperature=1.0, top_p=0.8).sample(_logits(Q4), []) == 3


def test_top_k_keeps_k_largest():
    # top_k 2 keeps {3, 1}, mass .87; r = .584 -> 3 (an unscaled coin would give 1)
    assert _sampler(4, temperature=1.0, top_p=1.0, top_k=2).sample(_logits(Q4), []) == 3
    # top_k 3 on P4 keeps {3, 1, 0}, mass .95; r = .638 -> cdf .5, .85 -> 1
    assert _sampler(4, temperature=1.0, top_p=1.0, top_k=3).sample(_logits(P4), []) == 1
    # top_k 1 always picks the most likely
    assert _sampler(4, temperature=1.0, top_p=1.0, top_k=1).sample(_logits(P4), []) == 3
    # top_k >= vocab is off: plain multinomial
    assert _sampler(4, temperature=1.0, top_p=1.0, top_k=4).sample(_logits(P4), []) == 3


def test_greedy_first_max_and_no_draw():
    s = Sampler(5, temperature=0.0, seed=9)
    state = s.rng.state
    assert s.sample(np.array([0, 3, 1, 3, 2], np.float32), []) == 1
    assert s.rng.state == state


@pytest.mark.parametrize("kw", [dict(top_p=1.0), dict(top_p=0.9), dict(top_k=10), dict(top_k=10, top_p=0.5)])
def test_one_draw_per_sample_and_reproducible(kw):
    rng = np.random.default_rng(0)
    logits = [rng.standard_normal(100).astype(np.float32) * 3 for _ in range(50)]
    a = Sampler(100, temperature=0.9, seed=77, **kw)
    b = Sampler(100, temperature=0.9, seed=77, **kw)
    ref = XorShift64Star(77)
    seq_a = []
    for x in logits:
        seq_a.append(a.sample(x, seq_a))
        ref.next_u32()
        assert a.rng.state == ref.state
    assert seq_a == [b.sample(x, []) for x in logits]
    c = Sampler(100, temperature=0.9, seed=78, **kw)
    assert seq_a != [c.sample(x, []) for x in logits]


def test_does_not_modify_logits():
    x = np.array([1.0, 2.0, 3.0], np.float32)
    Sampler(3, temperature=0.5, repeat_penalty=2.0, repeat_last_n=3).sample(x, [0, 1, 2])
    assert x.tolist() == [1.0, 2.0, 3.0]


def _draws(s, logits, n=3000):
    return np.array([s.sample(logits, []) for _ in range(n)])


def test_top_k_support_set():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal(64).astype(np.float32)
    top = set(np.argsort(-logits)[:5].tolist())
    got = set(_draws(Sampler(64, temperature=1.5, top_p=1.0, top_k=5, seed=3), logits).tolist())
    assert got == top


def test_top_p_support_set():
    p = np.array([0.05, 0.4, 0.02, 0.25, 0.2, 0.08])
    # sorted .4 (1), .25 (3), .2 (4): cum .65, .85 > .8 -> {1, 3, 4}
    d = _draws(Sampler(6, temperature=1.0, top_p=0.8, seed=5), _logits(p))
    assert set(d.tolist()) == {1, 3, 4}
    freq = np.bincount(d, minlength=6)[[1, 3, 4]] / len(d)
    assert np.allclose(freq, np.array([0.4, 0.25, 0.2]) / 0.85, atol=0.04)


def test_top_k_then_top_p():
    p = np.array([0.05, 0.4, 0.02, 0.25, 0.2, 0.08])
    # top 3 = {1, 3, 4}; top_p .5: cum .4, .65 > .5 -> {1, 3}
    d = _draws(Sampler(6, temperature=1.0, top_p=0.5, top_k=3, seed=5), _logits(p))
    assert set(d.tolist()) == {1, 3}


def test_nucleus_cutoff_excludes_tiny_probabilities():
    n = 200
    p = np.full(n, 0.5 / (n - 2))
    p[0], p[1] = 0.3, 0.2
    p[2] = 1e-6  # below cutoff (1 - .99) / 199, even though the nucleus is nearly everything
    p /= p.sum()
    d = _draws(Sampler(n, temperature=1.0, top_p=0.99, seed=11), _logits(p), n=4000)
    assert 2 not in set(d.tolist())


def test_multinomial_frequencies():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    d = _draws(Sampler(4, temperature=1.0, top_p=0.0, seed=21), _logits(p), n=8000)
    freq = np.bincount(d, minlength=4) / len(d)
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / len(d)))


def test_temperature_sharpens():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    hot = np.bincount(_draws(Sampler(4, temperature=2.0, top_p=0, seed=2), _logits(p)), minlength=4)
    cold = np.bincount(_draws(Sampler(4, temperature=0.3, top_p=0, seed=2), _logits(p)), minlength=4)
    assert cold[3] > hot[3] and cold[0] < hot[0]


def test_repeat_penalty():
    logits = np.array([2.0, 1.0, -1.0, 0.5], np.float32)
    greedy = dict(temperature=0.0, repeat_last_n=4)
    assert Sampler(4, repeat_penalty=1.0, **greedy).sample(logits, [0]) == 0
    # 2.0 / 2.5 = 0.8 < 1.0
    assert Sampler(4, repeat_penalty=2.5, **greedy).sample(logits, [0]) == 1
    # token 0 is outside the window of the last 3 tokens
    s = Sampler(4, repeat_penalty=2.5, temperature=0.0, repeat_last_n=3)
    assert s.sample(logits, [0, 3, 3, 3]) == 0
    # each distinct token is penalised once; negative logits are multiplied
    s = Sampler(4, temperature=1.0, repeat_penalty=2.0, repeat_last_n=8)
    got = s.probabilities(logits, [3, 3, 3, 2, 2])
    want = softmax_f32(np.array([2.0, 1.0, -2.0, 0.25], np.float32))
    assert np.array_equal(got, want)
    # last_n 0 disables the penalty
    s = Sampler(4, temperature=1.0, repeat_penalty=2.0, repeat_last_n=0)
    assert np.array_equal(s.probabilities(logits, [0, 1]), softmax_f32(logits))


def test_softmax_f32():
    x = np.array([1000.0, 999.0, -5.0], np.float32)
    p = softmax_f32(x)
    assert p.dtype == np.float32 and abs(float(p.sum()) - 1) < 1e-6
    assert np.allclose(p, np.exp(x - 1000.0) / np.exp(x - 1000.0).sum(), rtol=1e-6)
