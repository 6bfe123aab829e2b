"""Fetch the default model files (stories260K + tok512) with pinned SHA-256.

Files go to a cache directory ($XDG_CACHE_HOME/llm-mcu or ~/.cache/llm-mcu).
When LLM_MODELS_DIR is set, files are taken from that directory instead and
the network is never used. Every file is verified; downloads go to a temporary
file in the destination directory and are renamed into place only when their
hash matches.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

BASE_URL = "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K"
DEFAULT_FILES = {
    "stories260K.bin": "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696",
    "tok512.bin": "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312",
}
_CHUNK = 1 << 16


class DownloadError(Exception):
    """A file is missing, unreachable or has the wrong SHA-256."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "llm-mcu"


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(name: str, got: str, want: str) -> None:
    if got != want:
        raise DownloadError(f"{name}: SHA-256 mismatch: expected {want}, got {got}")


def _bar(total, desc, show):
    from tqdm import tqdm
    # disable=None: shown on a terminal only, so logs stay clean
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None if show else True, leave=False)


def _install(dest: Path, sha256: str, write) -> Path:
    """dest with content of the given SHA-256, unless it already has it.

    write(tmp) fills tmp, a new file next to dest, and returns its SHA-256;
    dest is replaced by tmp only when that matches. On any error tmp is
    removed and dest is left untouched.
    """
    dest = Path(dest)
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        _check(dest.name, write(tmp), sha256)
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def fetch(url: str, dest: Path, sha256: str, progress: bool = True) -> Path:
    """Download url to dest unless dest already has the right hash (_install)."""
    name = Path(dest).name

    def write(tmp: str) -> str:
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:
                    length = resp.headers.get("Content-Length")
                    with _bar(int(length) if length else None, name, progress) as bar:
                        while True:
                            chunk = resp.read(_CHUNK)
                            if not chunk:
                                break
                            out.write(chunk)
                            h.update(chunk)
                            bar.update(len(chunk))
            except (OSError, ValueError) as e:
                raise DownloadError(f"{name}: cannot fetch {url}: {e}") from None
        return h.hexdigest()

    return _install(dest, sha256, write)


def _copy_verified(src: Path, dest: Path, sha256: str) -> Path:
    def write(tmp: str) -> str:
        shutil.copyfile(src, tmp)
        return sha256_file(tmp)

    return _install(dest, sha256, write)


def ensure_files(dest_dir=None, base_url: str = BASE_URL, files: dict | None = None,
                 models_dir=None, progress: bool = True) -> dict:
    """Make each file of files ({name: sha256}, default stories260K + tok512)
    available and verified; return {name: Path}.

    models_dir (default: $LLM_MODELS_DIR): take the files from there and never
    touch the network; they are used in place, or copied into dest_dir when
    one is given. Otherwise download base_url + '/' + name into dest_dir
    (default: cache_dir()); base_url may be file://. Raises DownloadError.
    """
    files = DEFAULT_FILES if files is None else files
    if models_dir is None:
        models_dir = os.environ.get("LLM_MODELS_DIR") or None
    out = {}
    if models_dir is not None:
        src_dir = Path(models_dir)
        for name, sha in files.items():
            src = src_dir / name
            if not src.is_file():
                raise DownloadError(f"{name}: not found in LLM_MODELS_DIR {src_dir}")
            if dest_dir is None:
                _check(name, sha256_file(src), sha)
                out[name] = src
            else:
                out[name] = _copy_verified(src, Path(dest_dir) / name, sha)
        return out
    dest = Path(dest_dir) if dest_dir is not None else cache_dir()
    for name, sha in files.items():
        out[name] = fetch(base_url.rstrip("/") + "/" + name, dest / name, sha, progress)
    return out
