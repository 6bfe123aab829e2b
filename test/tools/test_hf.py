"""Hugging Face import (llmtools.hf, llmtools.hf_tokenizer, llm-convert on a
folder): random LlamaForCausalLM models made with transformers, converted,
and run by the NumPy oracle against transformers' own logits; the
safetensors reader against the safetensors package; one-line refusals of
what the library cannot run.

Tolerance of the logits: max |ours - transformers| <= 1e-4 * max(1, max
|logit|) per position, as test/test_forward.py's device-vs-oracle bound.
Both sides are float32 with different summation orders and their own
cos/sin/exp; the differences seen are about 3e-6 of the largest logit, and
q/k rows left in Hugging Face's order miss by about 1 (checked below).
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # test/: helpers
from helpers import hf_models as H  # noqa: E402

from llmtools import blob as B  # noqa: E402
from llmtools import cli, hf, hf_tokenizer as HT, oracle  # noqa: E402
from llmtools.tokenizer import Tokenizer  # noqa: E402

RTOL = 1e-4


def max_rel_err(weights, config, tokens, logits) -> float:
    m = oracle.Model(config, weights)
    worst = 0.0
    for pos, tok in enumerate(tokens):
        want = logits[pos]
        err = float(np.max(np.abs(m.forward(tok, pos).astype(np.float64) - want)))
        worst = max(worst, err / max(1.0, float(np.max(np.abs(want)))))
    return worst


@pytest.fixture(scope="session")
def hf_models(tmp_path_factory):
    """case -> (folder, tokens, transformers logits), built once per session."""
    root = tmp_path_factory.mktemp("hf_models")
    return {case: (root / case, *H.make_llama(root / case, case, seed=i + 3))
            for i, case in enumerate(H.CASES)}


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory):
    return H.train_sentencepiece(tmp_path_factory.mktemp("spm"))


def convert(args, capsys):
    rc = cli.convert_main([str(a) for a in args] + ["--no-progress"])
    out = capsys.readouterr()
    return rc, out.out, out.err


def refused(args, capsys, *words):
    rc, _, err = convert(args, capsys)
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


# ------------------------------------------------------------------ weights

def test_unpermute_rope_rows_pairs():
    """Head size 4: HF pairs rows (0, 2) and (1, 3); llama2.c pairs (0, 1) and (2, 3)."""
    w = np.arange(8, dtype=np.float32).reshape(8, 1)  # 2 heads
    got = hf.unpermute_rope_rows(w, 2)[:, 0]
    assert list(got) == [0, 2, 1, 3, 4, 6, 5, 7]
    back = hf.permute_rope_rows(hf.unpermute_rope_rows(w, 2), 2)
    assert np.array_equal(back, w)


@pytest.mark.parametrize("case", list(H.CASES))
def test_logits_match_transformers(hf_models, tmp_path, capsys, case):
    folder, tokens, logits = hf_models[case]
    out = tmp_path / "m.llmb"
    rc, so, err = convert([folder, "-o", out], capsys)
    assert rc == 0, err
    c, w, tok = B.read_blob(out.read_bytes(), max_layers=B.MAX_LAYERS)
    k = H.CASES[case]
    assert (c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len) == (
        k["hidden_size"], k["intermediate_size"], k["num_hidden_layers"], k["num_attention_heads"],
        k["num_key_value_heads"], k["vocab_size"], k["max_position_embeddings"])
    assert c.rope_theta == np.float32(k.get("rope_theta", 10000.0))
    assert c.norm_eps == np.float32(k.get("rms_norm_eps", 1e-6))
    assert ("cls" not in w) == k["tie_word_embeddings"]
    assert tok is None and "no tokenizer embedded" in so
    assert max_rel_err(w, c, tokens, logits) <= RTOL
    # The test can see the q/k row order: HF's own order misses by far.
    w2 = dict(w, wq=[hf.permute_rope_rows(x, c.n_heads) for x in w["wq"]],
              wk=[hf.permute_rope_rows(x, c.n_kv_heads) for x in w["wk"]])
    assert max_rel_err(w2, c, tokens, logits) > 100 * RTOL


def test_quantized_conversion(hf_models, tmp_path, capsys):
    folder, tokens, logits = hf_models["gqa"]
    out = tmp_path / "q8.llmb"
    rc, so, err = convert([folder, "-o", out, "--weights", "q8"], capsys)
    assert rc == 0, err
    c, w, _ = B.read_blob(out.read_bytes())
    assert B.tensor_table(out.read_bytes())[0]["dtype"] == B.DTYPE_Q8
    err8 = max_rel_err(w, c, tokens, logits)
    # int8 rounding (random weights with sharp attention amplify it), well
    # below the miss of a wrong q/k row order (about 1)
    assert RTOL < err8 < 0.3


def test_missing_lm_head_is_tied(hf_models, tmp_path, capsys):
    """tie_word_embeddings false but no lm_head.weight: the embedding classifies."""
    folder, tokens, logits = hf_models["tied"]
    d = tmp_path / "f"
    shutil.copytree(folder, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["tie_word_embeddings"] = False
    (d / "config.json").write_text(json.dumps(cfg))
    c, w, facts = hf.read_folder(d)
    assert facts["tied"] and "cls" not in w
    assert max_rel_err(w, c, tokens, logits) <= RTOL


def test_sharded_equals_single(hf_models, tmp_path):
    """save_pretrained with a small max_shard_size: model.safetensors.index.json."""
    import torch
    from transformers import LlamaForCausalLM
    folder = hf_models["untied"][0]
    model = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32)
    d = tmp_path / "sharded"
    model.save_pretrained(d, max_shard_size="40KB")
    assert (d / "model.safetensors.index.json").is_file() and len(list(d.glob("*.safetensors"))) > 2
    c1, w1, _ = hf.read_folder(folder)
    c2, w2, _ = hf.read_folder(d)
    assert c1 == c2
    for k in w1:
        for a, b in zip(w1[k] if isinstance(w1[k], list) else [w1[k]], w2[k] if isinstance(w2[k], list) else [w2[k]]):
            assert np.array_equal(a, b), k
    # The source hash covers every shard.
    assert hf.source_sha256(d) != hf.source_sha256(folder)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_safetensors_reader(tmp_path, dtype):
    """Our reader gives what the safetensors package gives, widened to float32."""
    import torch
    from safetensors.torch import save_file
    g = torch.Generator().manual_seed(1)
    tensors = {"a": torch.randn(3, 5, generator=g).to(getattr(torch, dtype)),
               "b.weight": torch.randn(7, generator=g).to(getattr(torch, dtype))}
    p = tmp_path / "t.safetensors"
    save_file(tensors, str(p), metadata={"format": "pt"})
    f = hf.SafetensorsFile(p)
    for name, t in tensors.items():
        assert np.array_equal(f.read(name), t.float().numpy()), name
    if dtype != "bfloat16":  # numpy has no bfloat16
        from safetensors import safe_open
        with safe_open(str(p), framework="np") as sf:
            for name in tensors:
                assert np.array_equal(f.read(name), sf.get_tensor(name).astype(np.float32))


def test_safetensors_malformed(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(hf.HfError, match="header length"):
        hf.SafetensorsFile(p)
    hdr = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}).encode()
    p.write_bytes(len(hdr).to_bytes(8, "little") + hdr + b"\0" * 16)
    with pytest.raises(hf.HfError, match="do not hold"):
        hf.SafetensorsFile(p)
    hdr = json.dumps({"x": {"dtype": "I8", "shape": [4], "data_offsets": [0, 4]}}).encode()
    p.write_bytes(len(hdr).to_bytes(8, "little") + hdr + b"\0" * 4)
    with pytest.raises(hf.HfError, match="I8"):
        hf.SafetensorsFile(p)


# ------------------------------------------------------------------ refusals

def _edited(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize("changes,words", [
    (dict(model_type="mistral"), ["unsupported architecture", "mistral"]),
    (dict(architectures=["LlamaForSequenceClassification"]), ["unsupported architecture", "LlamaForSequenceClassification"]),
    (dict(hidden_act="gelu"), ["unsupported", "hidden_act", "gelu"]),
    (dict(rope_scaling={"rope_type": "linear", "factor": 2.0}), ["unsupported", "rope_scaling", "linear"]),
    (dict(rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0}), ["unsupported", "llama3"]),
    (dict(attention_bias=True), ["unsupported", "attention_bias"]),
    (dict(mlp_bias=True), ["unsupported", "mlp_bias"]),
    (dict(head_dim=16), ["unsupported", "head_dim"]),
    (dict(num_key_value_heads=3), ["unsupported", "n_kv_heads"]),
    (dict(max_position_embeddings=131072), ["unsupported", "seq_len"]),
], ids=["model_type", "architectures", "hidden_act", "rope_scaling", "rope_parameters",
        "attention_bias", "mlp_bias", "head_dim", "kv_heads", "context"])
def test_refused_configs(hf_models, tmp_path, capsys, changes, words):
    d = _edited(hf_models["gqa"][0], tmp_path / "m", **changes)
    refused([d, "-o", tmp_path / "o.llmb"], capsys, *words)
    assert not (tmp_path / "o.llmb").exists()


def test_refused_bias_tensor(hf_models, tmp_path, capsys):
    """A bias tensor in the checkpoint (config says nothing) is named and refused."""
    from safetensors.numpy import save_file
    d = tmp_path / "m"
    shutil.copytree(hf_models["tied"][0], d)
    f = hf.SafetensorsFile(d / "model.safetensors")
    tensors = {n: f.read(n) for n in f.tensors}
    tensors["model.layers.0.self_attn.q_proj.bias"] = np.zeros(32, np.float32)
    save_file(tensors, str(d / "model.safetensors"))
    refused([d, "-o", tmp_path / "o.llmb"], capsys, "unsupported", "q_proj.bias", "bias")


def test_refused_missing_files(hf_models, tmp_path, capsys):
    d = tmp_path / "m"
    shutil.copytree(hf_models["tied"][0], d)
    (d / "model.safetensors").unlink()
    (d / "pytorch_model.bin").write_bytes(b"x")
    refused([d, "-o", tmp_path / "o"], capsys, "no model.safetensors", "pytorch_model.bin")
    (d / "config.json").unlink()
    refused([d, "-o", tmp_path / "o"], capsys, "without config.json")


def test_refused_tokenizer_json_byte_level(hf_models, tmp_path, capsys):
    d = tmp_path / "m"
    shutil.copytree(hf_models["tied"][0], d)
    tj = {"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": None,
          "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}, "decoder": {"type": "ByteLevel"}}
    (d / "tokenizer.json").write_text(json.dumps(tj))
    refused([d, "-o", tmp_path / "o"], capsys, "unsupported", "byte-level", "GPT-2")


@pytest.mark.parametrize("kw,words", [
    (dict(model_type="unigram"), ["unsupported", "unigram"]),
    (dict(byte_fallback=False), ["unsupported", "byte_fallback"]),
    (dict(normalization_rule_name="nmt_nfkc"), ["unsupported", "nmt_nfkc"]),
    (dict(bos_id=-1), ["unsupported", "BOS id -1"]),
    (dict(unk_id=3, bos_id=0, eos_id=1), ["unsupported", "<0x00>"]),
])
def test_refused_sentencepiece(tmp_path, kw, words):
    import sentencepiece as spm
    (tmp_path / "t.txt").write_text(H.TRAIN_TEXT)
    args = dict(input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "s"), vocab_size=H.SPM_VOCAB,
                model_type="bpe", byte_fallback=True, character_coverage=1.0,
                normalization_rule_name="identity", remove_extra_whitespaces=False,
                minloglevel=2, num_threads=1, pad_id=-1)
    args.update(kw)
    spm.SentencePieceTrainer.train(**args)
    with pytest.raises(hf.HfError) as e:
        HT.from_sentencepiece((tmp_path / "s.model").read_bytes(), H.SPM_VOCAB)
    for w in words:
        assert w in str(e.value)


def test_other_bos_eos_ids(tmp_path, capsys):
    """BOS 2 and EOS 1: carried by the metadata, which the library reads."""
    import sentencepiece as spm
    (tmp_path / "t.txt").write_text(H.TRAIN_TEXT)
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "tokenizer"), vocab_size=H.SPM_VOCAB,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, minloglevel=2, num_threads=1, pad_id=-1, bos_id=2, eos_id=1)
    d = tmp_path / "m"
    d.mkdir()
    shutil.copyfile(tmp_path / "tokenizer.model", d / "tokenizer.model")
    H.make_llama(d, "tied", seed=1, vocab_size=H.SPM_VOCAB, n_pos=1)
    rc, so, err = convert([d, "-o", tmp_path / "o.llmb"], capsys)
    assert rc == 0, err
    b = B.read_blob((tmp_path / "o.llmb").read_bytes())
    assert (b.metadata["bos_id"], b.metadata["eos_id"]) == ("2", "1")
    t = Tokenizer(b.tokenizer, H.SPM_VOCAB)
    assert (t.vocab[2], t.vocab[1]) == (b"\n<s>\n", b"\n</s>\n")


# ------------------------------------------------------------------ tokenizer

# ASCII, Unicode, emoji, whitespace runs, the empty string.
TEXTS = ["", "Once upon a time", "Hello, world! 123 (x+y)=z; \"quoted\" it's", "a  b   c    d",
         "end  ", "tabs\tand\nnew lines\n\n", "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
         "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "emoji \U0001f600\U0001f389 ok \U0001f680!",
         "\U0001f469\u200d\U0001f4bb", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440",
         "1234567890", "x", "\n"]
# Texts that begin with a space: transformers adds no dummy prefix there.
LEADING = [" leading", "  two  spaces", "    indented", " ", "   "]


@pytest.fixture(scope="session")
def tok_folders(spm_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    return {form: H.tokenizer_folder(root / form, spm_model, form)
            for form in ("model", "json_prepend", "json_metaspace")}


def test_sentencepiece_parser(spm_model):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    m = HT.parse_sentencepiece(spm_model.read_bytes())
    assert len(m["pieces"]) == sp.vocab_size() == H.SPM_VOCAB
    for i, (text, score, typ) in enumerate(m["pieces"]):
        assert text == sp.id_to_piece(i)
        assert np.float32(score) == np.float32(sp.get_score(i))
        assert (typ == HT.BYTE) == sp.is_byte(i) and (typ == HT.CONTROL) == sp.is_control(i)
    assert (m["bos_id"], m["eos_id"], m["unk_id"]) == (sp.bos_id(), sp.eos_id(), sp.unk_id())


@pytest.mark.parametrize("form", ["model", "json_prepend", "json_metaspace"])
def test_tokenizer_ids_match(tok_folders, spm_model, form):
    """Our Python tokenizer (the C encoder's oracle) on the converted
    tokenizer: the ids of transformers' LlamaTokenizer with the
    prefix-unless-space rule (llm-convert's default for these), and of
    SentencePiece with the always-prefix rule (--dummy-prefix always)."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    folder = tok_folders[form]
    data, facts = HT.read_folder_tokenizer(folder, H.SPM_VOCAB)
    assert facts["source"] == ("tokenizer.model" if form == "model" else "tokenizer.json")
    assert (facts["bos_id"], facts["eos_id"]) == (1, 2)
    ours_hf = Tokenizer(data, H.SPM_VOCAB, prefix_unless_space=True)
    ours_sp = Tokenizer(data, H.SPM_VOCAB)
    theirs = H.hf_tokenizer(folder)
    assert (theirs.bos_token_id, theirs.eos_token_id) == (1, 2)
    for t in TEXTS + LEADING:
        want = theirs.encode(t, add_special_tokens=False)
        assert ours_hf.encode(t, False, False) == want, repr(t)
        assert ours_hf.encode(t, True, True) == [1] + want + [2]
        assert ours_sp.encode(t, False, False) == sp.encode(t), repr(t)
    for t in LEADING:
        # The rule that differs: transformers' Metaspace (prepend_scheme
        # 'first') takes a leading space as the dummy prefix; SentencePiece
        # (and llama2.c) add one anyway.
        assert ours_sp.encode(t, False, False) == theirs.encode(" " + t, add_special_tokens=False)
        assert ours_sp.encode(t, False, False) != theirs.encode(t, add_special_tokens=False)
    # U+2581 in the text: SentencePiece and transformers read it as a space;
    # llama2.c and this library as a character (byte pieces here).
    assert theirs.encode("a\u2581b", add_special_tokens=False) == ours_hf.encode("a b", False, False)
    assert ours_hf.encode("a\u2581b", False, False) != ours_hf.encode("a b", False, False)


@pytest.mark.parametrize("option,flags", [([], B.TOK_PREFIX_UNLESS_SPACE), (["--dummy-prefix", "always"], 0)])
def test_convert_tokenizer_flags(tok_folders, tmp_path, capsys, option, flags):
    d = tmp_path / "m"
    shutil.copytree(tok_folders["json_prepend"], d)
    H.make_llama(d, "tied", seed=1, vocab_size=H.SPM_VOCAB, n_pos=1)
    rc, so, err = convert([d, "-o", tmp_path / "o.llmb", *option], capsys)
    assert rc == 0, err
    data = (tmp_path / "o.llmb").read_bytes()
    assert B.tokenizer_flags(data) == flags
    assert B.read_blob(data)[2] == HT.read_folder_tokenizer(d, H.SPM_VOCAB)[0]
    assert ("dummy prefix: always" in so) == (flags == 0)


def test_dummy_prefix_option_needs_hf_tokenizer(model_file, tmp_path, capsys):
    refused([model_file("stories260K.bin"), "-o", tmp_path / "o", "--dummy-prefix", "always"], capsys,
            "--dummy-prefix applies to Hugging Face tokenizers")


def test_tokenizer_json_scores_follow_merges(tok_folders):
    """tokenizer.json carries merges, not scores: the converted scores put the
    pieces in merge order, so the same pieces come out as from tokenizer.model."""
    a, _ = HT.read_folder_tokenizer(tok_folders["model"], H.SPM_VOCAB)
    b, _ = HT.read_folder_tokenizer(tok_folders["json_prepend"], H.SPM_VOCAB)
    ta, tb = Tokenizer(a, H.SPM_VOCAB), Tokenizer(b, H.SPM_VOCAB)
    assert ta.vocab == tb.vocab
    for t in TEXTS + LEADING + [H.TRAIN_TEXT[:2000]]:
        assert ta.encode(t, True, False) == tb.encode(t, True, False)


def test_prefix_rule_reported(tok_folders):
    assert HT.read_folder_tokenizer(tok_folders["json_prepend"], H.SPM_VOCAB)[1]["prefix"] == "always"
    assert HT.read_folder_tokenizer(tok_folders["json_metaspace"], H.SPM_VOCAB)[1]["prefix"] == "unless_space"


def test_tokenizer_padded_to_model_vocab(tok_folders):
    data, _ = HT.read_folder_tokenizer(tok_folders["model"], H.SPM_VOCAB + 5)
    t = Tokenizer(data, H.SPM_VOCAB + 5)
    assert t.vocab[-5:] == [b""] * 5
    with pytest.raises(hf.HfError, match="more than the model's vocab_size"):
        HT.read_folder_tokenizer(tok_folders["model"], H.SPM_VOCAB - 1)


# ------------------------------------------------------------------ metadata

@pytest.mark.parametrize("template,name", [
    ("{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}", "llama2"),
    ("{% for m in messages %}<|user|>\n{{ m['content'] }}</s>{% endfor %}", "zephyr"),
    ("{{ messages }}", None),
])
def test_metadata(tok_folders, tmp_path, capsys, template, name):
    """The blob's metadata record of a Hugging Face conversion."""
    d = tmp_path / "m"
    shutil.copytree(tok_folders["model"], d)
    H.make_llama(d, "tied", seed=1, vocab_size=H.SPM_VOCAB, n_pos=1)
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    rc, so, err = convert([d, "-o", tmp_path / "o.llmb", "--weights", "q8", "--meta", "name=tiny"], capsys)
    assert rc == 0, err
    from llmtools.download import sha256_file
    want = {"name": "tiny", "source": "m", "source_sha256": sha256_file(d / "model.safetensors"),
            "bos_id": "1", "eos_id": "2", "train_ctx": "16", "recipe": "weights=q8 group_size=32"}
    if name:
        want["chat_template"] = name
    got = B.read_blob((tmp_path / "o.llmb").read_bytes()).metadata
    assert got == want
