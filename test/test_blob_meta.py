"""Blob metadata on the device: the library reads back, through
llm_model_meta / _count / _at, exactly the pairs llmtools wrote (and what
llm-convert fills in); a version-1 blob written before metadata existed and
a llama2.c checkpoint open with none and BOS/EOS 1 and 2; BOS/EOS ids named
by the metadata drive llm_encode, llm_decode and llm_generate. Malformed
records are in test_blob_errors.py."""
import hashlib

import numpy as np
import pytest
from llmtools import blob as B
from llmtools import cli, testmodels
from llmtools.blob import Config
from llmtools.tokenizer import Tokenizer

from helpers.firmware import FirmwareError, bytes_hex, parse_hex
from helpers.models import write_model

CONFIG = Config(dim=16, hidden_dim=24, n_layers=2, n_heads=2, n_kv_heads=1, vocab_size=400, seq_len=16)
TOK = testmodels.synthetic_tokenizer(CONFIG.vocab_size, seed=7)

# The bytes llmtools.blob.write_blob wrote before metadata existed (commit
# 6adc4a4) for V1_CONFIG, random_model(seed 3, tied), no tokenizer: the
# model is regenerated, not stored, and pinned by the hash of those bytes.
V1_CONFIG = Config(dim=8, hidden_dim=12, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=32, seq_len=4)
V1_SHA256 = 'd828cc89093d33fee4534eafce154bef5cde201e070ce6a0fb6313a55b80c402'


FULL = {
    'name': 'tiny-llama ✓',
    'source': 'models/tiny.bin',
    'source_sha256': hashlib.sha256(b'tiny').hexdigest(),
    'bos_id': '1',
    'eos_id': '2',
    'chat_template': 'zephyr',
    'train_ctx': '16',
    'recipe': 'weights=q4 group_size=32 override=tok_emb=q8',
    'note.empty': '',
    'emoji_2': '🙂 ünïcode\ttab',
}


def listing(fw) -> dict:
    """The firmware's meta listing as {key: value}, checking its invariants."""
    r = fw.command('meta')
    assert r.ok and r.fields['nul'] == '1' and r.fields['past_end'] == 'LLM_ERR_ARG', r
    n = r.int('count')
    if n == 0:
        assert r.fields['keys'] == r.fields['values'] == r.fields['lens'] == '-', r
        return {}
    keys = [parse_hex(k).decode() for k in r.fields['keys'].split(',')]
    values = [parse_hex(v) for v in r.fields['values'].split(',')]
    lens = [int(x) for x in r.fields['lens'].split(',')]
    assert len(keys) == len(values) == len(lens) == n and [len(v) for v in values] == lens, r
    return dict(zip(keys, (v.decode() for v in values)))


def lookup(fw, key: str):
    r = fw.command(f'meta {bytes_hex(key.encode())}')
    if r.status == 'LLM_ERR_NOT_FOUND':
        return None
    assert r.ok and r.fields['nul'] == '1', r
    value = parse_hex(r.fields['value'])
    assert len(value) == r.int('len')
    return value.decode()


def open_blob(fw, tmp_path, metadata, name='meta.bin', tokenizer=TOK, seed=1, config=CONFIG):
    w = testmodels.random_model(config, seed, tied=True)
    path = tmp_path / name
    path.write_bytes(B.write_blob(config, w, tokenizer, metadata=metadata))
    r = fw.model(path)
    assert r.ok, r
    return r, path


def test_read_back_every_pair(fw, tmp_path):
    r, path = open_blob(fw, tmp_path, FULL)
    assert r.int('meta') == len(FULL) and r.int('bos') == 1 and r.int('eos') == 2
    got = listing(fw)
    assert got == FULL and list(got) == list(FULL)  # blob order kept
    for key, value in FULL.items():
        assert lookup(fw, key) == value
    assert lookup(fw, 'nam') is None and lookup(fw, 'name_') is None and lookup(fw, 'NAME') is None
    assert B.read_blob(path.read_bytes()).metadata == FULL


def test_read_back_limits(fw, tmp_path):
    """64 pairs, a 64-byte key, a long value, int values written as decimals."""
    meta = {f'k{i}': f'value {i}' for i in range(61)}
    meta['k' * 64] = 'x' * 3000
    meta['bos_id'] = 7
    meta['eos_id'] = 0
    assert len(meta) == B.META_MAX_PAIRS
    r, _ = open_blob(fw, tmp_path, meta)
    assert r.int('meta') == 64 and r.int('bos') == 7 and r.int('eos') == 0
    assert listing(fw) == {k: str(v) for k, v in meta.items()}
    assert lookup(fw, 'k' * 64) == 'x' * 3000


def test_v1_blob_from_before_metadata_opens(fw, tmp_path):
    w = testmodels.random_model(V1_CONFIG, 3, tied=True)
    data = B.write_blob(V1_CONFIG, w)
    # Today's writer without metadata writes the old bytes exactly.
    assert hashlib.sha256(data).hexdigest() == V1_SHA256
    assert B.write_blob(V1_CONFIG, w, metadata={}) == data
    assert B.KIND_METADATA not in {e['kind'] for e in B.tensor_table(data)}
    path = tmp_path / 'v1_no_meta.llmb'
    path.write_bytes(data)
    r = fw.model(path)
    assert r.ok and r.int('format') == 2 and r.int('meta') == 0, r
    assert r.int('bos') == 1 and r.int('eos') == 2
    assert listing(fw) == {} and lookup(fw, 'name') is None
    assert fw.init(0).ok and fw.forward(1, 0)[0] == 'LLM_OK'
    contents = B.read_blob(data)
    assert contents.metadata == {} and contents[2] is None


def test_llama2c_checkpoint_has_no_metadata(fw, tmp_path):
    m = write_model(tmp_path, CONFIG, seed=2, fmt='legacy')
    r = fw.model(m.path)
    assert r.ok and r.int('format') == 1 and r.int('meta') == 0 and r.int('bos') == 1 and r.int('eos') == 2
    assert listing(fw) == {} and lookup(fw, 'bos_id') is None


BOS, EOS = 5, 6  # the byte tokens <0x02>, <0x03> stand in for a model's own specials


def test_metadata_ids_drive_encode_and_decode(fw, tmp_path):
    open_blob(fw, tmp_path, {'bos_id': str(BOS), 'eos_id': str(EOS)})
    assert fw.init(0).ok
    oracle = Tokenizer(TOK, CONFIG.vocab_size, bos_id=BOS, eos_id=EOS)
    for text in ('the cat sat', 'x', ''):
        status, ids = fw.encode(text.encode(), bos=True, eos=True)
        assert status == 'LLM_OK' and ids == oracle.encode(text, True, True)
        assert ids[0] == BOS and ids[-1] == EOS
        assert 1 not in ids and 2 not in ids
    # The leading space is dropped after the model's BOS, no longer after 1.
    spaced = next(i for i, t in enumerate(oracle.vocab) if len(t) > 1 and t[:1] == b' ')
    text = oracle.vocab[spaced]
    assert fw.decode([(BOS, spaced), (1, spaced), (EOS, spaced)]) == [text[1:], text, text]


def test_metadata_eos_ends_generation(fw, tmp_path):
    """Greedy generation from an empty prompt stops at the metadata's EOS id
    when that is the token the model picks first, not at 1 or 2."""
    open_blob(fw, tmp_path, {'bos_id': str(BOS)}, name='probe.bin')
    assert fw.init(0).ok
    status, logits = fw.forward(BOS, 0)
    first = int(np.argmax(logits))
    assert status == 'LLM_OK' and first not in (1, 2, BOS), first
    g = fw.generate(b'', n_steps=8)
    assert g.status == 'LLM_OK' and g.n_prompt == 1 and g.n_generated >= 1 and g.end != 'eos', g.reply

    open_blob(fw, tmp_path, {'bos_id': str(BOS), 'eos_id': str(first)}, name='eos.bin')
    assert fw.init(0).ok
    g = fw.generate(b'', n_steps=8)
    assert g.status == 'LLM_OK' and g.end == 'eos' and g.n_generated == 0 and g.text == b'', g.reply


def test_convert_fills_metadata_the_library_reads(fw, tmp_path, stories, capsys):
    out = tmp_path / 'stories260K.llmb'
    assert cli.convert_main([str(stories.model_path), '-t', str(stories.tok_path), '-o', str(out),
                             '--no-progress', '--meta', 'chat_template=llama2',
                             '--meta', 'name=stories-260k']) == 0
    capsys.readouterr()
    r = fw.model(out)
    assert r.ok and r.int('bos') == 1 and r.int('eos') == 2, r
    got = listing(fw)
    assert got == {
        'name': 'stories-260k',
        'source': 'stories260K.bin',
        'source_sha256': hashlib.sha256(stories.model_path.read_bytes()).hexdigest(),
        'bos_id': '1',
        'eos_id': '2',
        'train_ctx': '512',
        'recipe': 'weights=f32',
        'chat_template': 'llama2',
    }
    assert r.int('meta') == len(got)


CHAT_CONFIG = Config(dim=16, hidden_dim=24, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=400,
                     seq_len=256)  # room for a templated turn


@pytest.mark.parametrize('named', ['llama2', 'zephyr'])
def test_metadata_names_the_chat_template(fw, tmp_path, named):
    """llm_chat_template_of: a chat turn with the template the metadata
    names renders exactly as with that template chosen by name."""
    open_blob(fw, tmp_path, {'chat_template': named}, config=CHAT_CONFIG)
    assert fw.init(0).ok
    turns = {}
    for which in ('model', named):
        fw.position(reset=True)
        assert fw.chat(which, b'Hi there', b'Be brief.').ok
        turns[which] = fw.position()[2]
    assert turns['model'] == turns[named] and len(turns[named]) > 4
    other = 'zephyr' if named == 'llama2' else 'llama2'
    fw.position(reset=True)
    assert fw.chat(other, b'Hi there', b'Be brief.').ok
    assert fw.position()[2] != turns[named]


@pytest.mark.parametrize('metadata', [{}, {'chat_template': 'chatml'}], ids=['none', 'unknown'])
def test_no_known_chat_template_in_metadata(fw, tmp_path, metadata):
    open_blob(fw, tmp_path, metadata, config=CHAT_CONFIG)
    assert fw.init(0).ok
    with pytest.raises(FirmwareError, match='template'):
        fw.chat('model', b'hi')
