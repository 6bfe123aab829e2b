"""llama2.c tokenizer.bin: parse, encode and decode exactly as llama2.c run.c.

File layout: u32 max_token_length, then per token f32 score, i32 len, len bytes.
run.c treats tokens as C strings, so lookups and merges use each token's bytes
up to its first NUL.
"""
from __future__ import annotations

import re
import struct

import numpy as np

from .blob import BlobError

BOS = 1
EOS = 2
BYTE0 = 3  # id of <0x00>; byte b is token BYTE0 + b

# sscanf(piece, "<0x%02hhX>", &b) == 1: "<0x", optional whitespace, then at
# most two characters of a hex number (a sign counts as one of them).
_BYTE_TOKEN = re.compile(rb"<0x[ \t\n\v\f\r]*([+-][0-9A-Fa-f]|[0-9A-Fa-f]{1,2})")


def parse_tokenizer(data, vocab_size: int | None = None):
    """Validate tokenizer.bin bytes; return (max_token_length, vocab, scores).

    With vocab_size, exactly that many records must fill the data; without,
    the records are read to the end. Raises BlobError('LLM_ERR_TOKENIZER').
    """
    data = bytes(data)

    def bad(msg):
        raise BlobError("LLM_ERR_TOKENIZER", msg)

    if len(data) < 4:
        bad(f"{len(data)} bytes, too short for the max_token_length field")
    (max_len,) = struct.unpack_from("<I", data, 0)
    vocab, scores, off = [], [], 4
    while (vocab_size is None and off < len(data)) or (vocab_size is not None and len(vocab) < vocab_size):
        if off + 8 > len(data):
            bad(f"data ends inside token {len(vocab)}'s header "
                f"({len(vocab)} tokens read, vocab_size {vocab_size})")
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        if n < 0 or n > max_len:
            bad(f"token {len(vocab)} has length {n}, outside 0..max_token_length {max_len}")
        if off + n > len(data):
            bad(f"data ends inside token {len(vocab)}")
        vocab.append(data[off:off + n])
        scores.append(score)
        off += n
    if off != len(data):
        bad(f"{len(data) - off} bytes left after {len(vocab)} tokens: "
            f"the tokenizer has more tokens than vocab_size {vocab_size}")
    if vocab_size is None and not vocab:
        bad("no tokens")
    return max_len, vocab, scores


def tokenizer_bin(vocab, scores) -> bytes:
    """tokenizer.bin bytes of pieces (bytes) and their scores; max_token_length
    is the longest piece (at least 1)."""
    max_len = max(1, max((len(t) for t in vocab), default=1))
    parts = [struct.pack("<I", max_len)]
    for t, s in zip(vocab, scores):
        parts.append(struct.pack("<fi", s, len(t)) + t)
    return b"".join(parts)


def _cstr(b: bytes) -> bytes:
    i = b.find(b"\0")
    return b if i < 0 else b[:i]


class Tokenizer:
    """llama2.c BPE tokenizer. vocab_size None reads every record in data;
    bos_id / eos_id are the model's (a blob's metadata may name others).
    prefix_unless_space: no dummy prefix before a text that starts with a
    space (a blob's LLM_TOK_PREFIX_UNLESS_SPACE flag, transformers' Metaspace
    rule); by default it always comes first (llama2.c, SentencePiece)."""

    def __init__(self, data: bytes, vocab_size: int | None = None, bos_id: int = BOS,
                 eos_id: int = EOS, prefix_unless_space: bool = False):
        self.prefix_unless_space = bool(prefix_unless_space)
        self.max_token_length, self.vocab, self.scores = parse_tokenizer(data, vocab_size)
        self.bos_id, self.eos_id = bos_id, eos_id
        self.vocab_size = len(self.vocab)
        self._scores32 = [float(np.float32(s)) for s in self.scores]
        self._cvocab = [_cstr(t) for t in self.vocab]
        # run.c's bsearch over the sorted vocab finds some id of a string; the
        # lowest id is used here (real vocabularies have no duplicates).
        self._lookup = {}
        for i, t in enumerate(self._cvocab):
            self._lookup.setdefault(t, i)

    @classmethod
    def from_file(cls, path, vocab_size: int | None = None) -> "Tokenizer":
        with open(path, "rb") as f:
            return cls(f.read(), vocab_size)

    def encode(self, text, bos: bool, eos: bool, prefix: bool = True) -> list:
        """Token ids of text (str, or bytes for raw/invalid UTF-8) as run.c encode();
        prefix=False leaves out the dummy-prefix space (text that continues a
        sequence, as the C library's llm_append_text encodes it)."""
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        raw = _cstr(raw)  # C stops at the first NUL
        tokens = [self.bos_id] if bos else []
        if raw and prefix and not (self.prefix_unless_space and raw[:1] == b" "):
            # Dummy prefix; a vocab without " " gets its byte token.
            tokens.append(self._lookup.get(b" ", BYTE0 + 0x20))
        i = 0
        while i < len(raw):
            # A code point: this byte plus following continuation bytes, at most 4.
            j = i + 1
            while j < len(raw) and (raw[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = raw[i:j]
            tid = self._lookup.get(cp)
            if tid is not None:
                tokens.append(tid)
            else:
                tokens.extend(BYTE0 + b for b in cp)
            i = j
        self._merge(tokens)
        if eos:
            tokens.append(self.eos_id)
        return tokens

    def _pair(self, a: int, b: int):
        tid = self._lookup.get(self._cvocab[a] + self._cvocab[b])
        return None if tid is None else (self._scores32[tid], tid)

    def _merge(self, tokens: list) -> None:
        """Greedy best-score merges in place; the first pair wins a tie.
        Like run.c, pairs with BOS are tried too."""
        pairs = [self._pair(tokens[i], tokens[i + 1]) for i in range(len(tokens) - 1)]
        best_floor = float(np.float32(-1e10))
        while True:
            best, best_i = best_floor, -1
            for i, p in enumerate(pairs):
                if p is not None and p[0] > best:
                    best, best_i = p[0], i
            if best_i < 0:
                return
            tokens[best_i] = pairs[best_i][1]
            del tokens[best_i + 1]
            del pairs[best_i]
            if best_i > 0:
                pairs[best_i - 1] = self._pair(tokens[best_i - 1], tokens[best_i])
            if best_i < len(pairs):
                pairs[best_i] = self._pair(tokens[best_i], tokens[best_i + 1])

    def piece(self, prev: int, token: int) -> bytes:
        """run.c decode(): the token's text after prev, before safe_printf."""
        p = self._cvocab[token]
        if prev == self.bos_id and p[:1] == b" ":
            p = p[1:]
        m = _BYTE_TOKEN.match(p)
        if m:
            p = _cstr(bytes([int(m.group(1), 16) & 0xFF]))
        return p

    def decode(self, prev: int, token: int) -> bytes:
        """Bytes run.c prints for token after prev: decode() then safe_printf().

        A single byte that is neither printable ASCII nor whitespace (in the C
        locale) gives b''.
        """
        p = self.piece(prev, token)
        if len(p) == 1 and not (0x20 <= p[0] <= 0x7E or p[0] in b" \t\n\v\f\r"):
            return b""
        return p
