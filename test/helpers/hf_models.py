"""Hugging Face Llama folders made by the tests: small random LlamaForCausalLM
models saved with transformers' save_pretrained (safetensors), and a
SentencePiece BPE tokenizer trained here with the sentencepiece package, in
the forms transformers loads (tokenizer.model alone, or tokenizer.json with
Llama 2's Prepend + Replace normalizer or with a Metaspace pre-tokenizer).

torch, transformers and sentencepiece are imported only when a function
runs, so modules importing this one collect without them.
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

# Model shapes: GQA, untied, tied, and dims that are no multiple of 4 with an
# odd intermediate size, other rope_theta / rms_norm_eps and 3:1 GQA.
CASES = {
    'gqa': dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, vocab_size=96, max_position_embeddings=16,
                tie_word_embeddings=False),
    'untied': dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=4, vocab_size=80, max_position_embeddings=16,
                   tie_word_embeddings=False),
    'tied': dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1, vocab_size=72, max_position_embeddings=16,
                 tie_word_embeddings=True),
    'odd': dict(hidden_size=30, intermediate_size=37, num_hidden_layers=2, num_attention_heads=3,
                num_key_value_heads=1, vocab_size=61, max_position_embeddings=16,
                tie_word_embeddings=False, rope_theta=500000.0, rms_norm_eps=1e-6),
}

# The text the SentencePiece model is trained on: words, digits, accents,
# CJK, whitespace runs (Llama 2 keeps whitespace-only pieces).
TRAIN_TEXT = (
    "Once upon a time there was a little girl named Lily. She loved to play outside in the park.\n"
    "One day she saw a big red ball under a tree, and she said: \"Mom, look!\"\n"
    "The quick brown fox jumps over the lazy dog. 1234 numbers 5678 and 90.\n"
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2014 \u201cquotes\u201d and \u65e5\u672c\u8a9e\u306e"
    "\u30c6\u30ad\u30b9\u30c8.\n"
    "    indented  code  with   runs    of     spaces\n"
    "\ttabs\tand\nnew lines\n\n"
) * 20
SPM_VOCAB = 360


def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def make_llama(folder: Path, case: str, seed: int = 0, vocab_size: int | None = None,
               n_pos: int = 12):
    """A random LlamaForCausalLM of CASES[case] saved in folder; returns
    (tokens, logits): n_pos random token ids and transformers' float32 logits
    (n_pos, vocab) for them as one sequence from position 0.

    Weights: matrices ~ N(0, 1/fan_in), q and k twice that spread so
    attention is far from uniform (transformers' own init, N(0, 0.02^2),
    leaves the scores near zero, where a wrong q/k row order would hardly
    change the logits); norms 1 + N(0, 0.1^2)."""
    torch = _torch()
    from transformers import LlamaConfig, LlamaForCausalLM
    kw = dict(CASES[case])
    if vocab_size is not None:
        kw['vocab_size'] = vocab_size
    theta = kw.pop('rope_theta', 10000.0)
    cfg = LlamaConfig(**kw, bos_token_id=1, eos_token_id=2, rope_theta=theta,
                      attn_implementation='eager')
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                scale = (2.0 if ('q_proj' in name or 'k_proj' in name) else 1.0) / math.sqrt(p.shape[1])
                p.copy_(torch.randn(p.shape, generator=g) * scale)
            else:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    folder = Path(folder)
    model.save_pretrained(folder)
    tokens = np.random.default_rng(seed + 1).integers(0, cfg.vocab_size, n_pos)
    with torch.no_grad():
        logits = model(torch.tensor(tokens[None, :], dtype=torch.long)).logits[0]
    return [int(t) for t in tokens], logits.float().numpy()


def train_sentencepiece(directory: Path) -> Path:
    """A SentencePiece BPE model of the Llama 2 kind (identity normalizer,
    whitespace kept, dummy prefix, byte fallback, digits split), trained on
    TRAIN_TEXT; returns the path of its tokenizer.model."""
    import sentencepiece as spm
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    text = directory / 'train.txt'
    text.write_text(TRAIN_TEXT, encoding='utf-8')
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(directory / 'tokenizer'), vocab_size=SPM_VOCAB,
        model_type='bpe', byte_fallback=True, character_coverage=1.0,
        normalization_rule_name='identity', remove_extra_whitespaces=False, add_dummy_prefix=True,
        split_digits=True, allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, num_threads=1, minloglevel=2)
    return directory / 'tokenizer.model'


def tokenizer_folder(folder: Path, spm_model: Path, form: str) -> Path:
    """folder with the trained tokenizer in one form: 'model' (tokenizer.model
    only), 'json_prepend' (tokenizer.json with Llama 2's Prepend("▁") +
    Replace(" ", "▁") normalizer, as Llama 2 and TinyLlama ship), or
    'json_metaspace' (tokenizer.json as transformers saves it now:
    a Metaspace pre-tokenizer, prepend_scheme 'first')."""
    from tokenizers import normalizers
    from transformers import LlamaTokenizer
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if form == 'model':
        shutil.copyfile(spm_model, folder / 'tokenizer.model')
        return folder
    src = folder / '_spm'
    src.mkdir(exist_ok=True)
    shutil.copyfile(spm_model, src / 'tokenizer.model')
    tok = LlamaTokenizer.from_pretrained(src)
    backend = tok.backend_tokenizer
    if form == 'json_prepend':
        backend.normalizer = normalizers.Sequence([normalizers.Prepend('\u2581'),
                                                   normalizers.Replace(' ', '\u2581')])
        backend.pre_tokenizer = None
    elif form != 'json_metaspace':
        raise ValueError(form)
    backend.save(str(folder / 'tokenizer.json'))
    shutil.rmtree(src)
    return folder


def hf_tokenizer(folder: Path):
    """transformers' LlamaTokenizer loaded from folder (as from_pretrained does)."""
    from transformers import LlamaTokenizer
    return LlamaTokenizer.from_pretrained(folder)
