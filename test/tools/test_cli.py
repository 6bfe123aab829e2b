"""llm-convert / llm-inspect (`python -m llmtools convert|inspect`): real
conversions of stories260K and one-line errors with exit code 2 on bad input."""
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
    assert "tensors: 48 (classifier tied)" in o  # 1 + 9 * 5 + final_norm + tokenizer
    assert "tok_emb" in o and "512x64" in o and "131072" in o
    assert f"total size: {out.stat().st_size} bytes" in o
    assert "tokenizer: embedded, 512 tokens, max token length 7, 6227 bytes" in o
    assert "checksum: OK" in o and "valid: yes" in o
    rows = [line.split() for line in o.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert rows[0][:6] == ["0", "tok_emb", "0", "f32", "512x64", str(B.tensor_table(out.read_bytes())[0]["offset"])]


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
