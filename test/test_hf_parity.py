"""Hugging Face parity on the device: random LlamaForCausalLM models made by
transformers (GQA, untied, tied, dims no multiple of 4 with an odd
intermediate size), saved with save_pretrained, converted by llm-convert to
fp32 blobs and run by the firmware, against transformers' logits computed on
the host; and llm_encode on a SentencePiece BPE tokenizer trained by the
test, against transformers' LlamaTokenizer loaded from the same folder.

Logit tolerance: max |device - transformers| <= 1e-4 * max(1, max |logit|)
per position, the bound test_forward.py uses against the float32 oracle:
both sides are float32 and differ only in summation order and in their
cos/sin/exp; the NumPy oracle of the same blob is within about 3e-6 of
transformers (test/tools/test_hf.py), and q/k rows left in Hugging Face's
rotate-half order miss by about 1.

Tokenizer: transformers' Metaspace pre-tokenizer (prepend_scheme 'first')
takes a leading space as the dummy prefix, where SentencePiece and llama2.c
add one anyway. llm-convert marks a Hugging Face tokenizer with
LLM_TOK_PREFIX_UNLESS_SPACE (BLOB_FORMAT.md), and then the ids equal
transformers' for every text; with --dummy-prefix always (or as a separate
tokenizer.bin) they equal SentencePiece's.
"""
import numpy as np
import pytest
from llmtools import blob as B
from llmtools import cli

from helpers import hf_models as H

RTOL = 1e-4

TEXTS = ['', 'Once upon a time', 'Hello, world! 123 (x+y)=z; "quoted" it\'s', 'a  b   c    d', 'end  ',
         'tabs\tand\nnew lines\n\n', 'caf\u00e9 na\u00efve r\u00e9sum\u00e9',
         '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8', 'emoji \U0001f600\U0001f389 ok \U0001f680!',
         '\U0001f469\u200d\U0001f4bb', '1234567890', 'x', '\n']
LEADING = [' leading', '  two  spaces', '    indented', ' ', '   ']


def _convert(folder, out):
    assert cli.convert_main([str(folder), '-o', str(out), '--no-progress']) == 0
    return out


@pytest.fixture(scope='session')
def hf_blobs(tmp_path_factory):
    """case -> (fp32 blob path, tokens, transformers logits), once per session."""
    root = tmp_path_factory.mktemp('hf_parity')
    out = {}
    for i, case in enumerate(H.CASES):
        tokens, logits = H.make_llama(root / case, case, seed=10 + i)
        out[case] = (_convert(root / case, root / f'{case}.llmb'), tokens, logits)
    return out


@pytest.mark.parametrize('case', list(H.CASES))
def test_logits_match_transformers(fw, hf_blobs, case):
    path, tokens, logits = hf_blobs[case]
    r = fw.model(path)
    assert r.ok, r
    k = H.CASES[case]
    assert r.int('n_kv_heads') == k['num_key_value_heads']
    assert r.int('tied') == int(k['tie_word_embeddings'])
    assert fw.init(0).ok
    for pos, tok in enumerate(tokens):
        status, got = fw.forward(tok, pos)
        assert status == 'LLM_OK', f'pos {pos}: {status}'
        want = logits[pos]
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        bound = RTOL * max(1.0, float(np.max(np.abs(want))))
        assert err <= bound, f'{case} pos {pos}: max |diff| {err:.3g} > {bound:.3g}'


@pytest.fixture(scope='session')
def hf_tok(tmp_path_factory):
    """A tiny model with the trained tokenizer (tokenizer.model) embedded, by
    default (LLM_TOK_PREFIX_UNLESS_SPACE) and with --dummy-prefix always;
    transformers' tokenizer of the folder; SentencePiece's own processor."""
    import sentencepiece as spm
    root = tmp_path_factory.mktemp('hf_tok')
    spm_model = H.train_sentencepiece(root / 'spm')
    folder = H.tokenizer_folder(root / 'model', spm_model, 'model')
    H.make_llama(folder, 'tied', seed=1, vocab_size=H.SPM_VOCAB, n_pos=1)
    always = root / 'always.llmb'
    assert cli.convert_main([str(folder), '-o', str(always), '--no-progress', '--dummy-prefix', 'always']) == 0
    tok_bin = root / 'tokenizer.bin'
    tok_bin.write_bytes(B.read_blob(always.read_bytes())[2])
    return {'hf': _convert(folder, root / 'tok.llmb'), 'always': always, 'tok_bin': tok_bin,
            'theirs': H.hf_tokenizer(folder), 'sp': spm.SentencePieceProcessor(model_file=str(spm_model))}


def _open(fw, path, flags, tok=None):
    r = fw.model(path)
    assert r.ok and r.int('tokenizer') > 0 and r.int('tok_flags') == flags, r
    if tok is not None:
        assert fw.tok(tok).ok
    assert fw.init(0).ok


def test_encode_matches_transformers(fw, hf_tok):
    """The default conversion: transformers' ids for every text, those that
    begin with a space included."""
    theirs = hf_tok['theirs']
    _open(fw, hf_tok['hf'], B.TOK_PREFIX_UNLESS_SPACE)
    assert (theirs.bos_token_id, theirs.eos_token_id) == (1, 2)
    for t in TEXTS + LEADING:
        want = theirs.encode(t, add_special_tokens=False)
        status, got = fw.encode(t.encode(), bos=True, eos=False)
        assert status == 'LLM_OK' and got == [1] + want, repr(t)
        status, got = fw.encode(t.encode(), bos=False, eos=True)
        assert status == 'LLM_OK' and got == want + [2], repr(t)


@pytest.mark.parametrize('how', ['always', 'external'])
def test_encode_always_prefix_matches_sentencepiece(fw, hf_tok, how):
    """--dummy-prefix always, and the same tokenizer given as a separate
    tokenizer.bin (which never carries the flag): SentencePiece's ids, which
    differ from transformers' exactly on texts that begin with a space."""
    if how == 'always':
        _open(fw, hf_tok['always'], 0)
    else:
        _open(fw, hf_tok['hf'], B.TOK_PREFIX_UNLESS_SPACE, tok=hf_tok['tok_bin'])
    sp, theirs = hf_tok['sp'], hf_tok['theirs']
    for t in TEXTS + LEADING:
        status, got = fw.encode(t.encode(), bos=False, eos=False)
        assert status == 'LLM_OK' and got == sp.encode(t), repr(t)
    for t in LEADING:
        assert sp.encode(t) != theirs.encode(t, add_special_tokens=False)
