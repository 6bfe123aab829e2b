"""llm_generate on the device: stories260K greedy text equal to the Python
oracle and to llama2.c, sampled generation equal to the oracle, and every
end condition (budget, context, EOS, stop strings, callback) and error
(prompt too long, invalid UTF-8, bad stop strings)."""
import pytest
from llmtools import oracle, testmodels
from llmtools.blob import Config
from llmtools.sampler import Sampler
from llmtools.tokenizer import Tokenizer

from helpers.golden import FIRST_SENTENCE, LLAMA2C_GREEDY_200
from helpers.models import write_model

PROMPT = b'Once upon a time'


def pieces_of(tok: Tokenizer, tokens: list) -> list:
    return [tok.decode(a, b) for a, b in zip(tokens[:-1], tokens[1:])]


@pytest.fixture(scope='module')
def greedy200(stories):
    """Oracle greedy run: (text, tokens)."""
    return oracle.generate(stories.oracle(), stories.tokenizer, PROMPT.decode(), 200,
                           Sampler(stories.config.vocab_size, temperature=0.0))


@pytest.fixture
def story_fw(fw, stories):
    fw.load(stories.model_path, tok=stories.tok_path)
    return fw


def test_stories_greedy_matches_llama2c_and_oracle(story_fw, stories, greedy200):
    text, tokens = greedy200
    assert text == LLAMA2C_GREEDY_200, 'the Python oracle differs from llama2.c'
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0)
    assert g.status == 'LLM_OK' and g.end == 'budget'
    assert g.text.startswith(FIRST_SENTENCE), g.text[:120]
    assert g.text == LLAMA2C_GREEDY_200
    n_prompt = len(stories.tokenizer.encode(PROMPT.decode(), True, False))
    assert g.n_prompt == n_prompt
    assert g.n_generated == 200 - n_prompt + 1
    assert g.pieces == 200  # one per position
    assert g.piece_lens == [len(p) for p in pieces_of(stories.tokenizer, tokens)]


def test_echo_off_emits_only_generated_text(story_fw, stories, greedy200):
    text, tokens = greedy200
    n_prompt = len(stories.tokenizer.encode(PROMPT.decode(), True, False))
    generated = b''.join(pieces_of(stories.tokenizer, tokens)[n_prompt - 1:])
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, echo=False)
    assert g.status == 'LLM_OK'
    assert g.text == generated and text.endswith(generated)
    assert g.pieces == 200 - n_prompt + 1


@pytest.mark.parametrize('stops', [
    [b'park'],                  # whole-word stop
    [b'e park'],                # spans the pieces ' the' and ' park'
    [b'.'],                     # a single character
    [b'red ball', b'Lily'],     # the earlier occurrence ends it
    [b'"I want', b'sad'],
    [b'too high.\nLily'],       # spans several pieces and a newline
])
def test_stop_strings(story_fw, greedy200, stops):
    full, _ = greedy200
    gen = full[len(PROMPT):]
    first = min(gen.find(s) for s in stops if s in gen)
    want = full[:len(PROMPT) + first]
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, stops=stops)
    assert g.status == 'LLM_OK' and g.end == 'stop_string'
    assert g.text == want
    assert not any(s in g.text[len(PROMPT):] for s in stops)


def test_stop_string_echo_off(story_fw, stories, greedy200):
    text, tokens = greedy200
    n_prompt = len(stories.tokenizer.encode(PROMPT.decode(), True, False))
    generated = b''.join(pieces_of(stories.tokenizer, tokens)[n_prompt - 1:])
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, echo=False, stops=[b'Lily'])
    assert g.end == 'stop_string'
    assert g.text == generated[:generated.find(b'Lily')]


def test_stop_string_absent_runs_to_budget(story_fw, greedy200):
    full = greedy200[0]
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, stops=[b'dragon', b'zzz'])
    assert g.end == 'budget' and g.text == full
    # The text ends in "so she": held back as a possible start of the stop
    # string, then emitted when the budget ends.
    assert full.endswith(b'she')
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, stops=[b'she never'])
    assert g.end == 'budget' and g.text == full


def test_stop_string_in_prompt_does_not_stop(story_fw, greedy200):
    """Stop strings apply to generated text; the echoed prompt cannot end it."""
    full = greedy200[0]
    assert full[len(PROMPT):].find(b'time') < 0
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, stops=[b'time'])
    assert g.end == 'budget' and g.text == full


@pytest.mark.parametrize('n_steps', [1, 2, 5, 6, 37])
def test_budget(story_fw, stories, n_steps):
    text, tokens = oracle.generate(stories.oracle(), stories.tokenizer, PROMPT.decode(), n_steps,
                                   Sampler(stories.config.vocab_size, temperature=0.0))
    g = story_fw.generate(PROMPT, n_steps=n_steps, temperature=0.0)
    n_prompt = len(stories.tokenizer.encode(PROMPT.decode(), True, False))
    assert g.status == 'LLM_OK' and g.end == 'budget'
    assert g.text == text
    assert g.n_prompt == n_prompt
    assert g.n_generated == max(0, n_steps - n_prompt + 1)
    assert g.pieces == n_steps


@pytest.mark.parametrize('n', [1, 3, 8, 30])
def test_callback_stop(story_fw, stories, greedy200, n):
    _, tokens = greedy200
    pieces = pieces_of(stories.tokenizer, tokens)
    assert all(pieces[:n]), 'this check assumes no empty pieces early on'
    g = story_fw.generate(PROMPT, n_steps=200, temperature=0.0, stop_after=n)
    assert g.status == 'LLM_OK' and g.end == 'callback'
    assert g.pieces == n
    assert g.text == b''.join(pieces[:n])


@pytest.mark.parametrize('params', [
    dict(temperature=0.8, top_p=0.9, seed=42),
    dict(temperature=1.0, top_p=0.0, seed=7),
    dict(temperature=1.0, top_p=0.95, top_k=20, seed=123456789),
    dict(temperature=0.0, repeat_penalty=1.3, repeat_last_n=16),
    dict(temperature=0.9, top_p=0.8, repeat_penalty=1.2, repeat_last_n=64, seed=99),
], ids=['top_p', 'multinomial', 'top_k', 'penalty_greedy', 'penalty_top_p'])
def test_sampled_generation_matches_oracle(story_fw, stories, params):
    steps = 120
    s = Sampler(stories.config.vocab_size, **{'top_p': 0.9, **params})
    text, tokens = oracle.generate(stories.oracle(), stories.tokenizer, PROMPT.decode(), steps, s)
    g = story_fw.generate(PROMPT, n_steps=steps, **params)
    assert g.status == 'LLM_OK'
    assert g.text == text
    n_prompt = len(stories.tokenizer.encode(PROMPT.decode(), True, False))
    if len(tokens) == steps + 1:
        assert g.end == 'budget'
    else:
        assert g.end == 'eos'
    assert g.n_generated == len(tokens) - n_prompt


def test_empty_prompt(story_fw, stories):
    text, tokens = oracle.generate(stories.oracle(), stories.tokenizer, '', 40,
                                   Sampler(stories.config.vocab_size, temperature=0.0))
    g = story_fw.generate(b'', n_steps=40, temperature=0.0)
    assert g.status == 'LLM_OK' and g.n_prompt == 1
    assert g.text == text


# ------------------------------------------------------------------ generated models

VOCAB = 300
GEN_CONFIG = Config(dim=16, hidden_dim=24, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=VOCAB, seq_len=16)
GEN_TOK = testmodels.synthetic_tokenizer(VOCAB, seed=4)


def no_eos_model(tmp_path):
    """Untied model whose BOS and EOS classifier rows are zero: their logits
    are 0 while the largest of the others is positive, so greedy never ends."""
    w = testmodels.random_model(GEN_CONFIG, seed=8, tied=False)
    w['cls'][1] = 0
    w['cls'][2] = 0
    return write_model(tmp_path, GEN_CONFIG, weights=w, tokenizer=GEN_TOK, name='no_eos.bin')


@pytest.mark.parametrize('n_steps', [0, 16, 100])
def test_context_end(fw, tmp_path, n_steps):
    m = no_eos_model(tmp_path)
    fw.load(m.path)
    tok = Tokenizer(GEN_TOK, VOCAB)
    text, tokens = oracle.generate(m.oracle(), tok, 'the cat', n_steps, Sampler(VOCAB, temperature=0.0))
    assert len(tokens) == GEN_CONFIG.seq_len + 1, 'precondition: the oracle ran to the end of the context'
    g = fw.generate(b'the cat', n_steps=n_steps, temperature=0.0)
    assert g.status == 'LLM_OK' and g.end == 'context'
    assert g.text == text
    assert g.n_generated == GEN_CONFIG.seq_len - g.n_prompt + 1


def test_context_end_short_context(fw, tmp_path):
    """A context smaller than the model's ends generation at its own length."""
    m = no_eos_model(tmp_path)
    fw.load(m.path, seq_len=7)
    tok = Tokenizer(GEN_TOK, VOCAB)
    text, _ = oracle.generate(m.oracle(), tok, 'a', 7, Sampler(VOCAB, temperature=0.0))
    g = fw.generate(b'a', n_steps=0, temperature=0.0)
    assert g.end == 'context' and g.text == text


def test_eos_end(fw, tmp_path):
    """Sampling on a model with a strong EOS row: find a seed for which the
    oracle stops on EOS before the context ends; the device must stop there
    too, without emitting anything for EOS."""
    w = testmodels.random_model(GEN_CONFIG, seed=9, tied=False)
    w['cls'][2] *= 3.0
    m = write_model(tmp_path, GEN_CONFIG, weights=w, tokenizer=GEN_TOK, name='eos.bin')
    tok = Tokenizer(GEN_TOK, VOCAB)
    ref = m.oracle()
    for seed in range(1, 200):
        text, tokens = oracle.generate(ref, tok, 'once', 0, Sampler(VOCAB, temperature=1.0, top_p=0.0, seed=seed))
        if len(tokens) < GEN_CONFIG.seq_len + 1 and len(tokens) > 4:
            break
    else:
        pytest.fail('no seed ends with EOS; the model was meant to make that likely')
    fw.load(m.path)
    g = fw.generate(b'once', temperature=1.0, top_p=0.0, seed=seed)
    assert g.status == 'LLM_OK' and g.end == 'eos'
    assert g.text == text
    assert g.n_generated == len(tokens) - g.n_prompt


def prompt_with_tokens(tok: Tokenizer, n: int) -> bytes:
    """A prompt whose encoding (with BOS) has exactly n tokens: BOS, the
    dummy-prefix space, then byte-fallback tokens of 2-byte (e-acute) and
    3-byte (euro sign) characters the synthetic vocabulary lacks."""
    for b in range(3):
        a, odd = divmod(n - 2 - 3 * b, 2)
        if a >= 0 and not odd:
            p = ('\u00e9' * a + '\u20ac' * b).encode()
            assert len(tok.encode(p, True, False)) == n
            return p
    raise AssertionError(f'no prompt with {n} tokens')


def test_prompt_too_long(fw, tmp_path):
    m = no_eos_model(tmp_path)
    tok = Tokenizer(GEN_TOK, VOCAB)
    fits, too_long = prompt_with_tokens(tok, 16), prompt_with_tokens(tok, 17)
    fw.load(m.path)
    g = fw.generate(too_long, temperature=0.0)
    assert g.status == 'LLM_ERR_PROMPT_TOO_LONG'
    g = fw.generate(fits, temperature=0.0)
    assert g.status == 'LLM_OK' and g.end == 'context' and g.n_prompt == 16 and g.n_generated == 1
    # The allocated context, not the model's, is the limit.
    assert fw.init(8).ok
    assert fw.generate(prompt_with_tokens(tok, 9), temperature=0.0).status == 'LLM_ERR_PROMPT_TOO_LONG'
    assert fw.generate(prompt_with_tokens(tok, 8), temperature=0.0).status == 'LLM_OK'


@pytest.mark.parametrize('prompt', [b'Once \xff upon', b'abc\xc3', b'\xed\xa0\x80', b'\xc0\xaf'])
def test_invalid_utf8_prompt(story_fw, prompt):
    g = story_fw.generate(prompt, n_steps=20, temperature=0.0)
    assert g.status == 'LLM_ERR_UTF8'
    assert g.pieces == 0


def test_bad_stop_strings(story_fw):
    info = story_fw.info()
    max_stops, max_len = int(info['max_stops']), int(info['max_stop_len'])
    assert story_fw.generate(PROMPT, n_steps=10, stops=[b'']).status == 'LLM_ERR_ARG'
    assert story_fw.generate(PROMPT, n_steps=10, stops=[b'x' * (max_len + 1)]).status == 'LLM_ERR_ARG'
    too_many = [b'q%d' % i for i in range(max_stops + 1)]
    assert story_fw.generate(PROMPT, n_steps=10, stops=too_many).status == 'LLM_ERR_ARG'
    # The limits themselves are accepted.
    ok = story_fw.generate(PROMPT, n_steps=10, temperature=0.0,
                           stops=[b'x' * max_len] + [b'q%d' % i for i in range(max_stops - 1)])
    assert ok.status == 'LLM_OK' and ok.end == 'budget'


def test_generate_without_tokenizer(fw, tmp_path):
    m = write_model(tmp_path, GEN_CONFIG, seed=3)
    fw.load(m.path)
    assert fw.generate(b'hi', n_steps=5).status == 'LLM_ERR_NO_TOKENIZER'


def test_generate_twice_same_result(story_fw):
    """llm_generate restarts at position 0: a second run repeats the first."""
    a = story_fw.generate(PROMPT, n_steps=60, temperature=0.8, seed=5)
    b = story_fw.generate(PROMPT, n_steps=60, temperature=0.8, seed=5)
    assert a.text == b.text and a.end == b.end
    assert a.n_generated > 0
