"""llm_model_open on corrupted model files: every blob error code of
BLOB_FORMAT.md reached by corrupting one field of a valid blob written by
llmtools (tensor_table() to find fields, fix_crc() so later checks are
reached), every malformed metadata record (each LLM_ERR_META_* code, the
record rewritten in place), legacy llama2.c checkpoint errors, truncation at
many lengths and random header/table/metadata corruption, none of which may
crash. The firmware reads
each (prefix of a) file into a buffer of exactly its size, so the sanitizer
build catches any read past the end."""
import random
import struct

import pytest
from llmtools import blob as B
from llmtools import testmodels
from llmtools.blob import Config

from helpers.models import write_model

# dim 18: norms are 72 bytes, so 8 bytes of padding follow each of them.
CONFIG = Config(dim=18, hidden_dim=20, n_layers=2, n_heads=3, n_kv_heads=1, vocab_size=280, seq_len=8)
TOK = testmodels.synthetic_tokenizer(CONFIG.vocab_size, seed=5)

H = B.HEADER_OFFSETS
E = B.ENTRY_OFFSETS

ALL_STATUSES = {
    'LLM_OK', 'LLM_ERR_ARG', 'LLM_ERR_TRUNCATED', 'LLM_ERR_SIZE', 'LLM_ERR_MAGIC', 'LLM_ERR_VERSION',
    'LLM_ERR_CHECKSUM', 'LLM_ERR_DIMS', 'LLM_ERR_TENSOR_TABLE', 'LLM_ERR_DTYPE', 'LLM_ERR_SHAPE',
    'LLM_ERR_BOUNDS', 'LLM_ERR_ALIGN', 'LLM_ERR_TOKENIZER', 'LLM_ERR_META_TRUNCATED',
    'LLM_ERR_META_VERSION', 'LLM_ERR_META_COUNT', 'LLM_ERR_META_KEY', 'LLM_ERR_META_TERMINATOR',
    'LLM_ERR_META_VALUE', 'LLM_ERR_META_DUPLICATE', 'LLM_ERR_META_TRAILING', 'LLM_ERR_META_TOKEN_ID',
}


@pytest.fixture(scope='module')
def valid(tmp_path_factory):
    d = tmp_path_factory.mktemp('blob')
    m = write_model(d, CONFIG, seed=1, tied=False, tokenizer=TOK)
    return m.path.read_bytes()


@pytest.fixture(scope='module')
def valid_legacy(tmp_path_factory):
    d = tmp_path_factory.mktemp('legacy')
    return write_model(d, CONFIG, seed=1, tied=False, fmt='legacy').path.read_bytes()


def entry(data, kind, layer=0):
    for e in B.tensor_table(data):
        if e['kind'] == kind and e['layer'] == layer:
            return e
    raise KeyError((kind, layer))


def put(data: bytearray, off: int, fmt: str, value):
    struct.pack_into('<' + fmt, data, off, value)


def hdr(field, fmt, value):
    return lambda d: put(d, H[field], fmt, value)


def ent(kind, field, fmt, value, layer=0):
    def f(d):
        e = entry(d, kind, layer)
        v = value(e) if callable(value) else value
        put(d, e['entry_offset'] + E[field], fmt, v)
    return f


def last_entry(field, fmt, value):
    def f(d):
        e = B.tensor_table(d)[-1]
        put(d, e['entry_offset'] + E[field], fmt, value(e) if callable(value) else value)
    return f


def seq(*fs):
    def f(d):
        for g in fs:
            g(d)
    return f


def flip_payload(d):
    e = entry(d, B.KIND_W2, 1)
    d[e['offset'] + 5] ^= 0x40


def pad_byte(d):
    e = entry(d, B.KIND_ATTN_NORM, 0)
    d[e['offset'] + e['nbytes'] + 3] = 1


def move_into_padding(d):
    e = entry(d, B.KIND_ATTN_NORM, 0)
    put(d, e['entry_offset'] + E['offset'], 'I', e['offset'] + 4)


def overlap_wk(d):
    """wv moved onto wk (same size); its old bytes zeroed, so only the
    overlap check (not the padding check) can see it."""
    wk, wv = entry(d, B.KIND_WK, 1), entry(d, B.KIND_WV, 1)
    d[wv['offset']:wv['offset'] + wv['nbytes']] = bytes(wv['nbytes'])
    put(d, wv['entry_offset'] + E['offset'], 'I', wk['offset'])


def tok_record_len(value):
    def f(d):
        e = entry(d, B.KIND_TOKENIZER)
        put(d, e['offset'] + 8, 'i', value)  # token 0: f32 score, i32 len
    return f


F32_NAN = float('nan')

# name -> (mutation of a bytearray, recompute CRC, expected status)
CASES = {
    # TRUNCATED: shorter than the header or than total_size
    'total_size_past_end': (hdr('total_size', 'I', 0), False, None),  # replaced below
    'version_2': (hdr('version', 'H', 2), True, 'LLM_ERR_VERSION'),
    # An unknown version is reported before its total_size is trusted.
    'version_2_truncated': (lambda d: (hdr('version', 'H', 2)(d), d.__delitem__(slice(-32, None))), False,
                            'LLM_ERR_VERSION'),
    'header_size_48': (hdr('header_size', 'H', 48), True, 'LLM_ERR_VERSION'),
    'flags_set': (hdr('flags', 'I', 1), True, 'LLM_ERR_VERSION'),
    'magic_other': (lambda d: d.__setitem__(slice(0, 4), b'LLMX'), True, 'LLM_ERR_MAGIC'),
    'magic_gguf': (lambda d: d.__setitem__(slice(0, 4), b'GGUF'), True, 'LLM_ERR_MAGIC'),
    'magic_ak42': (lambda d: d.__setitem__(slice(0, 4), struct.pack('<I', 0x616B3432)), True, 'LLM_ERR_MAGIC'),
    # CHECKSUM: any changed byte without a new CRC, header fields included
    'crc_payload_byte': (flip_payload, False, 'LLM_ERR_CHECKSUM'),
    'crc_field': (lambda d: put(d, H['crc32'], 'I', B.stored_crc(d) ^ 1), False, 'LLM_ERR_CHECKSUM'),
    'crc_dim_changed': (hdr('dim', 'I', 20), False, 'LLM_ERR_CHECKSUM'),
    'crc_tokenizer_byte': (tok_record_len(3), False, 'LLM_ERR_CHECKSUM'),
    # DIMS
    'dim_0': (hdr('dim', 'I', 0), True, 'LLM_ERR_DIMS'),
    'dim_huge': (hdr('dim', 'I', 65536 * 3), True, 'LLM_ERR_DIMS'),
    'hidden_0': (hdr('hidden_dim', 'I', 0), True, 'LLM_ERR_DIMS'),
    'layers_0': (hdr('n_layers', 'I', 0), True, 'LLM_ERR_DIMS'),
    'layers_too_many': (hdr('n_layers', 'I', 257), True, 'LLM_ERR_DIMS'),
    'heads_0': (hdr('n_heads', 'I', 0), True, 'LLM_ERR_DIMS'),
    'heads_not_dividing_dim': (hdr('n_heads', 'I', 4), True, 'LLM_ERR_DIMS'),
    'head_size_odd': (hdr('n_heads', 'I', 18), True, 'LLM_ERR_DIMS'),
    'kv_heads_0': (hdr('n_kv_heads', 'I', 0), True, 'LLM_ERR_DIMS'),
    'kv_heads_not_dividing': (hdr('n_kv_heads', 'I', 2), True, 'LLM_ERR_DIMS'),
    'vocab_0': (hdr('vocab_size', 'I', 0), True, 'LLM_ERR_DIMS'),
    'vocab_too_big': (hdr('vocab_size', 'I', 65536), True, 'LLM_ERR_DIMS'),
    'seq_0': (hdr('seq_len', 'I', 0), True, 'LLM_ERR_DIMS'),
    'seq_too_big': (hdr('seq_len', 'I', 65537), True, 'LLM_ERR_DIMS'),
    'theta_0': (hdr('rope_theta', 'f', 0.0), True, 'LLM_ERR_DIMS'),
    'theta_negative': (hdr('rope_theta', 'f', -10000.0), True, 'LLM_ERR_DIMS'),
    'theta_nan': (hdr('rope_theta', 'f', F32_NAN), True, 'LLM_ERR_DIMS'),
    'theta_inf': (hdr('rope_theta', 'f', float('inf')), True, 'LLM_ERR_DIMS'),
    'eps_0': (hdr('norm_eps', 'f', 0.0), True, 'LLM_ERR_DIMS'),
    'eps_nan': (hdr('norm_eps', 'f', F32_NAN), True, 'LLM_ERR_DIMS'),
    # TENSOR_TABLE
    'n_tensors_0': (hdr('n_tensors', 'I', 0), True, 'LLM_ERR_TENSOR_TABLE'),
    'n_tensors_too_many': (hdr('n_tensors', 'I', 9 * 2 + 6), True, 'LLM_ERR_TENSOR_TABLE'),
    'table_offset_80': (hdr('table_offset', 'I', 80), True, 'LLM_ERR_TENSOR_TABLE'),
    'kind_0': (ent(B.KIND_WQ, 'kind', 'H', 0), True, 'LLM_ERR_TENSOR_TABLE'),
    'kind_15': (ent(B.KIND_WQ, 'kind', 'H', 15), True, 'LLM_ERR_TENSOR_TABLE'),
    'kind_99': (ent(B.KIND_FINAL_NORM, 'kind', 'H', 99), True, 'LLM_ERR_TENSOR_TABLE'),
    'layer_out_of_range': (ent(B.KIND_W1, 'layer', 'H', 2, layer=1), True, 'LLM_ERR_TENSOR_TABLE'),
    'global_kind_with_layer': (ent(B.KIND_TOK_EMB, 'layer', 'H', 1), True, 'LLM_ERR_TENSOR_TABLE'),
    'tokenizer_with_layer': (ent(B.KIND_TOKENIZER, 'layer', 'H', 1), True, 'LLM_ERR_TENSOR_TABLE'),
    'duplicate': (ent(B.KIND_WQ, 'layer', 'H', 0, layer=1), True, 'LLM_ERR_TENSOR_TABLE'),
    'reserved_nonzero': (ent(B.KIND_WV, 'reserved', '8s', b'\0\0\0\x01\0\0\0\0'), True, 'LLM_ERR_TENSOR_TABLE'),
    'missing_final_norm': (lambda d: put(d, H['n_tensors'], 'I', len(B.tensor_table(d)) - 3), True,
                           'LLM_ERR_TENSOR_TABLE'),
    # DTYPE
    'dtype_f16': (ent(B.KIND_WK, 'dtype', 'B', B.DTYPE_F16), True, 'LLM_ERR_DTYPE'),
    'dtype_unknown': (ent(B.KIND_WK, 'dtype', 'B', 9), True, 'LLM_ERR_DTYPE'),
    'dtype_u8_weight': (ent(B.KIND_W3, 'dtype', 'B', B.DTYPE_U8), True, 'LLM_ERR_DTYPE'),
    'dtype_f32_tokenizer': (ent(B.KIND_TOKENIZER, 'dtype', 'B', B.DTYPE_F32), True, 'LLM_ERR_DTYPE'),
    'group_size_on_f32': (ent(B.KIND_WO, 'group_size', 'H', 32), True, 'LLM_ERR_DTYPE'),
    # SHAPE
    'ndim_2_norm': (ent(B.KIND_FFN_NORM, 'ndim', 'B', 2), True, 'LLM_ERR_SHAPE'),
    'ndim_3': (ent(B.KIND_WQ, 'ndim', 'B', 3), True, 'LLM_ERR_SHAPE'),
    'rows_plus_1': (ent(B.KIND_WQ, 'rows', 'I', lambda e: e['rows'] + 1), True, 'LLM_ERR_SHAPE'),
    'cols_minus_1': (ent(B.KIND_W2, 'cols', 'I', lambda e: e['cols'] - 1, layer=1), True, 'LLM_ERR_SHAPE'),
    'kv_rows_as_q': (ent(B.KIND_WK, 'rows', 'I', 18), True, 'LLM_ERR_SHAPE'),
    'nbytes_plus_4': (ent(B.KIND_TOK_EMB, 'nbytes', 'I', lambda e: e['nbytes'] + 4), True, 'LLM_ERR_SHAPE'),
    'nbytes_minus_16': (ent(B.KIND_CLS, 'nbytes', 'I', lambda e: e['nbytes'] - 16), True, 'LLM_ERR_SHAPE'),
    'tokenizer_rows_0': (ent(B.KIND_TOKENIZER, 'rows', 'I', 0), True, 'LLM_ERR_SHAPE'),
    'tokenizer_nbytes_not_rows': (ent(B.KIND_TOKENIZER, 'nbytes', 'I', lambda e: e['nbytes'] - 1), True,
                                  'LLM_ERR_SHAPE'),
    # BOUNDS
    'offset_at_total': (last_entry('offset', 'I', lambda e: 0), True, None),  # replaced below
    'offset_in_table': (ent(B.KIND_TOK_EMB, 'offset', 'I', 64), True, 'LLM_ERR_BOUNDS'),
    'offset_wraps': (ent(B.KIND_WV, 'offset', 'I', 0xFFFFFFF0), True, 'LLM_ERR_BOUNDS'),
    'overlap': (overlap_wk, True, 'LLM_ERR_BOUNDS'),
    'padding_not_zero': (pad_byte, True, 'LLM_ERR_BOUNDS'),
    'total_below_header': (hdr('total_size', 'I', 48), True, 'LLM_ERR_BOUNDS'),
    'table_past_total': (hdr('total_size', 'I', 128), True, 'LLM_ERR_BOUNDS'),
    'total_not_multiple_16': (lambda d: put(d, H['total_size'], 'I', len(d) - 8), True, 'LLM_ERR_BOUNDS'),
    # ALIGN
    'offset_not_16_aligned': (move_into_padding, True, 'LLM_ERR_ALIGN'),
    # TOKENIZER
    'tokenizer_negative_len': (tok_record_len(-1), True, 'LLM_ERR_TOKENIZER'),
    'tokenizer_len_past_end': (tok_record_len(10 ** 6), True, 'LLM_ERR_TOKENIZER'),
}


def _finish(name, data):
    """Cases whose mutation needs the blob's size."""
    if name == 'total_size_past_end':
        put(data, H['total_size'], 'I', len(data) + 16)
        return 'LLM_ERR_TRUNCATED'
    if name == 'offset_at_total':
        e = B.tensor_table(data)[-1]
        put(data, e['entry_offset'] + E['offset'], 'I', len(data) - 16)
        return 'LLM_ERR_BOUNDS'
    return None


@pytest.mark.parametrize('name', CASES)
def test_blob_error(fw, tmp_path, valid, name):
    mutate, fix, want = CASES[name]
    data = bytearray(valid)
    mutate(data)
    want = _finish(name, data) or want
    if fix:
        B.fix_crc(data)
    assert bytes(data) != valid
    path = tmp_path / f'{name}.bin'
    path.write_bytes(bytes(data))
    r = fw.model(path)
    assert r.status == want, r


@pytest.mark.parametrize('name', CASES)
def test_python_reader_agrees(valid, name):
    """llmtools.blob.read_blob validates like the C reader: same code."""
    mutate, fix, want = CASES[name]
    data = bytearray(valid)
    mutate(data)
    want = _finish(name, data) or want
    if fix:
        B.fix_crc(data)
    with pytest.raises(B.BlobError) as exc:
        B.read_blob(bytes(data))
    assert exc.value.code == want


def test_valid_blob_opens(fw, tmp_path, valid):
    path = tmp_path / 'ok.bin'
    path.write_bytes(valid)
    r = fw.model(path)
    assert r.ok and r.int('format') == 2 and r.int('tokenizer') == len(TOK) and r.int('tied') == 0


def test_blob_with_tail_opens(fw, tmp_path, valid):
    """A blob inside a larger region (a flash partition): the tail is ignored."""
    path = tmp_path / 'tail.bin'
    path.write_bytes(valid + b'\xff' * 100)
    assert fw.model(path).ok


@pytest.mark.parametrize('misalign', [4, 8])
def test_blob_misaligned_in_memory(fw, tmp_path, valid, misalign):
    path = tmp_path / 'ok.bin'
    path.write_bytes(valid)
    assert fw.model(path, misalign=misalign).status == 'LLM_ERR_ALIGN'


def test_tokenizer_vocab_differs(fw, tmp_path):
    """An embedded tokenizer with more tokens than the header's vocab_size."""
    m = write_model(tmp_path, CONFIG, seed=1, tokenizer=testmodels.synthetic_tokenizer(300, seed=5))
    assert fw.model(m.path).status == 'LLM_ERR_TOKENIZER'


def truncation_lengths(total: int) -> list:
    step = max(1, total // 97)
    return sorted(set(list(range(0, 100)) + list(range(100, total, step)) + [total - 16, total - 1]))


def test_blob_truncated_everywhere(fw, tmp_path, valid):
    path = tmp_path / 'ok.bin'
    path.write_bytes(valid)
    for n in truncation_lengths(len(valid)):
        r = fw.model(path, max_bytes=n)
        assert r.status == 'LLM_ERR_TRUNCATED', f'{n} of {len(valid)} bytes: {r}'
    assert fw.model(path, max_bytes=len(valid)).ok


# ------------------------------------------------------------------ metadata

META = {'name': 'tiny', 'source': 'tiny.bin', 'bos_id': '1', 'eos_id': '2', 'recipe': 'weights=f32'}


@pytest.fixture(scope='module')
def valid_meta(tmp_path_factory):
    """The blob with a metadata record, its last tensor."""
    w = testmodels.random_model(CONFIG, 1, tied=False)
    data = B.write_blob(CONFIG, w, TOK, metadata=META)
    assert B.tensor_table(data)[-1]['kind'] == B.KIND_METADATA
    return data


def pair(key: bytes, value: bytes, klen=None, vlen=None, kterm=b'\0', vterm=b'\0') -> bytes:
    """One record pair; the lengths and terminators can be made wrong."""
    return (struct.pack('<HH', len(key) if klen is None else klen, len(value) if vlen is None else vlen)
            + key + kterm + value + vterm)


def record(*pairs, version=1, count=None, tail=b'') -> bytes:
    return struct.pack('<HH', version, len(pairs) if count is None else count) + b''.join(pairs) + tail


GOOD = (pair(b'name', b'tiny'), pair(b'recipe', b'weights=f32'))


def with_record(rec: bytes):
    """Replace the metadata tensor (the last one) by rec: its nbytes and rows,
    the blob's zero padding and total_size follow."""
    def f(d):
        e = B.tensor_table(d)[-1]
        del d[e['offset']:]
        d += rec + bytes(-len(rec) % 16)
        put(d, e['entry_offset'] + E['rows'], 'I', len(rec))
        put(d, e['entry_offset'] + E['nbytes'], 'I', len(rec))
        put(d, H['total_size'], 'I', len(d))
    return f


# name -> (record, expected status); every LLM_ERR_META_* code, each of
# BLOB_FORMAT.md's rules at least once.
META_CASES = {
    'record_2_bytes': (b'\x01\x00', 'LLM_ERR_META_TRUNCATED'),
    'pair_lengths_missing': (record(*GOOD, count=3), 'LLM_ERR_META_TRUNCATED'),
    'pair_lengths_cut': (record(*GOOD, count=3, tail=b'\x04\x00'), 'LLM_ERR_META_TRUNCATED'),
    'value_past_end': (record(GOOD[0], pair(b'recipe', b'x', vlen=40)), 'LLM_ERR_META_TRUNCATED'),
    'value_nul_missing_at_end': (record(GOOD[0], pair(b'recipe', b'x', vterm=b'')), 'LLM_ERR_META_TRUNCATED'),
    'version_0': (record(*GOOD, version=0), 'LLM_ERR_META_VERSION'),
    'version_2': (record(*GOOD, version=2), 'LLM_ERR_META_VERSION'),
    'count_0': (record(count=0), 'LLM_ERR_META_COUNT'),
    'count_0_with_pairs': (record(*GOOD, count=0), 'LLM_ERR_META_COUNT'),
    'count_65': (record(*[pair(b'k%d' % i, b'v') for i in range(65)]), 'LLM_ERR_META_COUNT'),
    'key_empty': (record(pair(b'', b'x')), 'LLM_ERR_META_KEY'),
    'key_65_bytes': (record(pair(b'k' * 65, b'x')), 'LLM_ERR_META_KEY'),
    'key_uppercase': (record(pair(b'Name', b'x')), 'LLM_ERR_META_KEY'),
    'key_digit_first': (record(pair(b'1name', b'x')), 'LLM_ERR_META_KEY'),
    'key_underscore_first': (record(pair(b'_name', b'x')), 'LLM_ERR_META_KEY'),
    'key_space': (record(pair(b'model name', b'x')), 'LLM_ERR_META_KEY'),
    'key_dash': (record(pair(b'chat-template', b'x')), 'LLM_ERR_META_KEY'),
    'key_utf8': (record(pair('nämé'.encode(), b'x')), 'LLM_ERR_META_KEY'),
    'key_not_nul_terminated': (record(pair(b'name', b'x', kterm=b'=')), 'LLM_ERR_META_TERMINATOR'),
    'value_not_nul_terminated': (record(pair(b'name', b'x', vterm=b'\n'), GOOD[1]), 'LLM_ERR_META_TERMINATOR'),
    'value_nul_inside': (record(pair(b'name', b'ti\0ny')), 'LLM_ERR_META_VALUE'),
    'value_invalid_byte': (record(pair(b'name', b'\xff')), 'LLM_ERR_META_VALUE'),
    'value_overlong': (record(pair(b'name', b'\xc0\xaf')), 'LLM_ERR_META_VALUE'),
    'value_surrogate': (record(pair(b'name', b'\xed\xa0\x80')), 'LLM_ERR_META_VALUE'),
    'value_above_10ffff': (record(pair(b'name', b'\xf4\x90\x80\x80')), 'LLM_ERR_META_VALUE'),
    'value_cut_sequence': (record(pair(b'name', 'é'.encode()[:1])), 'LLM_ERR_META_VALUE'),
    'duplicate_key': (record(GOOD[0], GOOD[1], pair(b'name', b'other')), 'LLM_ERR_META_DUPLICATE'),
    'trailing_byte': (record(*GOOD, tail=b'\0'), 'LLM_ERR_META_TRAILING'),
    'trailing_pair': (record(*GOOD, count=1), 'LLM_ERR_META_TRAILING'),
    'bos_past_vocab': (record(pair(b'bos_id', b'%d' % CONFIG.vocab_size)), 'LLM_ERR_META_TOKEN_ID'),
    'eos_past_vocab': (record(pair(b'eos_id', b'99999')), 'LLM_ERR_META_TOKEN_ID'),
    'bos_six_digits': (record(pair(b'bos_id', b'000001')), 'LLM_ERR_META_TOKEN_ID'),
    'bos_leading_zero': (record(pair(b'bos_id', b'01')), 'LLM_ERR_META_TOKEN_ID'),
    'bos_negative': (record(pair(b'bos_id', b'-1')), 'LLM_ERR_META_TOKEN_ID'),
    'eos_empty': (record(pair(b'eos_id', b'')), 'LLM_ERR_META_TOKEN_ID'),
    'eos_not_decimal': (record(pair(b'eos_id', b'0x2')), 'LLM_ERR_META_TOKEN_ID'),
    'eos_space': (record(pair(b'eos_id', b' 2')), 'LLM_ERR_META_TOKEN_ID'),
}

# The metadata tensor's table entry: the table's own codes.
META_ENTRY_CASES = {
    'meta_layer_1': (last_entry('layer', 'H', 1), 'LLM_ERR_TENSOR_TABLE'),
    'meta_twice': (ent(B.KIND_TOKENIZER, 'kind', 'H', B.KIND_METADATA), 'LLM_ERR_TENSOR_TABLE'),
    'meta_dtype_f32': (last_entry('dtype', 'B', B.DTYPE_F32), 'LLM_ERR_DTYPE'),
    'meta_group_size': (last_entry('group_size', 'H', 32), 'LLM_ERR_DTYPE'),
    'meta_ndim_2': (last_entry('ndim', 'B', 2), 'LLM_ERR_SHAPE'),
    'meta_nbytes_not_rows': (last_entry('nbytes', 'I', lambda e: e['nbytes'] + 1), 'LLM_ERR_SHAPE'),
    'meta_past_total': (last_entry('offset', 'I', lambda e: e['offset'] + 16), 'LLM_ERR_BOUNDS'),
    'meta_not_aligned': (last_entry('offset', 'I', lambda e: e['offset'] - 4), 'LLM_ERR_ALIGN'),
}


def meta_blob(valid_meta, name) -> tuple:
    data = bytearray(valid_meta)
    if name in META_CASES:
        rec, want = META_CASES[name]
        with_record(rec)(data)
    else:
        mutate, want = META_ENTRY_CASES[name]
        mutate(data)
    B.fix_crc(data)
    assert bytes(data) != valid_meta
    return bytes(data), want


def test_meta_cases_cover_every_code():
    want = {w for _, w in META_CASES.values()}
    assert want == {s for s in ALL_STATUSES if s.startswith('LLM_ERR_META_')}


@pytest.mark.parametrize('name', list(META_CASES) + list(META_ENTRY_CASES))
def test_meta_error(fw, tmp_path, valid_meta, name):
    data, want = meta_blob(valid_meta, name)
    path = tmp_path / f'{name}.bin'
    path.write_bytes(data)
    r = fw.model(path)
    assert r.status == want, r


@pytest.mark.parametrize('name', list(META_CASES) + list(META_ENTRY_CASES))
def test_meta_python_reader_agrees(valid_meta, name):
    data, want = meta_blob(valid_meta, name)
    with pytest.raises(B.BlobError) as exc:
        B.read_blob(data)
    assert exc.value.code == want


def test_meta_record_rewrite_keeps_a_valid_blob(fw, tmp_path, valid_meta):
    """with_record itself is sound: a good record written by it opens."""
    data = bytearray(valid_meta)
    with_record(record(*GOOD, pair(b'eos_id', b'7')))(data)
    B.fix_crc(data)
    path = tmp_path / 'good.bin'
    path.write_bytes(bytes(data))
    r = fw.model(path)
    assert r.ok and r.int('meta') == 3 and r.int('eos') == 7 and r.int('bos') == 1, r
    assert B.read_blob(bytes(data)).metadata == {'name': 'tiny', 'recipe': 'weights=f32', 'eos_id': '7'}


def test_meta_truncated_everywhere(fw, tmp_path, valid_meta):
    """Every cut of the record itself (nbytes shrunk with it): the count
    promises more pairs than follow."""
    e = B.tensor_table(valid_meta)[-1]
    rec = valid_meta[e['offset']:e['offset'] + e['nbytes']]
    for n in range(1, len(rec)):
        data = bytearray(valid_meta)
        with_record(rec[:n])(data)
        B.fix_crc(data)
        path = tmp_path / 'cut.bin'
        path.write_bytes(bytes(data))
        r = fw.model(path)
        assert r.status == 'LLM_ERR_META_TRUNCATED', f'{n} of {len(rec)} record bytes: {r}'


def test_meta_random_corruption_never_crashes(fw, tmp_path, valid_meta):
    """Random bytes of the record changed (CRC fixed): any status, no crash
    or sanitizer report; a blob that still opens lists its pairs."""
    rng = random.Random(99)
    e = B.tensor_table(valid_meta)[-1]
    seen = set()
    for _ in range(80):
        data = bytearray(valid_meta)
        for _ in range(rng.randint(1, 3)):
            data[e['offset'] + rng.randrange(e['nbytes'])] = rng.choice([0, 1, 0x7F, 0xFF, rng.randrange(256)])
        B.fix_crc(data)
        path = tmp_path / 'fuzz.bin'
        path.write_bytes(bytes(data))
        r = fw.model(path)
        assert r.status in ALL_STATUSES, r
        seen.add(r.status)
        if r.ok:
            m = fw.command('meta')
            assert m.ok and m.int('count') == r.int('meta'), m
    assert len(seen) >= 4, seen


# ------------------------------------------------------------------ llama2.c


def legacy_case(name, data: bytearray):
    ints = list(struct.unpack_from('<7i', data))
    fields = {'dim': 0, 'hidden_dim': 1, 'n_layers': 2, 'n_heads': 3, 'n_kv_heads': 4, 'vocab': 5, 'seq_len': 6}

    def set_field(f, v):
        ints[fields[f]] = v
        struct.pack_into('<7i', data, 0, *ints)

    if name == 'extra_bytes':
        data += b'\0' * 4
        return 'LLM_ERR_SIZE'
    if name == 'extra_float_vocab':
        set_field('vocab', -(CONFIG.vocab_size - 1))  # one row fewer expected
        return 'LLM_ERR_SIZE'
    if name == 'missing_bytes':
        del data[-4:]
        return 'LLM_ERR_TRUNCATED'
    if name == 'seq_len_bigger':
        set_field('seq_len', CONFIG.seq_len + 1)  # freq_cis tables grow
        return 'LLM_ERR_TRUNCATED'
    if name == 'dim_0':
        set_field('dim', 0)
        return 'LLM_ERR_DIMS'
    if name == 'dim_negative':
        set_field('dim', -18)
        return 'LLM_ERR_DIMS'
    if name == 'heads_not_dividing':
        set_field('n_heads', 4)
        return 'LLM_ERR_DIMS'
    if name == 'kv_heads_not_dividing':
        set_field('n_kv_heads', 2)
        return 'LLM_ERR_DIMS'
    if name == 'layers_too_many':
        set_field('n_layers', 1000)
        return 'LLM_ERR_DIMS'
    if name == 'huge_dims':
        set_field('dim', 0x7FFFFFF0)
        return 'LLM_ERR_DIMS'
    if name == 'vocab_too_big':
        set_field('vocab', 70000)
        return 'LLM_ERR_DIMS'
    raise ValueError(name)


LEGACY_CASES = ['extra_bytes', 'extra_float_vocab', 'missing_bytes', 'seq_len_bigger', 'dim_0',
                'dim_negative', 'heads_not_dividing', 'kv_heads_not_dividing', 'layers_too_many',
                'huge_dims', 'vocab_too_big']


@pytest.mark.parametrize('name', LEGACY_CASES)
def test_legacy_error(fw, tmp_path, valid_legacy, name):
    data = bytearray(valid_legacy)
    want = legacy_case(name, data)
    path = tmp_path / f'{name}.bin'
    path.write_bytes(bytes(data))
    r = fw.model(path)
    assert r.status == want, r


def test_legacy_valid_and_misaligned(fw, tmp_path, valid_legacy):
    path = tmp_path / 'legacy.bin'
    path.write_bytes(valid_legacy)
    r = fw.model(path)
    assert r.ok and r.int('format') == 1 and r.int('tied') == 0
    assert fw.model(path, misalign=2).status == 'LLM_ERR_ALIGN'


def test_legacy_truncated_everywhere(fw, tmp_path, valid_legacy):
    path = tmp_path / 'legacy.bin'
    path.write_bytes(valid_legacy)
    for n in truncation_lengths(len(valid_legacy)):
        r = fw.model(path, max_bytes=n)
        assert r.status == 'LLM_ERR_TRUNCATED', f'{n} of {len(valid_legacy)} bytes: {r}'


# ------------------------------------------------------------------ fuzz


def test_random_corruption_never_crashes(fw, tmp_path, valid):
    """Random bytes of the header, table and tokenizer changed (CRC fixed so
    the structural checks run): any status is fine, a crash or sanitizer
    report is not; a blob that still opens must run a forward pass."""
    rng = random.Random(1234)
    table_end = B.HEADER_SIZE + B.ENTRY_SIZE * len(B.tensor_table(valid))
    tok = entry(valid, B.KIND_TOKENIZER)
    regions = [(0, table_end), (tok['offset'], tok['offset'] + 64)]
    seen = set()
    for i in range(150):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            lo, hi = regions[rng.randrange(len(regions))]
            pos = rng.randrange(lo, hi)
            if pos in range(H['crc32'], H['crc32'] + 4):
                continue
            data[pos] = rng.choice([0, 1, 0xFF, 0x80, rng.randrange(256)])
        B.fix_crc(data)
        path = tmp_path / 'fuzz.bin'
        path.write_bytes(bytes(data))
        r = fw.model(path)
        assert r.status in ALL_STATUSES, r
        seen.add(r.status)
        if r.ok and fw.init(4).ok:
            status, _ = fw.forward(1, 0)
            assert status in ('LLM_OK', 'LLM_ERR_ARG')
    assert len(seen) >= 4, f'the corruptions were meant to hit several checks: {seen}'
