"""llmtools.oracle: stories260K output equals llama2.c run.c; the vectorized
forward equals a plain per-head loop; GQA, tying, blob loading and the
generate loop's rules."""
import math
import time

import numpy as np
import pytest

from llmtools import blob as B
from llmtools import testmodels as T
from llmtools.oracle import Model, generate
from llmtools.sampler import Sampler
from llmtools.tokenizer import Tokenizer

# llama2.c run.c: run stories260K.bin -z tok512.bin -t 0 -n 200 -i "Once upon a time"
# (stdout without the final newline run.c adds; same text as llama2.c test_all.py)
GREEDY_200 = (
    b"Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    b"One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
    b"Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. "
    b"She said, \"I want to play with your ball, but I can't find it.\"\n"
    b"Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    b"Lily didn't want to help her mom, so she"
)

# llama2.c run.c with top-p sampling (no top-k / penalty, so the conventions agree):
# (temperature, top_p, seed, steps, prompt) -> stdout without the final newline
SAMPLED = [
    ((0.8, 0.9, 42, 100, "Once upon a time"),
     b"Once upon a time, there was a little boy named Timmy. Timmy loved to play with his ball "
     b"and make it fun. One day, Timmy's mom asked him to take it away from the park. Timmy said, "
     b"\"I want to get it back, Timmy, it's not scared of your ball. It's blue and"),
    ((0.8, 0.9, 7, 100, "Once upon a time"),
     b"Once upon a time, there was a little girl named Lily. She loved to play in the park with "
     b"her friends. One day, she went to the park with her mommy and daddy. They played together, "
     b"but they couldn't find it.\nLily's mommy said, \"Lily, what's wrong?\" Lily said, \"I"),
    # -p 0 disables top-p: plain multinomial; empty prompt
    ((1.0, 0.0, 3, 120, ""),
     b"Once there was a big river. On the other animals lived in this trumpet. As she yelled, its "
     b"mom said she was nowhere to be safe houses. She said, \"Don't wrow, How can be a dirty car "
     b"to take care of her on a big tree.\"\nLisa saw the eraser and asked if"),
]


@pytest.fixture(scope="module")
def model260k(stories260k):
    return Model(*stories260k)


def test_greedy_200_matches_runc(model260k, tok512):
    t0 = time.perf_counter()
    text, tokens = generate(model260k, tok512, "Once upon a time", 200, Sampler(512, temperature=0.0))
    elapsed = time.perf_counter() - t0
    assert text.startswith(b"Once upon a time, there was a little girl named Lily. "
                           b"She loved to play outside in the park.")
    assert text == GREEDY_200
    assert len(tokens) == 201 and tokens[:5] == tok512.encode("Once upon a time", True, False)
    assert b"".join(tok512.decode(a, b) for a, b in zip(tokens, tokens[1:])) == text
    assert elapsed < 20, f"200 steps took {elapsed:.1f} s; the oracle should be vectorized"


@pytest.mark.parametrize("args,expected", SAMPLED, ids=["t0.8-p0.9-s42", "t0.8-p0.9-s7", "t1-mult-s3"])
def test_sampled_matches_runc(model260k, tok512, args, expected):
    temp, top_p, seed, steps, prompt = args
    text, _ = generate(model260k, tok512, prompt, steps, Sampler(512, temperature=temp, top_p=top_p, seed=seed))
    assert text == expected


# ---------------------------------------------------------------- forward

def naive_forward(c, w, tokens):
    """llama2.c run.c forward() written as plain loops; logits after each token."""
    hs = c.head_size
    kv_mul = c.n_heads // c.n_kv_heads
    cls = w.get("cls", w["tok_emb"])
    kc = np.zeros((c.n_layers, len(tokens), c.kv_dim), np.float32)
    vc = np.zeros((c.n_layers, len(tokens), c.kv_dim), np.float32)

    def rms(x, g):
        return g * (x / np.float32(math.sqrt(float(np.mean(x.astype(np.float64) ** 2)) + c.norm_eps)))

    out = []
    for pos, tok in enumerate(tokens):
        x = w["tok_emb"][tok].astype(np.float32).copy()
        for l in range(c.n_layers):
            xb = rms(x, w["attn_norm"][l])
            q = w["wq"][l] @ xb
            k = w["wk"][l] @ xb
            v = w["wv"][l] @ xb
            for i in range(0, c.dim, 2):
                freq = 1.0 / c.rope_theta ** ((i % hs) / hs)
                cr, ci = math.cos(pos * freq), math.sin(pos * freq)
                for vec in ((q, k) if i < c.kv_dim else (q,)):
                    a, b = float(vec[i]), float(vec[i + 1])
                    vec[i], vec[i + 1] = a * cr - b * ci, a * ci + b * cr
            kc[l, pos], vc[l, pos] = k, v
            xb = np.zeros(c.dim, np.float32)
            for h in range(c.n_heads):
                g = h // kv_mul
                qh = q[h * hs:(h + 1) * hs]
                att = np.array([qh @ kc[l, t, g * hs:(g + 1) * hs] / math.sqrt(hs) for t in range(pos + 1)])
                att = np.exp(att - att.max())
                att /= att.sum()
                for t in range(pos + 1):
                    xb[h * hs:(h + 1) * hs] += att[t] * vc[l, t, g * hs:(g + 1) * hs]
            x = x + w["wo"][l] @ xb
            xb = rms(x, w["ffn_norm"][l])
            h1, h3 = w["w1"][l] @ xb, w["w3"][l] @ xb
            x = x + w["w2"][l] @ (h1 / (1 + np.exp(-h1)) * h3)
        out.append(cls @ rms(x, w["final_norm"]))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_forward_matches_naive_loops(seed):
    c = T.random_config(seed, max_dim=32, seq_len=24)
    w = T.random_model(c, seed, tied=bool(seed % 2))
    tokens = np.random.default_rng(seed).integers(0, c.vocab_size, 20).tolist()
    m = Model(c, w)
    got = np.array([m.forward(t, p) for p, t in enumerate(tokens)])
    want = naive_forward(c, w, tokens)
    assert got.dtype == np.float32 and got.shape == (20, c.vocab_size)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-4), np.abs(got - want).max()


def test_gqa_equals_expanded_mha():
    c = T.tiny_config(n_heads=4, n_kv_heads=2)
    w = T.random_model(c, 3, tied=False)
    c4 = T.tiny_config(n_heads=4, n_kv_heads=4)
    w4 = {k: (list(v) if isinstance(v, list) else v) for k, v in w.items()}
    hs = c.head_size
    for name in ("wk", "wv"):  # kv head g serves query heads 2g and 2g+1
        w4[name] = [np.concatenate([m[g * hs:(g + 1) * hs] for g in (0, 0, 1, 1)]) for m in w[name]]
    a, b = Model(c, w), Model(c4, w4)
    for pos, tok in enumerate([1, 5, 300, 42, 42, 7]):
        assert np.allclose(a.forward(tok, pos), b.forward(tok, pos), rtol=1e-5, atol=1e-5)


def test_tied_equals_untied_copy():
    c = T.tiny_config()
    w = T.random_model(c, 4, tied=True)
    wu = dict(w, cls=w["tok_emb"].copy())
    a, b = Model(c, w), Model(c, wu)
    for pos, tok in enumerate([1, 9, 99]):
        assert np.array_equal(a.forward(tok, pos), b.forward(tok, pos))


def test_model_from_blob_equals_model_from_checkpoint(stories260k, model260k):
    c, w = stories260k
    c2, w2, _ = B.read_blob(B.write_blob(c, w))
    m2 = Model(c2, w2)
    model260k.reset()
    for pos, tok in enumerate([1, 403, 407, 261]):
        assert np.array_equal(model260k.forward(tok, pos), m2.forward(tok, pos))


def test_positions_in_order_and_reset(tiny):
    c, w, _ = tiny
    m = Model(c, w)
    first = m.forward(1, 0)
    m.forward(2, 1)
    with pytest.raises(ValueError):
        m.forward(3, 3)
    with pytest.raises(ValueError):
        m.forward(c.vocab_size, 2)
    m.reset()
    assert np.array_equal(m.forward(1, 0), first)


def test_context_limit():
    c = T.tiny_config(seq_len=4)
    m = Model(c, T.random_model(c, 0, tied=True))
    for p in range(4):
        m.forward(1, p)
    with pytest.raises(ValueError):
        m.forward(1, 4)


# ---------------------------------------------------------------- generate loop

def _tiny_model(seq_len=64):
    c = T.tiny_config(seq_len=seq_len)
    w = T.random_model(c, 8, tied=False)
    w["cls"][1] = 0.0  # BOS and EOS logits 0: the max of the random logits is larger
    w["cls"][2] = 0.0
    return c, Model(c, w), Tokenizer(T.synthetic_tokenizer(c.vocab_size, 8), c.vocab_size)


class Scripted:
    """A sampler that returns given tokens and records the history it was shown."""

    def __init__(self, picks):
        self.picks, self.histories = list(picks), []

    def sample(self, logits, history):
        assert logits.shape == (320,)
        self.histories.append(list(history))
        return self.picks.pop(0)


def test_generate_budget_and_context():
    c, m, tok = _tiny_model(seq_len=16)
    prompt = tok.encode("hi there", True, False)
    text, tokens = generate(m, tok, "hi there", 10, Sampler(c.vocab_size, temperature=0.0))
    assert len(tokens) == 11 and tokens[:len(prompt)] == prompt
    assert text == b"".join(tok.decode(a, b) for a, b in zip(tokens, tokens[1:]))
    assert text.startswith(b"hi there")
    _, tokens0 = generate(m, tok, "hi there", 0, Sampler(c.vocab_size, temperature=0.0))
    assert len(tokens0) == c.seq_len + 1 and tokens0[:11] == tokens
    _, tokens_big = generate(m, tok, "hi there", 10 ** 6, Sampler(c.vocab_size, temperature=0.0))
    assert tokens_big == tokens0


def test_generate_budget_inside_prompt():
    c, m, tok = _tiny_model()
    prompt = tok.encode("hello there, tim", True, False)
    text, tokens = generate(m, tok, "hello there, tim", 3, Sampler(c.vocab_size, temperature=0.0))
    assert tokens == prompt[:4]
    assert text == b"".join(tok.decode(a, b) for a, b in zip(prompt[:4], prompt[1:4]))


@pytest.mark.parametrize("stop", [1, 2])
def test_generate_stops_on_sampled_bos_or_eos(stop):
    c, m, tok = _tiny_model()
    prompt = tok.encode("hi", True, False)
    s = Scripted([300, 301, stop, 5])
    text, tokens = generate(m, tok, "hi", 50, s)
    assert tokens == prompt + [300, 301]  # the stop token is neither emitted nor returned
    assert text == b"hi" + tok.decode(prompt[-1], 300) + tok.decode(300, 301)
    # the sampler sees every token fed so far, BOS first
    assert s.histories == [prompt, prompt + [300], prompt + [300, 301]]


def test_generate_prompt_too_long():
    c, m, tok = _tiny_model(seq_len=8)
    with pytest.raises(ValueError):
        generate(m, tok, "a b c d e f g h i j k", 0, Sampler(c.vocab_size, temperature=0.0))
