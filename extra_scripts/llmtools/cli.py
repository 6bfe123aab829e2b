"""Command-line tools: llm-convert, llm-inspect, llm-download.

Also `python -m llmtools {convert,inspect,download} ...`. User errors (bad
files, wrong sizes, hash mismatches) print one line to stderr and exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import blob as B
from . import download as D
from .llama2c import read_checkpoint
from .tokenizer import Tokenizer

EXIT_USER_ERROR = 2


def _write_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _config_line(c: B.Config) -> str:
    return (f"dim={c.dim} hidden_dim={c.hidden_dim} n_layers={c.n_layers} n_heads={c.n_heads} "
            f"n_kv_heads={c.n_kv_heads} head_size={c.head_size} vocab_size={c.vocab_size} "
            f"seq_len={c.seq_len} rope_theta={c.rope_theta:g} norm_eps={c.norm_eps:g}")


# ------------------------------------------------------------------ convert

def _convert_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Convert a llama2.c checkpoint (legacy run.c format, or export.py "
                     "version 1 'ak42' fp32) into an llm blob (lib/llm/BLOB_FORMAT.md).")
    p.epilog = ("example: llm-convert stories260K.bin --tokenizer tok512.bin -o stories260K.llmb\n"
                "exit status: 0 ok, 2 malformed input (bad magic, truncated, sizes that do "
                "not match the header, tokenizer vocab mismatch) or unreadable file")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("checkpoint", help="llama2.c model file (e.g. stories260K.bin)")
    p.add_argument("--tokenizer", "-t", metavar="TOK", help="llama2.c tokenizer.bin to embed; "
                   "its vocabulary size must equal the model's")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="blob file to write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _convert(a) -> int:
    from tqdm import tqdm
    config, weights = read_checkpoint(_read(a.checkpoint))
    tok_bytes = None
    if a.tokenizer:
        tok_bytes = _read(a.tokenizer)
        tok = Tokenizer(tok_bytes)
        if tok.vocab_size != config.vocab_size:
            raise B.BlobError("LLM_ERR_TOKENIZER", f"{a.tokenizer} has {tok.vocab_size} tokens, "
                              f"the model's vocab_size is {config.vocab_size}")
    n_bytes = 4 * (weights["tok_emb"].size + weights["final_norm"].size
                   + sum(x.size for name in B.LAYER_NAMES for x in weights[name])
                   + (weights["cls"].size if "cls" in weights else 0)) + len(tok_bytes or b"")
    with tqdm(total=n_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="convert",
              disable=True if a.no_progress else None, leave=False) as bar:
        data = B.write_blob(config, weights, tok_bytes, progress=bar.update)
    _write_atomic(Path(a.output), data)
    print(f"wrote {a.output}: {len(data)} bytes, {len(B.tensor_table(data))} tensors, "
          f"classifier {'tied' if 'cls' not in weights else 'separate'}, "
          f"tokenizer {'embedded' if tok_bytes else 'none'}")
    print(f"config: {_config_line(config)}")
    if config.n_layers > B.MAX_LAYERS:
        print(f"note: {config.n_layers} layers; build the library with -DLLM_MAX_LAYERS={config.n_layers}")
    return 0


# ------------------------------------------------------------------ inspect

def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print an llm blob's config, tensor table, size, tokenizer and checksum, "
                     "then validate it as the C reader does.")
    p.epilog = ("exit status: 0 valid blob, 2 invalid (the error's LLM_ERR_* code and message "
                "are printed to stderr)")
    p.add_argument("blob", help="llm blob file")


def _inspect(a) -> int:
    data = _read(a.blob)
    h = B.parse_header(data)
    if h["magic"] != B.MAGIC:
        raise B.BlobError("LLM_ERR_MAGIC", f"magic is {h['magic']!r}, expected {B.MAGIC!r}: not an llm blob")
    c = B.Config(h["dim"], h["hidden_dim"], h["n_layers"], h["n_heads"], h["n_kv_heads"],
                 h["vocab_size"], h["seq_len"], B._f32(h["rope_theta"]), B._f32(h["norm_eps"]))
    print(f"file: {a.blob} ({len(data)} bytes)")
    print(f"format: llm blob version {h['version']}, header {h['header_size']} bytes, flags 0x{h['flags']:x}")
    print(f"config: dim={c.dim} hidden_dim={c.hidden_dim} n_layers={c.n_layers} n_heads={c.n_heads} "
          f"n_kv_heads={c.n_kv_heads} vocab_size={c.vocab_size} seq_len={c.seq_len} "
          f"rope_theta={c.rope_theta:g} norm_eps={c.norm_eps:g}")
    table = B.tensor_table(data)
    kinds = {e["kind"] for e in table}
    print(f"tensors: {h['n_tensors']} (classifier {'separate' if B.KIND_CLS in kinds else 'tied'})")
    print(f"  {'#':>3}  {'kind':<10} {'layer':>5}  {'dtype':<5} {'shape':<12} {'offset':>10} {'bytes':>10}")
    n_params = 0
    for i, e in enumerate(table):
        shape = f"{e['rows']}" if e["ndim"] == 1 else f"{e['rows']}x{e['cols']}"
        print(f"  {i:>3}  {B.KIND_NAMES.get(e['kind'], '?' + str(e['kind'])):<10} {e['layer']:>5}  "
              f"{B.DTYPE_NAMES.get(e['dtype'], '?' + str(e['dtype'])):<5} {shape:<12} "
              f"{e['offset']:>10} {e['nbytes']:>10}")
        if e["kind"] != B.KIND_TOKENIZER:
            n_params += e["rows"] * e["cols"]
    print(f"total size: {h['total_size']} bytes (header says), {n_params} parameters")
    tok = [e for e in table if e["kind"] == B.KIND_TOKENIZER]
    if tok:
        raw = data[tok[0]["offset"]:tok[0]["offset"] + tok[0]["nbytes"]]
        try:
            t = Tokenizer(raw)
            print(f"tokenizer: embedded, {t.vocab_size} tokens, max token length "
                  f"{t.max_token_length}, {len(raw)} bytes")
        except B.BlobError as e:
            print(f"tokenizer: embedded, {len(raw)} bytes, unreadable ({e.message})")
    else:
        print("tokenizer: none")
    stored, computed = B.stored_crc(data), B.computed_crc(data)
    if stored == computed:
        print(f"checksum: OK (0x{stored:08x})")
    else:
        print(f"checksum: MISMATCH (header 0x{stored:08x}, computed 0x{computed:08x})")
    sys.stdout.flush()
    B.read_blob(data)
    print("valid: yes")
    return 0


# ------------------------------------------------------------------ download

def _download_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Fetch the default model (stories260K.bin + tok512.bin from Hugging Face "
                     "karpathy/tinyllamas), verify the pinned SHA-256 and print the paths. "
                     "If LLM_MODELS_DIR is set, the files are taken from that directory "
                     "instead and the network is not used.")
    p.epilog = f"default cache: $XDG_CACHE_HOME/llm-mcu or ~/.cache/llm-mcu (now {D.cache_dir()})"
    p.add_argument("--dir", metavar="DIR", help="store the files here instead of the cache")
    p.add_argument("--url", default=D.BASE_URL, metavar="BASE",
                   help="base URL (https:// or file://) holding the files (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _download(a) -> int:
    paths = D.ensure_files(dest_dir=a.dir, base_url=a.url, progress=not a.no_progress)
    for p in paths.values():
        print(p)
    return 0


# ------------------------------------------------------------------ entry points

_COMMANDS = {
    "convert": (_convert_args, _convert, "llama2.c checkpoint -> llm blob"),
    "inspect": (_inspect_args, _inspect, "print and validate an llm blob"),
    "download": (_download_args, _download, "fetch the default model files"),
}


def _run(func, args, prog: str) -> int:
    try:
        return func(args)
    except B.BlobError as e:
        print(f"{prog}: error: {e.code}: {e.message}", file=sys.stderr)
    except D.DownloadError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
    except BrokenPipeError:  # e.g. `llm-inspect x | head`
        sys.stderr.close()
        return 0
    except OSError as e:
        name = getattr(e, "filename", None)
        print(f"{prog}: error: {name + ': ' if name else ''}{e.strerror or e}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return EXIT_USER_ERROR


def _single(cmd: str, argv=None) -> int:
    add_args, func, _ = _COMMANDS[cmd]
    prog = f"llm-{cmd}"
    p = argparse.ArgumentParser(prog=prog)
    add_args(p)
    return _run(func, p.parse_args(argv), prog)


def convert_main(argv=None) -> int:
    return _single("convert", argv)


def inspect_main(argv=None) -> int:
    return _single("inspect", argv)


def download_main(argv=None) -> int:
    return _single("download", argv)


def main(argv=None) -> int:
    """python -m llmtools {convert,inspect,download} ..."""
    p = argparse.ArgumentParser(prog="python -m llmtools",
                                description="Model tools for the llm microcontroller library.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{convert,inspect,download}")
    for name, (add_args, _, help_) in _COMMANDS.items():
        add_args(sub.add_parser(name, help=help_))
    a = p.parse_args(argv)
    return _run(_COMMANDS[a.command][1], a, f"llmtools {a.command}")
