"""Llama tokenizers of Hugging Face folders -> llama2.c tokenizer.bin bytes.

Two sources, both the Llama 2 / TinyLlama kind (BPE over code points with
byte fallback, spaces written as U+2581 "▁", a dummy prefix before the text):

- `tokenizer.model`: a SentencePiece ModelProto, parsed here (protobuf wire
  format; only the fields below are read, the rest skipped).
- `tokenizer.json`: the `tokenizers` library's file, a BPE model with
  byte_fallback, spaces replaced by ▁ and prepended by its normalizer
  (Prepend + Replace) or pre-tokenizer (Metaspace, not splitting).

llama2.c's tokenizer.bin keeps each piece with ▁ written as a space, BOS and
EOS as "\\n<s>\\n" and "\\n</s>\\n" (as llama2.c's own export), and a score
per piece: the encoder (lib/llm/src/tokenizer.c) starts from the text's code
points, or their <0xXX> byte pieces when a code point is not a piece, and
repeatedly merges the adjacent pair whose concatenation is the best-scoring
piece, the leftmost on ties, which is SentencePiece's BPE encoding. The
library takes byte b = 3 + b and BOS / EOS from the blob's metadata (1 and 2
in Llama 2 and TinyLlama); other layouts are refused.
Pieces SentencePiece never produces by merging (control, unknown, byte,
unused) get the score -1e10, which the encoder never merges (its floor).

Where the dummy prefix goes is not in tokenizer.bin: SentencePiece always
puts it first, transformers' LlamaTokenizer (a Metaspace pre-tokenizer,
whatever file it was loaded from) not before a text that starts with a
space. llm-convert stores the rule as the blob's LLM_TOK_PREFIX_UNLESS_SPACE
tokenizer flag; 'prefix' in the facts below is what the file itself says.

Anything else (byte-level GPT-2 BPE, unigram models, other normalizers) is
refused with one line (HfError).
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

from .hf import HfError
from .tokenizer import BYTE0, tokenizer_bin

SPACE = "\u2581"
NO_MERGE = -1e10  # the encoder's merge floor: a piece with this score never forms

# SentencePiece piece types (sentencepiece_model.proto, SentencePiece.Type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
_SPM_MODEL_TYPES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


# ------------------------------------------------------------------ protobuf

def _varint(b: bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        if i >= len(b) or shift > 63:
            raise HfError("tokenizer.model: truncated or malformed protobuf")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b: bytes):
    """(field number, wire type, value) of a message: ints for varint and
    fixed-width fields (fixed32 as raw 4 bytes), bytes for length-delimited."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise HfError(f"tokenizer.model: protobuf wire type {wt} is not valid here")
        if i > len(b):
            raise HfError("tokenizer.model: truncated protobuf")
        yield num, wt, v


def parse_sentencepiece(data: bytes) -> dict:
    """The parts of a SentencePiece ModelProto the conversion needs:
    pieces [(text, score, type)], model_type, byte_fallback, ids of unk, bos,
    eos, and the normalizer's name, add_dummy_prefix, remove_extra_whitespaces,
    escape_whitespaces (with the proto's defaults when absent)."""
    m = {"pieces": [], "model_type": 1, "byte_fallback": False, "unk_id": 0, "bos_id": 1,
         "eos_id": 2, "treat_whitespace_as_suffix": False, "norm_name": "nmt_nfkc",
         "add_dummy_prefix": True, "remove_extra_whitespaces": True, "escape_whitespaces": True,
         "user_rules": False}
    for num, wt, v in _fields(bytes(data)):
        if num == 1 and wt == 2:  # SentencePiece pieces
            piece, score, typ = "", 0.0, NORMAL
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    try:
                        piece = v2.decode("utf-8")
                    except UnicodeDecodeError:
                        raise HfError("tokenizer.model: a piece is not UTF-8") from None
                elif n2 == 2 and w2 == 5:
                    (score,) = struct.unpack("<f", v2)
                elif n2 == 3 and w2 == 0:
                    typ = v2
            m["pieces"].append((piece, score, typ))
        elif num == 2 and wt == 2:  # TrainerSpec
            for n2, w2, v2 in _fields(v):
                if w2 != 0:
                    continue
                key = {3: "model_type", 35: "byte_fallback", 24: "treat_whitespace_as_suffix",
                       40: "unk_id", 41: "bos_id", 42: "eos_id"}.get(n2)
                if key:
                    # ids are int32: a varint of 2^64 - 1 is -1 (none)
                    m[key] = v2 - (1 << 64) if v2 >= 1 << 63 else v2
        elif num == 3 and wt == 2:  # NormalizerSpec
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    m["norm_name"] = v2.decode("utf-8", "replace")
                elif n2 == 3 and w2 == 0:
                    m["add_dummy_prefix"] = bool(v2)
                elif n2 == 4 and w2 == 0:
                    m["remove_extra_whitespaces"] = bool(v2)
                elif n2 == 5 and w2 == 0:
                    m["escape_whitespaces"] = bool(v2)
                elif n2 == 6 and w2 == 2 and v2:
                    m["user_rules"] = True
    if not m["pieces"]:
        raise HfError("tokenizer.model: no pieces (not a SentencePiece model)")
    return m


# ------------------------------------------------------------------ result

def _check_layout(pieces, unk: int | None, bos: int, eos: int, is_byte, where: str) -> None:
    """The ids the library assumes: byte b at 3 + b; BOS and EOS two other
    ids (the blob's metadata names them; llama2.c's are 1 and 2)."""
    if not (0 <= bos < len(pieces) and 0 <= eos < len(pieces)) or bos == eos or \
            BYTE0 <= bos < BYTE0 + 256 or BYTE0 <= eos < BYTE0 + 256:
        raise HfError(f"unsupported: {where} has BOS id {bos} and EOS id {eos}; they must be "
                      f"two ids outside the byte pieces {BYTE0}..{BYTE0 + 255}")
    if len(pieces) < BYTE0 + 256:
        raise HfError(f"unsupported: {where} has {len(pieces)} pieces, fewer than the "
                      f"{BYTE0 + 256} of byte fallback")
    for b in range(256):
        if not is_byte(BYTE0 + b, b):
            raise HfError(f"unsupported: {where} does not have byte piece <0x{b:02X}> at id "
                          f"{BYTE0 + b} (the library's byte fallback needs bytes at {BYTE0}..{BYTE0 + 255})")


def _bin(texts, scores, bos: int, eos: int, vocab_size: int | None) -> bytes:
    vocab = []
    for i, t in enumerate(texts):
        if i == bos:
            vocab.append(b"\n<s>\n")
        elif i == eos:
            vocab.append(b"\n</s>\n")
        else:
            vocab.append(t.replace(SPACE, " ").encode("utf-8"))
    if vocab_size is not None:
        if len(vocab) > vocab_size:
            raise HfError(f"the tokenizer has {len(vocab)} pieces, more than the model's vocab_size {vocab_size}")
        # Rows the model has beyond the tokenizer: empty pieces no text reaches.
        scores = list(scores) + [NO_MERGE] * (vocab_size - len(vocab))
        vocab += [b""] * (vocab_size - len(vocab))
    return tokenizer_bin(vocab, scores)


def _byte_piece(text: str, b: int) -> bool:
    return text == f"<0x{b:02X}>"


def from_sentencepiece(data: bytes, vocab_size: int | None = None) -> tuple[bytes, dict]:
    """tokenizer.bin bytes and facts {bos_id, eos_id, n_pieces, prefix} of a
    SentencePiece BPE model of the Llama kind."""
    m = parse_sentencepiece(data)
    kind = _SPM_MODEL_TYPES.get(m["model_type"], str(m["model_type"]))
    if kind != "bpe":
        raise HfError(f"unsupported: SentencePiece {kind} model (only BPE, as Llama 2 / TinyLlama)")
    if not m["byte_fallback"]:
        raise HfError("unsupported: SentencePiece model without byte_fallback")
    if m["norm_name"] != "identity" or m["user_rules"]:
        raise HfError(f"unsupported: SentencePiece normalizer {m['norm_name']!r} (only identity, "
                      "as Llama 2 / TinyLlama)")
    if m["remove_extra_whitespaces"]:
        raise HfError("unsupported: SentencePiece remove_extra_whitespaces (the library keeps "
                      "whitespace runs, as Llama 2)")
    if not m["add_dummy_prefix"] or not m["escape_whitespaces"] or m["treat_whitespace_as_suffix"]:
        raise HfError("unsupported: SentencePiece whitespace handling other than Llama 2's "
                      "(dummy prefix, spaces as U+2581 at the start of pieces)")
    pieces = m["pieces"]
    for i, (t, _, typ) in enumerate(pieces):
        if typ == USER_DEFINED:
            raise HfError(f"unsupported: SentencePiece user-defined piece {t!r} (id {i})")
    _check_layout(pieces, m["unk_id"], m["bos_id"], m["eos_id"],
                  lambda i, b: pieces[i][2] == BYTE and _byte_piece(pieces[i][0], b), "tokenizer.model")
    texts = [t for t, _, _ in pieces]
    scores = [s if typ == NORMAL else NO_MERGE for _, s, typ in pieces]
    return (_bin(texts, scores, m["bos_id"], m["eos_id"], vocab_size),
            {"bos_id": m["bos_id"], "eos_id": m["eos_id"], "n_pieces": len(pieces), "prefix": "always"})


def _tj_prefix(tj: dict) -> str:
    """How a tokenizer.json adds the dummy prefix: 'always' (Prepend("▁")
    normalizer, as SentencePiece) or 'unless_space' (Metaspace: not when the
    text already starts with a space). Refuses other pipelines."""
    norm, pre = tj.get("normalizer"), tj.get("pre_tokenizer")

    def types(x):
        if x is None:
            return []
        if x.get("type") == "Sequence":
            return [y for s in x.get("normalizers", x.get("pretokenizers", [])) for y in types(s)]
        return [x]

    def byte_level(xs):
        return any(x.get("type") == "ByteLevel" for x in xs)

    ns, ps = types(norm), types(pre)
    if byte_level(ns) or byte_level(ps) or (tj.get("decoder") or {}).get("type") == "ByteLevel":
        raise HfError("unsupported: byte-level BPE tokenizer.json (GPT-2 style); only "
                      "SentencePiece-style BPE with byte fallback (Llama 2 / TinyLlama)")
    nt = [x.get("type") for x in ns]
    pt = [x.get("type") for x in ps]
    if (nt == ["Prepend", "Replace"] and ns[0].get("prepend") == SPACE
            and ns[1].get("pattern", {}).get("String") == " " and ns[1].get("content") == SPACE
            and not ps):
        return "always"
    if not ns and pt == ["Metaspace"]:
        p = ps[0]
        if p.get("replacement") != SPACE or p.get("split", True):
            raise HfError("unsupported: tokenizer.json Metaspace that splits words or does not use ▁")
        scheme = p.get("prepend_scheme", "always" if p.get("add_prefix_space", True) else "never")
        if scheme in ("always", "first"):
            return "unless_space"
        raise HfError(f"unsupported: tokenizer.json Metaspace prepend_scheme {scheme!r} (the "
                      "library always adds the dummy prefix)")
    raise HfError(f"unsupported: tokenizer.json normalizer {nt or None} with pre-tokenizer "
                  f"{pt or None} (only Llama 2's Prepend + Replace, or Metaspace)")


def from_tokenizer_json(text: str, vocab_size: int | None = None) -> tuple[bytes, dict]:
    """tokenizer.bin bytes and facts of a tokenizer.json of the Llama kind.

    Scores come from the merge list: a piece's score is minus the rank of
    the first merge that forms it, so the best-scoring concatenation is the
    merge the `tokenizers` BPE would apply first; pieces no merge forms get
    NO_MERGE."""
    try:
        tj = json.loads(text)
        model = tj["model"]
    except (ValueError, KeyError, TypeError):
        raise HfError("tokenizer.json: not a tokenizers file (no model)") from None
    prefix = _tj_prefix(tj)
    if model.get("type") != "BPE":
        raise HfError(f"unsupported: tokenizer.json model {model.get('type')!r} (only BPE)")
    if not model.get("byte_fallback"):
        raise HfError("unsupported: tokenizer.json BPE without byte_fallback")
    vocab = dict(model.get("vocab") or {})
    for t in tj.get("added_tokens") or []:
        vocab.setdefault(t["content"], t["id"])
    n = len(vocab)
    texts = [None] * n
    for t, i in vocab.items():
        if not isinstance(i, int) or not 0 <= i < n or texts[i] is not None:
            raise HfError(f"tokenizer.json: ids are not 0..{n - 1}, each once")
        texts[i] = t
    by_text = {t: i for i, t in enumerate(texts)}
    scores = [NO_MERGE] * n
    for rank, mg in enumerate(model.get("merges") or []):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        i = by_text.get(a + b)
        if i is None or a not in by_text or b not in by_text:
            raise HfError(f"tokenizer.json: merge {a!r} {b!r} names a piece not in the vocab")
        if scores[i] == NO_MERGE:
            scores[i] = -float(rank)
    specials = {t["content"]: t["id"] for t in tj.get("added_tokens") or [] if t.get("special")}
    bos, eos = specials.get("<s>", by_text.get("<s>")), specials.get("</s>", by_text.get("</s>"))
    if bos is None or eos is None:
        raise HfError("unsupported: tokenizer.json has no <s> and </s> tokens (the Llama BOS and EOS)")
    for t in tj.get("added_tokens") or []:
        if t["content"] not in ("<unk>", "<s>", "</s>") and not t.get("special"):
            raise HfError(f"unsupported: tokenizer.json added token {t['content']!r} "
                          "(matched whole in text by Hugging Face, not by this library)")
    _check_layout(texts, by_text.get("<unk>"), bos, eos, lambda i, b: _byte_piece(texts[i], b),
                  "tokenizer.json")
    return (_bin(texts, scores, bos, eos, vocab_size),
            {"bos_id": bos, "eos_id": eos, "n_pieces": n, "prefix": prefix})


def chat_template_name(folder) -> str | None:
    """'llama2' for an [INST] chat template, 'zephyr' for <|user|>, else None."""
    p = Path(folder) / "tokenizer_config.json"
    tmpl = None
    if p.is_file():
        try:
            tmpl = json.loads(p.read_text()).get("chat_template")
        except (ValueError, AttributeError):
            tmpl = None
    j = Path(folder) / "chat_template.jinja"
    if tmpl is None and j.is_file():
        tmpl = j.read_text()
    if isinstance(tmpl, list):  # [{"name": ..., "template": ...}]
        tmpl = " ".join(str(t.get("template", "")) for t in tmpl if isinstance(t, dict))
    if not isinstance(tmpl, str):
        return None
    if "[INST]" in tmpl:
        return "llama2"
    if "<|user|>" in tmpl:
        return "zephyr"
    return None


def read_folder_tokenizer(folder, vocab_size: int) -> tuple[bytes, dict] | None:
    """The folder's tokenizer as tokenizer.bin bytes padded to vocab_size, and
    its facts (plus 'source', the file read); None when it has neither file.
    tokenizer.json is preferred, as transformers loads it first."""
    folder = Path(folder)
    tj, sp = folder / "tokenizer.json", folder / "tokenizer.model"
    if tj.is_file():
        data, facts = from_tokenizer_json(tj.read_text(encoding="utf-8"), vocab_size)
        facts["source"] = tj.name
    elif sp.is_file():
        data, facts = from_sentencepiece(sp.read_bytes(), vocab_size)
        facts["source"] = sp.name
    else:
        return None
    return data, facts
