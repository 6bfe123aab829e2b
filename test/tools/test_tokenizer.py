"""llmtools.tokenizer against llama2.c run.c.

The expected ids below were printed by llama2.c run.c's own encode() (built
with -DTESTING and a main that calls build_tokenizer + encode(t, s, 1, 0, ...))
on tok512.bin and tokenizer32k.bin.
"""
import struct

import pytest

from llmtools import testmodels as T
from llmtools.blob import BlobError
from llmtools.tokenizer import Tokenizer

# (text, ids from llama2.c run.c encode with bos=1, eos=0)
TOK512_IDS = [
    ("", [1]),
    ("Once upon a time", [1, 403, 407, 261, 378]),
    ("Hello, world!", [1, 346, 306, 414, 432, 263, 304, 341, 443]),
    ("  two  spaces", [1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419]),
    ("café naïve 日本語 🙂", [1, 280, 412, 431, 485, 297, 412, 198, 178, 360, 410, 233, 154, 168,
                           233, 159, 175, 235, 173, 161, 410, 243, 162, 156, 133]),
    ("Lily's mom said, \"Lily, let's go to the park.\"",
     [1, 317, 439, 419, 357, 336, 432, 313, 438, 310, 432, 278, 316, 439, 419, 298, 414, 267,
      265, 282, 295, 433, 426, 436]),
    ("tab\tand\nnewline", [1, 259, 412, 430, 12, 412, 264, 13, 416, 411, 424, 421, 271, 411]),
    ("~[]{}|\\^", [1, 410, 510, 508, 509, 126, 128, 506, 500, 97]),
]

TOK32K_IDS = [
    ("Once upon a time", [1, 9038, 2501, 263, 931]),
    ("Hello, world!", [1, 15043, 29892, 3186, 29991]),
    ("  two  spaces", [1, 259, 1023, 29871, 8162]),
    ("café naïve 日本語 🙂", [1, 274, 28059, 1055, 30085, 345, 29871, 30325, 30346, 30968, 29871,
                           243, 162, 156, 133]),
    ("tab\tand\nnewline", [1, 4434, 12, 392, 13, 1482, 1220]),
]


@pytest.mark.parametrize("text,ids", TOK512_IDS)
def test_encode_tok512_matches_runc(tok512, text, ids):
    assert tok512.encode(text, bos=True, eos=False) == ids
    assert tok512.encode(text, bos=False, eos=True) == ids[1:] + [2]


@pytest.mark.parametrize("text,ids", TOK32K_IDS)
def test_encode_tok32k_matches_runc(model_file, text, ids):
    tok = _tok32k(model_file)
    assert tok.encode(text, True, False) == ids


_cache = {}


def _tok32k(model_file):
    if "t" not in _cache:
        _cache["t"] = Tokenizer.from_file(model_file("tokenizer32k.bin"), 32000)
    return _cache["t"]


def test_tok512_file(tok512, model_file):
    assert tok512.vocab_size == 512 and tok512.max_token_length == 7
    assert tok512.vocab[1] == b"\n<s>\n" and tok512.vocab[3 + 0x41] == b"<0x41>"
    assert Tokenizer.from_file(model_file("tok512.bin")).vocab_size == 512  # counted


def test_decode_rules(tok512):
    space_t = tok512.encode("Once upon a time", False, False)[1]
    piece = tok512.vocab[space_t]
    assert piece.startswith(b" ")
    assert tok512.decode(1, space_t) == piece[1:]      # leading space dropped after BOS
    assert tok512.decode(5, space_t) == piece
    assert tok512.decode(5, 3 + ord("A")) == b"A"       # <0x41> is the raw byte
    assert tok512.decode(5, 3 + 0x0A) == b"\n"          # whitespace is printed
    assert tok512.decode(5, 3 + 0x07) == b""            # control byte dropped
    assert tok512.decode(5, 3 + 0xE6) == b""            # lone non-ASCII byte dropped (C locale)
    assert tok512.decode(5, 3 + 0x00) == b""
    assert tok512.piece(5, 3 + 0xE6) == b"\xe6"
    assert tok512.decode(5, 2) == b"\n</s>\n"


def test_decode_concatenation_reproduces_text(tok512):
    text = "Once upon a time, Lily said: \"Hi!\"\nThe end."
    ids = tok512.encode(text, True, False)
    out = b"".join(tok512.decode(a, b) for a, b in zip(ids, ids[1:]))
    assert out == text.encode()


# Raw bytes (not valid UTF-8): run.c appends up to 3 continuation bytes to any
# byte, looks the group up and falls back to byte tokens. Ids from run.c.
RAW_IDS = [
    (b"a\x80\x80b", [1, 410, 100, 131, 131, 430]),
    (b"\x80\x80\x80\x80\x80x", [1, 410, 131, 131, 131, 131, 131, 444]),
    (b"\xe6\x97\xa5\x80\x80", [1, 410, 233, 154, 168, 131, 131]),
]


@pytest.mark.parametrize("raw,ids", RAW_IDS)
def test_encode_raw_bytes_matches_runc(tok512, raw, ids):
    assert tok512.encode(raw, True, False) == ids


def test_encode_stops_at_nul(tok512):
    assert tok512.encode("ab\0cd", True, False) == tok512.encode("ab", True, False)


@pytest.mark.parametrize("vocab_size", [260, 300, 512, 1000])
def test_synthetic_tokenizer(vocab_size):
    data = T.synthetic_tokenizer(vocab_size, seed=vocab_size)
    tok = Tokenizer(data, vocab_size)
    assert tok.vocab[:3] == [b"<unk>", b"\n<s>\n", b"\n</s>\n"]
    assert tok.vocab[3:259] == [b"<0x%02X>" % i for i in range(256)]
    assert len(set(tok.vocab)) == vocab_size
    assert b" " in tok.vocab
    if vocab_size >= 512:
        assert any(len(t) > 2 and t.startswith(b" ") for t in tok.vocab)
        ids = tok.encode("once upon a time the girl", True, False)
        assert len(ids) < len(" once upon a time the girl") + 1  # merges happened
    text = "hello there, tim!"
    ids = tok.encode(text, True, False)
    assert b"".join(tok.decode(a, b) for a, b in zip(ids, ids[1:])) == text.encode()
    assert T.synthetic_tokenizer(vocab_size, seed=vocab_size) == data  # deterministic


def test_merge_order_first_pair_wins_ties():
    # tokens: a, b, "ab" and "ba" with equal scores: "aba" merges the first pair.
    vocab = [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)] + \
        [b" ", b"a", b"b", b"ab", b"ba", b" a"]
    scores = [0.0] * 259 + [-10.0, -10.0, -10.0, -1.0, -1.0, -5.0]
    tok = Tokenizer(T.tokenizer_bytes(vocab, scores))
    # " " a b a: "ab" (-1) at index 1 beats the equal "ba" (-1) at index 2 and " a" (-5);
    # afterwards " ab" and "aba" are not tokens.
    assert tok.encode("aba", False, False) == [259, 262, 260]
    scores[263] = -0.5  # "ba" now better
    tok = Tokenizer(T.tokenizer_bytes(vocab, scores))
    assert tok.encode("aba", False, False) == [264, 263]  # " a", "ba"


def test_parse_errors():
    good = T.synthetic_tokenizer(300, 1)
    Tokenizer(good, 300)
    for bad, vs in [(good[:2], None), (good[:-1], 300), (good, 299), (good, 301),
                    (struct.pack("<I", 0) + good[4:], 300)]:
        with pytest.raises(BlobError) as ei:
            Tokenizer(bad, vs)
        assert ei.value.code == "LLM_ERR_TOKENIZER"
