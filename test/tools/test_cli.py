"""llm-convert / llm-inspect (`python -m llmtools convert|inspect`): real
conversions of stories260K and one-line errors with exit code 2 on bad input."""
import hashlib
import struct

import numpy as np
import pytest

from llmtools import blob as B
from llmtools import cli
from llmtools import testmodels as T
from llmtools.llama2c import write_legacy


def _user_error(r, code):
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert code in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.fixture(scope="module")
def converted(tmp_path_factory, model_file, cli):
    """stories260K converted with its tokenizer by the CLI: (path, CompletedProcess)."""
    out = tmp_path_factory.mktemp("conv") / "stories260K.llmb"
    r = cli("convert", model_file("stories260K.bin"), "--tokenizer", model_file("tok512.bin"), "-o", out)
    return out, r


def test_convert_stories260k(converted, stories260k, model_file):
    out, r = converted
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "tokenizer embedded" in r.stdout
    c, w = stories260k
    c2, w2, tok = B.read_blob(out.read_bytes())
    assert c2 == c
    assert tok == model_file("tok512.bin").read_bytes()
    assert "cls" not in w2
    for k in w:
        for x, y in zip(w[k] if isinstance(w[k], list) else [w[k]], w2[k] if isinstance(w2[k], list) else [w2[k]]):
            assert np.array_equal(x, y), k
    assert not list(out.parent.glob("*.part"))


def test_inspect_stories260k(converted, cli):
    out, _ = converted
    r = cli("inspect", out)
    assert r.returncode == 0, r.stderr
    o = r.stdout
    assert "dim=64 hidden_dim=172 n_layers=5 n_heads=8 n_kv_heads=4 vocab_size=512 seq_len=512" in o
    assert "tensors: 49 (classifier tied)" in o  # 1 + 9 * 5 + final_norm + tokenizer + metadata
    assert "tok_emb" in o and "512x64" in o and "131072" in o
    assert f"total size: {out.stat().st_size} bytes" in o
    assert "tokenizer: embedded, 512 tokens, max token length 7, 6227 bytes" in o
    assert "checksum: OK" in o and "valid: yes" in o
    assert "metadata: 7 pairs, " in o
    lines = o.splitlines()
    i = lines.index(next(x for x in lines if x.startswith("metadata: ")))
    pairs = [tuple(x.split(" = ", 1)) for x in lines[i + 1:i + 8]]
    assert [(k.strip(), v) for k, v in pairs] == list(B.read_blob(out.read_bytes()).metadata.items())
    rows = [line.split() for line in o.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert rows[0][:6] == ["0", "tok_emb", "0", "f32", "512x64", str(B.tensor_table(out.read_bytes())[0]["offset"])]


def test_convert_metadata(converted, model_file):
    out, r = converted
    assert "metadata: 7 pairs (name, source, source_sha256, bos_id, eos_id, train_ctx, recipe)" in r.stdout
    assert B.read_blob(out.read_bytes()).metadata == {
        "name": "stories260K",
        "source": "stories260K.bin",
        "source_sha256": hashlib.sha256(model_file("stories260K.bin").read_bytes()).hexdigest(),
        "bos_id": "1",
        "eos_id": "2",
        "train_ctx": "512",
        "recipe": "weights=f32",
    }


@pytest.mark.parametrize("opts,recipe", [
    (["--weights", "q8"], "weights=q8 group_size=32"),
    (["--weights", "q8", "--group-size", "64", "--override", "w2=f32", "--override", "tok_emb=q8:16"],
     "weights=q8 group_size=64 override=w2=f32,tok_emb=q8:16"),
    (["--weights", "q4", "--q4-method", "minmax"], "weights=q4 group_size=32 q4_method=minmax"),
    (["--override", "w1=q4", "--calib-seqs", "2"], "weights=f32 override=w1=q4 q4_method=gptq calib_seqs=2"),
])
def test_convert_recipe_and_meta_options(tmp_path, capsys, opts, recipe):
    c = T.tiny_config()
    src = tmp_path / "tiny-model.v2.bin"
    raw = write_legacy(c, T.random_model(c, 2, tied=True))
    src.write_bytes(raw)
    out = tmp_path / "m.llmb"
    argv = [str(src), "-o", str(out), "--no-progress", *opts,
            "--meta", "chat_template=zephyr", "--meta", "train_ctx=4096", "--meta", "x.note=a=b ü", "--meta", "e="]
    assert cli.convert_main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    meta = B.read_blob(out.read_bytes()).metadata
    assert meta == {"name": "tiny-model.v2", "source": "tiny-model.v2.bin",
                    "source_sha256": hashlib.sha256(raw).hexdigest(), "bos_id": "1", "eos_id": "2",
                    "train_ctx": "4096", "recipe": recipe, "chat_template": "zephyr",
                    "x.note": "a=b ü", "e": ""}
    assert list(meta)[-3:] == ["chat_template", "x.note", "e"]  # added after the converter's own


@pytest.mark.parametrize("meta,code", [
    ("novalue", "--meta wants KEY=VALUE"),
    ("Name=x", "[a-z][a-z0-9_.]*"),
    ("=x", "[a-z][a-z0-9_.]*"),
    ("bos_id=512", "LLM_ERR_META_TOKEN_ID"),
    ("eos_id=two", "LLM_ERR_META_TOKEN_ID"),
])
def test_convert_bad_meta(model_file, tmp_path, cli, meta, code):
    out = tmp_path / "x.llmb"
    _user_error(cli("convert", model_file("stories260K.bin"), "-o", out, "--meta", meta), code)
    assert not out.exists()


def test_inspect_without_and_with_bad_metadata(tmp_path, capsys, tiny):
    c, w, tok = tiny
    p = tmp_path / "plain.llmb"
    p.write_bytes(B.write_blob(c, w, tok))
    assert cli.inspect_main([str(p)]) == 0
    assert "metadata: none (BOS 1, EOS 2)" in capsys.readouterr().out
    data = bytearray(B.write_blob(c, w, tok, metadata={"name": "t", "note": "tab\there"}))
    p.write_bytes(bytes(data))
    assert cli.inspect_main([str(p)]) == 0
    o = capsys.readouterr().out
    assert "metadata: 2 pairs, " in o and "  name = t\n" in o and "  note = 'tab\\there'\n" in o
    e = B.tensor_table(data)[-1]
    data[e["offset"]] = 2  # record version
    B.fix_crc(data)
    p.write_bytes(bytes(data))
    assert cli.inspect_main([str(p)]) == 2
    cap = capsys.readouterr()
    assert "metadata: " in cap.out and "unreadable (LLM_ERR_META_VERSION" in cap.out
    assert cap.err.startswith("llm-inspect: error: LLM_ERR_META_VERSION")


def test_inspect_checksum_mismatch(converted, tmp_path, cli):
    out, _ = converted
    data = bytearray(out.read_bytes())
    data[5000] ^= 1
    bad = tmp_path / "bad.llmb"
    bad.write_bytes(bytes(data))
    r = cli("inspect", bad)
    _user_error(r, "LLM_ERR_CHECKSUM")
    assert "checksum: MISMATCH" in r.stdout


def test_inspect_not_a_blob(model_file, cli):
    _user_error(cli("inspect", model_file("stories260K.bin")), "LLM_ERR_MAGIC")
    _user_error(cli("inspect", model_file("tok512.bin")), "LLM_ERR_MAGIC")


def test_inspect_in_process_dims_error(tmp_path, capsys, tiny):
    c, w, _ = tiny
    data = bytearray(B.write_blob(c, w))
    struct.pack_into("<I", data, B.HEADER_OFFSETS["n_kv_heads"], 3)
    B.fix_crc(data)
    p = tmp_path / "dims.llmb"
    p.write_bytes(bytes(data))
    assert cli.inspect_main([str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llm-inspect: error: LLM_ERR_DIMS")


def test_convert_untied_without_tokenizer_in_process(tmp_path, capsys):
    c = T.tiny_config()
    w = T.random_model(c, 2, tied=False)
    src = tmp_path / "m.bin"
    src.write_bytes(write_legacy(c, w))
    out = tmp_path / "m.llmb"
    assert cli.convert_main([str(src), "-o", str(out), "--no-progress"]) == 0
    assert "classifier separate" in capsys.readouterr().out
    c2, w2, tok = B.read_blob(out.read_bytes())
    assert c2 == c and tok is None and np.array_equal(w2["cls"], w["cls"])


# ---------------------------------------------------------------- malformed input

@pytest.fixture(scope="module")
def raw260k(model_file):
    return model_file("stories260K.bin").read_bytes()


@pytest.mark.parametrize("name,mutate,code", [
    ("truncated", lambda d: d[:-100], "LLM_ERR_TRUNCATED"),
    ("short header", lambda d: d[:10], "LLM_ERR_TRUNCATED"),
    ("trailing bytes", lambda d: d + b"\0" * 64, "LLM_ERR_SIZE"),
    ("header dims", lambda d: struct.pack("<i", 63) + d[4:], "LLM_ERR_DIMS"),
    ("ak42 version 2", lambda d: struct.pack("<Ii", 0x616B3432, 2) + d[8:], "LLM_ERR_VERSION"),
    ("blob magic", lambda d: b"LLMB" + d[4:], "LLM_ERR_MAGIC"),
])
def test_convert_malformed(raw260k, tmp_path, cli, name, mutate, code):
    src = tmp_path / "bad.bin"
    src.write_bytes(mutate(raw260k))
    out = tmp_path / "out.llmb"
    _user_error(cli("convert", src, "-o", out), code)
    assert not out.exists()


def test_convert_tokenizer_vocab_mismatch(model_file, tmp_path, cli):
    r = cli("convert", model_file("stories260K.bin"), "--tokenizer", model_file("tokenizer32k.bin"),
            "-o", tmp_path / "x.llmb")
    _user_error(r, "LLM_ERR_TOKENIZER")
    assert "32000" in r.stderr and "512" in r.stderr


def test_convert_bad_tokenizer_file(model_file, tmp_path, cli):
    tok = tmp_path / "tok.bin"
    tok.write_bytes(model_file("tok512.bin").read_bytes()[:-3])
    _user_error(cli("convert", model_file("stories260K.bin"), "--tokenizer", tok, "-o", tmp_path / "x"),
                "LLM_ERR_TOKENIZER")


def test_missing_file(tmp_path, cli):
    r = cli("convert", tmp_path / "nope.bin", "-o", tmp_path / "x")
    assert r.returncode == 2 and "nope.bin" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("cmd", ["convert", "inspect", "download"])
def test_help(cli, cmd):
    r = cli(cmd, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    assert len(r.stdout.splitlines()) > 5


def test_top_level_help(cli):
    r = cli("--help")
    assert r.returncode == 0
    for cmd in ("convert", "inspect", "download"):
        assert cmd in r.stdout
