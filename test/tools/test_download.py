"""llm-download: files from LLM_MODELS_DIR (no network) or a file:// URL into a
temporary cache, with SHA-256 checks. The network is blocked in every test."""
import hashlib
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
