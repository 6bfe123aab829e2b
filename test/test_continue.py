"""Conversations on the device: llm_continue carries on from where the
context stands (KV cache kept, only the new tokens run), llm_append_text
and llm_chat_append queue text as the Python tokenizer encodes it, and the
chat templates render the Llama 2 and Zephyr formats."""
import pytest
from llmtools.tokenizer import BOS, EOS

from helpers.firmware import FirmwareError

PROMPT = b'Once upon a time'


@pytest.fixture
def story_fw(fw, stories):
    fw.load(stories.model_path, tok=stories.tok_path)
    return fw


def test_continue_equals_one_long_generation(story_fw):
    whole = story_fw.generate(PROMPT, n_steps=120, temperature=0.0)
    first = story_fw.generate(PROMPT, n_steps=50, temperature=0.0)
    assert first.end == 'budget'
    n_past, n_queued, _ = story_fw.position()
    assert (n_past, n_queued) == (50, 1)  # the last sampled token waits
    rest = story_fw.cont(n_steps=70)
    assert rest.status == 'LLM_OK' and rest.end == 'budget'
    assert rest.n_prompt == 1  # only the waiting token is run again
    assert first.text + rest.text == whole.text
    assert story_fw.position()[:2] == (120, 1)


def test_continue_max_new(story_fw):
    story_fw.generate(PROMPT, n_steps=10, temperature=0.0)
    r = story_fw.cont(max_new=7)
    assert r.end == 'budget' and r.n_generated == 7 and r.pieces == 7
    assert story_fw.position()[:2] == (17, 1)


def test_continue_appends_text_without_bos(story_fw, stories):
    tok = stories.tokenizer
    story_fw.generate(PROMPT, n_steps=12, temperature=0.0)
    _, _, before = story_fw.position()
    r = story_fw.cont(b' The dog', max_new=5, echo=True)
    assert r.status == 'LLM_OK', r.reply
    new = tok.encode(' The dog', False, False, prefix=False)
    assert BOS not in new
    assert r.n_prompt == 1 + len(new)
    _, _, after = story_fw.position()
    assert after[:len(before)] == before
    assert after[len(before):len(before) + len(new)] == new
    assert r.text.startswith(b' The dog')  # echo: this prompt's pieces only


def test_continue_on_an_empty_context(story_fw, stories):
    """A prompt on an empty context: the dummy prefix, no BOS."""
    story_fw.position(reset=True)
    r = story_fw.cont(b'Lily', max_new=3)
    assert r.status == 'LLM_OK'
    want = stories.tokenizer.encode('Lily', False, False)
    tokens = story_fw.position()[2]
    assert tokens[:len(want)] == want and len(tokens) == len(want) + r.n_generated
    story_fw.position(reset=True)
    assert story_fw.cont().status == 'LLM_ERR_ARG'  # nothing to continue from


def test_append_text_queues_and_forward_clears(story_fw, stories):
    story_fw.position(reset=True)
    r = story_fw.append(b'Hello', bos=True, eos=True)
    assert r.ok
    want = stories.tokenizer.encode('Hello', True, True)
    assert story_fw.position() == (0, len(want), want)
    story_fw.forward(BOS, 0)  # the low-level step: the context is what it ran
    assert story_fw.position() == (1, 0, [BOS])


def test_append_too_long_leaves_the_queue(fw, stories):
    fw.load(stories.model_path, tok=stories.tok_path, seq_len=16)
    fw.generate(PROMPT, n_steps=6, temperature=0.0)
    before = fw.position()
    assert fw.append(b' and then the little girl went to the park to play with her ball').status == \
        'LLM_ERR_PROMPT_TOO_LONG'
    assert fw.position() == before
    assert fw.chat('llama2', b'tell me a long story about a dog and a cat in the park').status == \
        'LLM_ERR_PROMPT_TOO_LONG'
    assert fw.position() == before


def llama2_first(tok, system, user):
    text = (f'[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]' if system
            else f'[INST] {user} [/INST]')
    return tok.encode(text, True, False)


@pytest.mark.parametrize('system', [None, 'You are a storyteller.'])
def test_llama2_template(story_fw, stories, system):
    tok = stories.tokenizer
    story_fw.position(reset=True)
    r = story_fw.chat('llama2', b'Tell me a story.', None if system is None else system.encode())
    assert r.ok, r
    first = llama2_first(tok, system, 'Tell me a story.')
    assert story_fw.position() == (0, len(first), first)
    reply = story_fw.cont(max_new=20)
    assert reply.status == 'LLM_OK' and reply.n_prompt == len(first)
    n_past, n_queued, tokens = story_fw.position()
    # The second turn: the reply closed by EOS (added unless the model ended
    # with it), then a new BOS [INST] sequence; the first turn is not run again.
    r = story_fw.chat('llama2', b'And then?')
    assert r.ok, r
    _, _, after = story_fw.position()
    turn = tok.encode('[INST] And then? [/INST]', True, False)
    closing = [] if tokens[-1] == EOS else [EOS]
    assert after == tokens + closing + turn
    second = story_fw.cont(max_new=10)
    assert second.status == 'LLM_OK'
    assert second.n_prompt == n_queued + len(closing) + len(turn)


@pytest.mark.parametrize('system', [None, 'Be kind.'])
def test_zephyr_template(story_fw, stories, system):
    tok = stories.tokenizer
    story_fw.position(reset=True)
    r = story_fw.chat('zephyr', b'Hi there', None if system is None else system.encode())
    assert r.ok, r
    want = [BOS]
    if system:
        want += tok.encode(f'<|system|>\n{system}', False, True)
        want += tok.encode('\n<|user|>\nHi there', False, True, prefix=False)
    else:
        want += tok.encode('<|user|>\nHi there', False, True)
    want += tok.encode('\n<|assistant|>\n', False, False, prefix=False)
    assert story_fw.position()[2] == want
    story_fw.cont(max_new=5)
    _, _, tokens = story_fw.position()
    assert story_fw.chat('zephyr', b'More').ok
    closing = [] if tokens[-1] == EOS else [EOS]
    turn = tok.encode('\n<|user|>\nMore', False, True, prefix=False) + \
        tok.encode('\n<|assistant|>\n', False, False, prefix=False)
    assert story_fw.position()[2] == tokens + closing + turn


def test_unknown_template(story_fw):
    with pytest.raises(FirmwareError, match='template'):
        story_fw.chat('chatml', b'hi')


def test_second_turn_runs_only_its_own_tokens(story_fw, stories):
    """The point of keeping the cache: a second turn runs its own tokens
    only, while llm_generate over the whole conversation runs them all."""
    story_fw.position(reset=True)
    assert story_fw.chat('llama2', b'Tell me a story about a dog.', b'You tell stories.').ok
    story_fw.cont(max_new=40)
    assert story_fw.chat('llama2', b'What happened next?').ok
    n_past, n_queued, _ = story_fw.position()
    r = story_fw.cont(max_new=5)
    assert r.n_prompt == n_queued and n_queued < n_past


def test_recompute_equals_the_kept_cache(story_fw):
    """llm_ctx_recompute queues the whole context again: the same reply,
    bit for bit, after a full prefill instead of the kept cache."""
    def conversation():
        story_fw.position(reset=True)
        assert story_fw.chat('llama2', b'Tell me a story.', b'You tell stories.').ok
        story_fw.cont(max_new=30)
        assert story_fw.chat('llama2', b'And then?').ok
        return story_fw.position()

    n_past, n_queued, tokens = conversation()
    kept = story_fw.cont(max_new=20)
    assert conversation() == (n_past, n_queued, tokens)
    assert story_fw.position(recompute=True) == (0, n_past + n_queued, tokens)
    again = story_fw.cont(max_new=20)
    assert again.n_prompt == n_past + n_queued and kept.n_prompt == n_queued
    assert again.text == kept.text and again.n_generated == kept.n_generated
