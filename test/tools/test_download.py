"""llm-download: files from LLM_MODELS_DIR (no network) or a file:// URL into a
temporary cache, with SHA-256 checks. The network is blocked in every test."""
import hashlib
import json
import urllib.request

import pytest

from llmtools import cli
from llmtools import download as D


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def no_network(monkeypatch):
    """Only file:// URLs may be opened."""
    real = urllib.request.urlopen
    calls = []

    def guarded(url, *a, **kw):
        u = url if isinstance(url, str) else url.full_url
        calls.append(u)
        if not u.startswith("file://"):
            raise AssertionError(f"network access to {u}")
        return real(url, *a, **kw)

    monkeypatch.setattr(urllib.request, "urlopen", guarded)
    return calls


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LLM_MODELS_DIR", raising=False)
    return tmp_path / "xdg" / "llm-mcu"


def test_pinned_hashes_match_the_models(model_file):
    for name, sha in D.DEFAULT_FILES.items():
        assert D.sha256_file(model_file(name)) == sha


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert D.cache_dir() == tmp_path / "llm-mcu"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_dir() == tmp_path / "home" / ".cache" / "llm-mcu"


def test_from_models_dir_in_place(model_file, monkeypatch, no_network):
    d = model_file("stories260K.bin").parent
    monkeypatch.setenv("LLM_MODELS_DIR", str(d))
    paths = D.ensure_files(base_url="https://invalid.example/none")
    assert paths == {n: d / n for n in D.DEFAULT_FILES}
    assert no_network == []


def test_from_models_dir_copied(model_file, monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("LLM_MODELS_DIR", str(model_file("tok512.bin").parent))
    paths = D.ensure_files(dest_dir=tmp_path / "out")
    for name, sha in D.DEFAULT_FILES.items():
        assert paths[name] == tmp_path / "out" / name and D.sha256_file(paths[name]) == sha
    assert no_network == []


def test_models_dir_sha_mismatch(tmp_path, monkeypatch, no_network):
    (tmp_path / "stories260K.bin").write_bytes(b"not the model")
    (tmp_path / "tok512.bin").write_bytes(b"x")
    monkeypatch.setenv("LLM_MODELS_DIR", str(tmp_path))
    with pytest.raises(D.DownloadError) as ei:
        D.ensure_files()
    msg = str(ei.value)
    assert "stories260K.bin" in msg and D.DEFAULT_FILES["stories260K.bin"] in msg
    assert _sha(b"not the model") in msg
    assert no_network == []


def test_models_dir_missing_file(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("LLM_MODELS_DIR", str(tmp_path))
    with pytest.raises(D.DownloadError, match="stories260K.bin: not found"):
        D.ensure_files()


def test_file_url_into_cache(model_file, cache, no_network):
    base = model_file("tok512.bin").parent.as_uri()
    paths = D.ensure_files(base_url=base, progress=False)
    for name, sha in D.DEFAULT_FILES.items():
        assert paths[name] == cache / name and D.sha256_file(cache / name) == sha
    assert sorted(p.name for p in cache.iterdir()) == sorted(D.DEFAULT_FILES)  # no .part left
    assert len(no_network) == 2
    # a second call finds verified files and fetches nothing
    assert D.ensure_files(base_url=base, progress=False) == paths
    assert len(no_network) == 2


def test_file_url_replaces_corrupt_cache_entry(model_file, cache, no_network):
    cache.mkdir(parents=True)
    (cache / "tok512.bin").write_bytes(b"stale")
    D.ensure_files(base_url=model_file("tok512.bin").parent.as_uri(), progress=False)
    assert D.sha256_file(cache / "tok512.bin") == D.DEFAULT_FILES["tok512.bin"]


def test_file_url_sha_mismatch(tmp_path, cache, no_network):
    src = tmp_path / "srv"
    src.mkdir()
    (src / "a.bin").write_bytes(b"hello")
    want = _sha(b"something else")
    with pytest.raises(D.DownloadError) as ei:
        D.ensure_files(base_url=src.as_uri(), files={"a.bin": want}, progress=False)
    msg = str(ei.value)
    assert "a.bin" in msg and want in msg and _sha(b"hello") in msg
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing half-written


def test_file_url_missing(tmp_path, cache, no_network):
    with pytest.raises(D.DownloadError, match="cannot fetch"):
        D.ensure_files(base_url=tmp_path.as_uri(), files={"nope.bin": "0" * 64}, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_fetch_small_file(tmp_path, no_network):
    src = tmp_path / "f.bin"
    src.write_bytes(b"\x00\x01" * 100000)
    dest = D.fetch(src.as_uri(), tmp_path / "d" / "f.bin", _sha(src.read_bytes()), progress=False)
    assert dest.read_bytes() == src.read_bytes()


def test_cli_download_models_dir(model_file, monkeypatch, capsys, no_network):
    d = model_file("stories260K.bin").parent
    monkeypatch.setenv("LLM_MODELS_DIR", str(d))
    assert cli.download_main([]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(d / "stories260K.bin"), str(d / "tok512.bin")]


def test_cli_download_file_url_dir(model_file, tmp_path, cache, capsys, no_network):
    base = model_file("stories260K.bin").parent.as_uri()
    assert cli.download_main(["--dir", str(tmp_path / "m"), "--url", base, "--no-progress"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "m" / n) for n in D.DEFAULT_FILES]
    assert not cache.exists()


def test_cli_download_mismatch_exit_code(tmp_path, monkeypatch, capsys, no_network):
    (tmp_path / "stories260K.bin").write_bytes(b"bad")
    (tmp_path / "tok512.bin").write_bytes(b"bad")
    monkeypatch.setenv("LLM_MODELS_DIR", str(tmp_path))
    assert cli.download_main([]) == 2
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and "stories260K.bin" in err and "Traceback" not in err


# ------------------------------------------------------------------ --hf-repo

REV = "0123456789abcdef0123456789abcdef01234567"


def _git_sha1(b: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


@pytest.mark.parametrize("spec,words", [
    ("owner/name", "no revision"),
    ("owner/name@main", "not a 40-hex commit"),
    ("owner/name@" + REV[:12], "not a 40-hex commit"),
    ("owner/name@" + REV.upper(), "not a 40-hex commit"),
    ("just-a-name@" + REV, "OWNER/NAME@REVISION"),
    ("a/b/c@" + REV, "OWNER/NAME@REVISION"),
])
def test_hf_repo_needs_a_pinned_commit(spec, words):
    with pytest.raises(D.DownloadError, match=words):
        D.parse_hf_repo(spec)


def test_hf_urls():
    assert D.parse_hf_repo("TinyLlama/TinyLlama-1.1B-Chat-v1.0@" + REV) == ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", REV)
    assert D.hf_api_url("o/n", REV) == f"https://huggingface.co/api/models/o/n/revision/{REV}?blobs=true"
    assert D.hf_file_url("o/n", REV, "model-00001-of-00002.safetensors") == \
        f"https://huggingface.co/o/n/resolve/{REV}/model-00001-of-00002.safetensors"


class _Resp:
    def __init__(self, data: bytes):
        self._data, self._pos, self.headers = data, 0, {"Content-Length": str(len(data))}

    def read(self, n=-1):
        chunk = self._data[self._pos:] if n < 0 else self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _hub(files: dict, lfs: set):
    """A fake Hub serving files at REV: opener(url) and the URLs it was asked for."""
    siblings = []
    for name, data in files.items():
        s = {"rfilename": name, "blobId": _git_sha1(data)}
        if name in lfs:
            s["lfs"] = {"sha256": _sha(data), "size": len(data)}
        siblings.append(s)
    siblings.append({"rfilename": "README.md", "blobId": "0" * 40})  # not needed, not fetched
    api = json.dumps({"sha": REV, "siblings": siblings}).encode()
    calls = []

    def opener(url):
        calls.append(url)
        if url == D.hf_api_url("o/n", REV):
            return _Resp(api)
        for name, data in files.items():
            if url == D.hf_file_url("o/n", REV, name):
                return _Resp(data)
        raise OSError(f"404 {url}")
    return opener, calls


def test_hf_snapshot_verifies_and_caches(tmp_path, no_network):
    files = {"config.json": b'{"model_type": "llama"}', "model.safetensors": b"weights" * 100,
             "tokenizer.model": b"spm"}
    opener, calls = _hub(files, lfs={"model.safetensors", "tokenizer.model"})
    folder = D.hf_snapshot("o/n@" + REV, cache=tmp_path, opener=opener, progress=False)
    assert folder == tmp_path / "hf" / "o--n" / REV
    for name, data in files.items():
        assert (folder / name).read_bytes() == data
    assert not (folder / "README.md").exists()
    assert len(calls) == 1 + len(files)
    # Second time: every file matches its listed hash, nothing is fetched.

    def offline(url):
        raise AssertionError(f"network access to {url}")
    assert D.hf_snapshot("o/n@" + REV, cache=tmp_path, opener=offline, progress=False) == folder
    # A damaged file is fetched again, and only that one.
    (folder / "model.safetensors").write_bytes(b"damaged")
    calls.clear()
    D.hf_snapshot("o/n@" + REV, cache=tmp_path, opener=opener, progress=False)
    assert calls == [D.hf_file_url("o/n", REV, "model.safetensors")]
    assert (folder / "model.safetensors").read_bytes() == files["model.safetensors"]
    assert no_network == []


def test_hf_snapshot_rejects_wrong_content(tmp_path, no_network):
    files = {"config.json": b"{}", "model.safetensors": b"good"}
    opener, _ = _hub(files, lfs={"model.safetensors"})

    def tampering(url):
        r = opener(url)
        return _Resp(b"evil") if url.endswith("model.safetensors") else r
    with pytest.raises(D.DownloadError, match="SHA-256 mismatch"):
        D.hf_snapshot("o/n@" + REV, cache=tmp_path, opener=tampering, progress=False)
    assert not (tmp_path / "hf" / "o--n" / REV / "model.safetensors").exists()
    assert not list((tmp_path / "hf" / "o--n" / REV).glob("*.part"))


def test_convert_hf_repo_without_revision(tmp_path, cli, no_network):
    r = cli("convert", "--hf-repo", "TinyLlama/TinyLlama-1.1B-Chat-v1.0", "-o", tmp_path / "o.llmb")
    assert r.returncode == 2 and "no revision" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("convert", "--hf-repo", "TinyLlama/TinyLlama-1.1B-Chat-v1.0@main", "-o", tmp_path / "o.llmb")
    assert r.returncode == 2 and "40-hex" in r.stderr and len(r.stderr.strip().splitlines()) == 1
