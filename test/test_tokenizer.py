"""llm_encode / llm_decode on the device against the Python oracle
(llmtools.tokenizer, which follows llama2.c run.c), with the trained
tok512.bin and with a synthetic tokenizer embedded in a generated blob;
invalid UTF-8, too-small token buffers and tokenizer mismatches."""
import numpy as np
import pytest
from llmtools import testmodels
from llmtools.blob import Config
from llmtools.tokenizer import Tokenizer

from helpers.models import write_model

TEXTS = {
    'ascii': b'Once upon a time',
    'ascii_punct': b'Hello, world! 123 (x+y)=z; "quoted" it\'s',
    'sentence': b'The quick brown fox jumps over the lazy dog. Lily and Tim went to the park.',
    'latin1': 'h\u00e9llo w\u00f6rld, na\u00efve caf\u00e9'.encode(),
    'cjk': '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8'.encode(),
    'cyrillic': '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440'.encode(),
    'emoji': '\U0001f642 ok \U0001f680!'.encode(),
    'emoji_zwj': '\U0001f469\u200d\U0001f4bb'.encode(),
    'spaces': b'a  b   c    d',
    'tabs_newlines': b'\t\tx\n\ny \r\n z',
    'only_spaces': b'   ',
    'one_space': b' ',
    'newline': b'\n',
    'trailing': b'end  ',
    'single': b'a',
    # 'll' merges at two overlapping places with the same score: the first wins.
    'tie_repeats': b'xlll alll illll oooo ppppp',
    'empty': b'',
    'random_ascii': bytes(np.random.default_rng(7).integers(32, 127, 600, dtype=np.uint8)),
}

BOS_EOS = [(True, False), (False, False), (True, True), (False, True)]

VOCAB = 420
SYN_CONFIG = Config(dim=16, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1,
                    vocab_size=VOCAB, seq_len=32)


@pytest.fixture
def tok512(fw, stories):
    """stories260K with tok512.bin as external tokenizer, and its oracle."""
    fw.load(stories.model_path, tok=stories.tok_path)
    return stories.tokenizer


@pytest.fixture
def synthetic(fw, tmp_path):
    """A generated blob with an embedded synthetic tokenizer, and its oracle."""
    tok = testmodels.synthetic_tokenizer(VOCAB, seed=3)
    m = write_model(tmp_path, SYN_CONFIG, seed=2, tokenizer=tok)
    r = fw.model(m.path)
    assert r.ok and r.int('tokenizer') == len(tok), r
    assert fw.init(0).ok
    return Tokenizer(tok, VOCAB)


@pytest.fixture(params=['tok512', 'synthetic'])
def tokenizer(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize('name', TEXTS)
def test_encode_matches_oracle(fw, tokenizer, name):
    text = TEXTS[name]
    for bos, eos in BOS_EOS:
        status, ids = fw.encode(text, bos, eos)
        assert status == 'LLM_OK'
        want = tokenizer.encode(text, bos, eos)
        assert ids == want, f'bos={bos} eos={eos}: device {ids}, oracle {want}'


def test_encode_long_text(fw, tokenizer):
    """A long text with many merges; also exercises the merge scratch buffer."""
    text = (TEXTS['sentence'] + b' ' + TEXTS['latin1'] + b'  ') * 12
    status, ids = fw.encode(text, True, True, max_tokens=len(text) + 3)
    assert status == 'LLM_OK'
    assert ids == tokenizer.encode(text, True, True)


def test_encode_uses_merges(fw, tokenizer):
    """Guard against a vacuous oracle match: merges must shorten typical text."""
    text = TEXTS['sentence']
    status, ids = fw.encode(text, False, False)
    assert status == 'LLM_OK' and len(ids) < len(text) * 0.8


def test_decode_matches_oracle(fw, tokenizer):
    n = tokenizer.vocab_size
    pairs = [(1, t) for t in range(n)] + [(5, t) for t in range(n)] + [(t, (t * 7) % n) for t in range(n)]
    got = fw.decode(pairs)
    for (prev, t), piece in zip(pairs, got):
        assert piece == tokenizer.decode(prev, t), f'decode({prev}, {t})'


def test_decode_roundtrip_ascii(fw, tokenizer):
    """Decoding the ids of a text gives the text back (dummy prefix dropped after BOS)."""
    text = TEXTS['sentence']
    status, ids = fw.encode(text, True, False)
    assert status == 'LLM_OK'
    pieces = fw.decode(zip(ids[:-1], ids[1:]))
    assert b''.join(pieces) == text


INVALID_UTF8 = {
    'lone_continuation': b'ab\x80cd',
    'ff_byte': b'\xff',
    'fe_byte': b'x\xfe',
    'truncated_2byte_end': b'abc\xc3',
    'truncated_3byte_mid': b'\xe6\x97 ok',
    'truncated_4byte': b'\xf0\x9f\x99',
    'overlong_slash': b'\xc0\xaf',
    'overlong_3byte': b'\xe0\x80\xaf',
    'surrogate': b'\xed\xa0\x80',
    'above_max_codepoint': b'\xf4\x90\x80\x80',
    'f5_lead': b'\xf5\x80\x80\x80',
}


@pytest.mark.parametrize('name', INVALID_UTF8)
def test_invalid_utf8(fw, tokenizer, name):
    status, _ = fw.encode(INVALID_UTF8[name], True, False)
    assert status == 'LLM_ERR_UTF8'


def test_prompt_longer_than_buffer(fw, tokenizer):
    text = TEXTS['sentence']
    for bos, eos in BOS_EOS:
        want = tokenizer.encode(text, bos, eos)
        status, ids = fw.encode(text, bos, eos, max_tokens=len(want))
        assert status == 'LLM_OK' and ids == want
        status, _ = fw.encode(text, bos, eos, max_tokens=len(want) - 1)
        assert status == 'LLM_ERR_PROMPT_TOO_LONG', f'bos={bos} eos={eos}'
    status, _ = fw.encode(b'', True, False, max_tokens=0)
    assert status == 'LLM_ERR_PROMPT_TOO_LONG'


def test_no_tokenizer(fw, tmp_path):
    m = write_model(tmp_path, SYN_CONFIG, seed=2)
    r = fw.model(m.path)
    assert r.ok and r.int('tokenizer') == 0
    i = fw.init(0)
    assert i.ok and i.int('tok_vocab') == 0
    status, _ = fw.encode(b'hello', True, False)
    assert status == 'LLM_ERR_NO_TOKENIZER'


def test_external_tokenizer_overrides_embedded(fw, tmp_path):
    """tok512-sized synthetic tokenizers differ; the external one must win."""
    emb = testmodels.synthetic_tokenizer(VOCAB, seed=3)
    ext = testmodels.synthetic_tokenizer(VOCAB, seed=11)
    m = write_model(tmp_path, SYN_CONFIG, seed=2, tokenizer=emb)
    (tmp_path / 'ext.bin').write_bytes(ext)
    text = TEXTS['sentence']
    want_emb, want_ext = Tokenizer(emb, VOCAB).encode(text, True, False), Tokenizer(ext, VOCAB).encode(text, True, False)
    assert want_emb != want_ext
    fw.load(m.path, tok=tmp_path / 'ext.bin')
    assert fw.encode(text)[1] == want_ext


def test_tokenizer_vocab_mismatch(fw, tmp_path, stories):
    """tok512.bin (512 tokens) with a 420-token model: rejected at init."""
    m = write_model(tmp_path, SYN_CONFIG, seed=2)
    assert fw.model(m.path).ok
    assert fw.tok(stories.tok_path).ok
    assert fw.init(0).status == 'LLM_ERR_TOKENIZER'


@pytest.mark.parametrize('corrupt', ['short', 'neg_len', 'len_over_max', 'extra_bytes', 'max_len_zero'])
def test_external_tokenizer_malformed(fw, tmp_path, corrupt):
    tok = bytearray(testmodels.synthetic_tokenizer(VOCAB, seed=3))
    if corrupt == 'short':
        tok = tok[:-3]
    elif corrupt == 'neg_len':
        tok[8:12] = (-5).to_bytes(4, 'little', signed=True)
    elif corrupt == 'len_over_max':
        tok[8:12] = (10 ** 6).to_bytes(4, 'little')
    elif corrupt == 'extra_bytes':
        tok += b'\0' * 12
    elif corrupt == 'max_len_zero':
        tok[0:4] = bytes(4)
    m = write_model(tmp_path, SYN_CONFIG, seed=2)
    (tmp_path / 'bad_tok.bin').write_bytes(bytes(tok))
    assert fw.model(m.path).ok
    assert fw.tok(tmp_path / 'bad_tok.bin').ok
    assert fw.init(0).status == 'LLM_ERR_TOKENIZER'
