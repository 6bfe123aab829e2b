"""Fetch the default model files (stories260K + tok512) with pinned SHA-256,
and Hugging Face repositories at a pinned commit (hf_snapshot).

Files go to a cache directory ($XDG_CACHE_HOME/llm-mcu or ~/.cache/llm-mcu).
When LLM_MODELS_DIR is set, files are taken from that directory instead and
the network is never used. Every file is verified; downloads go to a temporary
file in the destination directory and are renamed into place only when their
hash matches.
"""
from __future__ import annotations

import hashlib
import json
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


# ------------------------------------------------------------------ Hugging Face repositories

HF_ENDPOINT = "https://huggingface.co"
# What a Llama folder needs; the others are fetched when the repository has them.
HF_WANT = ("config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
           "tokenizer.model", "tokenizer_config.json", "generation_config.json")


def parse_hf_repo(spec: str) -> tuple[str, str]:
    """'owner/name@<40-hex commit>' -> (repo, revision). A branch or tag moves,
    so only a full commit hash pins the files; anything else is refused."""
    repo, sep, rev = spec.partition("@")
    parts = repo.split("/")
    ok_name = len(parts) == 2 and all(p and all(ch.isalnum() or ch in "-_." for ch in p) for p in parts)
    if not ok_name:
        raise DownloadError(f"--hf-repo {spec!r}: expected OWNER/NAME@REVISION")
    if not sep:
        raise DownloadError(f"--hf-repo {spec!r}: no revision; pin one, e.g. {repo}@<40-hex commit> "
                            "(the commit shown on the repository's 'Files' page)")
    if len(rev) != 40 or any(ch not in "0123456789abcdef" for ch in rev):
        raise DownloadError(f"--hf-repo {spec!r}: revision {rev!r} is not a 40-hex commit hash "
                            "(branches and tags move; a commit pins the files)")
    return repo, rev


def hf_api_url(repo: str, rev: str, endpoint: str = HF_ENDPOINT) -> str:
    """The Hub API page listing a revision's files with their hashes."""
    return f"{endpoint}/api/models/{repo}/revision/{rev}?blobs=true"


def hf_file_url(repo: str, rev: str, name: str, endpoint: str = HF_ENDPOINT) -> str:
    return f"{endpoint}/{repo}/resolve/{rev}/{urllib.request.quote(name)}"


def git_blob_sha1(path) -> str:
    """Git's object id of a file (sha1 of 'blob <size>\\0' + content), which
    the Hub gives for files not stored with LFS."""
    h = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _hf_manifest(info: dict, rev: str) -> dict:
    """{file name: ('sha256' | 'git-sha1', hex)} of the files a Llama folder uses."""
    if info.get("sha") != rev:
        raise DownloadError(f"the Hub answered for revision {info.get('sha')!r}, not {rev}")
    out = {}
    for s in info.get("siblings") or []:
        name = s.get("rfilename", "")
        if name not in HF_WANT and not (name.startswith("model-") and name.endswith(".safetensors")):
            continue
        lfs = s.get("lfs") or {}
        if lfs.get("sha256"):
            out[name] = ("sha256", lfs["sha256"])
        elif s.get("blobId"):
            out[name] = ("git-sha1", s["blobId"])
        else:
            raise DownloadError(f"the Hub listing gives no hash for {name}")
    if "config.json" not in out:
        raise DownloadError("the repository has no config.json at that revision")
    return out


def _verified(path: Path, kind: str, want: str) -> bool:
    if not path.is_file():
        return False
    return (sha256_file(path) if kind == "sha256" else git_blob_sha1(path)) == want


def hf_snapshot(spec: str, cache=None, endpoint: str = HF_ENDPOINT, progress: bool = True,
                opener=None) -> Path:
    """A local folder with the files of a Hugging Face repository at a pinned
    commit (ID@REVISION), every file checked against the hash the Hub lists
    for it (LFS SHA-256 or git blob id). Files live in
    <cache>/hf/<owner>--<name>/<revision> with the listing beside them as
    manifest.json; a folder whose files all match is used without the network.
    opener(url) -> file-like (default urllib.request.urlopen) is for tests."""
    repo, rev = parse_hf_repo(spec)
    root = Path(cache) if cache is not None else cache_dir()
    folder = root / "hf" / repo.replace("/", "--") / rev
    manifest_path = folder / "manifest.json"
    opener = opener or (lambda url: urllib.request.urlopen(url, timeout=60))
    if manifest_path.is_file():
        manifest = {k: tuple(v) for k, v in json.loads(manifest_path.read_text()).items()}
        if all(_verified(folder / n, k, h) for n, (k, h) in manifest.items()):
            return folder
    else:
        try:
            with opener(hf_api_url(repo, rev, endpoint)) as resp:
                info = json.loads(resp.read().decode("utf-8"))
        except (OSError, ValueError) as e:
            raise DownloadError(f"{repo}@{rev}: cannot list the files: {e}") from None
        manifest = _hf_manifest(info, rev)
    folder.mkdir(parents=True, exist_ok=True)
    for name, (kind, want) in sorted(manifest.items()):
        dest = folder / name
        if _verified(dest, kind, want):
            continue
        url = hf_file_url(repo, rev, name, endpoint)

        def write(tmp: str, url=url, name=name) -> str:
            try:
                with opener(url) as resp, open(tmp, "wb") as out:
                    length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                    with _bar(int(length) if length else None, name, progress) as bar:
                        for chunk in iter(lambda: resp.read(_CHUNK), b""):
                            out.write(chunk)
                            bar.update(len(chunk))
            except (OSError, ValueError) as e:
                raise DownloadError(f"{name}: cannot fetch {url}: {e}") from None
            return sha256_file(tmp) if kind == "sha256" else git_blob_sha1(tmp)

        _install(dest, want, write)
    manifest_path.write_text(json.dumps({k: list(v) for k, v in manifest.items()}, indent=1))
    return folder
