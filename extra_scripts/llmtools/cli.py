"""Command-line tools: llm-convert, llm-inspect, llm-download, llm-arduino-pack.

Also `python -m llmtools {convert,inspect,download,arduino-pack} ...`. User errors (bad
files, wrong sizes, hash mismatches) print one line to stderr and exit 2.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from . import arduino
from . import blob as B
from . import download as D
from . import quant
from .llama2c import read_checkpoint
from .tokenizer import Tokenizer

EXIT_USER_ERROR = 2


class OptionError(Exception):
    """An option value the command cannot use (exit status 2)."""


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
                     "version 1 'ak42' fp32) into an llm blob (lib/llm/BLOB_FORMAT.md), "
                     "optionally with int8 (q8) or int4 (q4) weights.")
    p.epilog = ("examples:\n"
                "  llm-convert stories260K.bin --tokenizer tok512.bin -o stories260K.llmb\n"
                "  llm-convert stories260K.bin -t tok512.bin --weights q8 -o stories260K_q8.llmb\n"
                "  llm-convert stories15M.bin --weights q4 --override tok_emb=q4 -o s15M_q4.llmb\n"
                "  llm-convert stories260K.bin --llama2c-q80 stories260K_q80.bin   (for llama2.c's runq)\n"
                "weights: q8 = every matrix int8, one bf16 scale per group (default group 32);\n"
                "  q4 = every matrix int4 with a bf16 scale and offset per group (group 32),\n"
                "  rounded by GPTQ on input statistics of text the model samples itself,\n"
                "  the embedding and classifier int8. Norms stay f32. Per-tensor RMS and max\n"
                "  quantization errors are printed.\n"
                "metadata: the blob records name (the file name without extension), source\n"
                "  (the file name) and source_sha256, bos_id 1, eos_id 2, train_ctx (seq_len)\n"
                "  and recipe (the weight options used); --meta adds or replaces a pair.\n"
                "exit status: 0 ok, 2 malformed input (bad magic, truncated, sizes that do "
                "not match the header, tokenizer vocab mismatch), bad option or unreadable file")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("checkpoint", help="llama2.c model file (e.g. stories260K.bin)")
    p.add_argument("--tokenizer", "-t", metavar="TOK", help="llama2.c tokenizer.bin to embed; "
                   "its vocabulary size must equal the model's")
    p.add_argument("-o", "--output", metavar="OUT", help="blob file to write")
    p.add_argument("--weights", choices=("f32", "q8", "q4"), default="f32",
                   help="dtype of the weight matrices (default: %(default)s)")
    p.add_argument("--group-size", type=int, metavar="N", choices=quant.GROUP_SIZES,
                   help="quantization group size, one of 16 32 64 128 256 (default 32)")
    p.add_argument("--override", action="append", default=[], metavar="KIND=DTYPE[:N]",
                   help="dtype (f32, q8, q4) and optional group size of one tensor kind "
                   f"({', '.join(quant.MATRIX_KINDS)}); repeatable, e.g. tok_emb=f32 w2=q8:16")
    p.add_argument("--q4-method", choices=("gptq", "search", "minmax"), default="gptq",
                   help="q4 rounding: gptq (default), search (per-group range search only) "
                   "or minmax (each group's min and max)")
    p.add_argument("--calib-seqs", type=int, default=8, metavar="N",
                   help="texts the model samples for q4 calibration (default: %(default)s)")
    p.add_argument("--llama2c-q80", metavar="OUT",
                   help="also write llama2.c's version-2 int8 export (Q8_0, groups of 64), the "
                   "input of its runq.c: only for benchmarking against runq")
    p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata pair to add or replace, e.g. chat_template=llama2 (key "
                   "[a-z][a-z0-9_.]*, value UTF-8); repeatable")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parse_meta(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise OptionError(f"--meta wants KEY=VALUE, got {item!r}")
        try:
            B.check_meta_key(key)
        except ValueError as e:
            raise OptionError(f"--meta {item!r}: {e}") from None
        out[key] = value
    return out


def _recipe_text(a, spec: dict) -> str:
    """The weight options of this conversion, for the metadata's recipe."""
    parts = [f"weights={a.weights}"]
    if a.weights != "f32":
        default = quant.DEFAULT_Q4_GROUP_SIZE if a.weights == "q4" else quant.DEFAULT_GROUP_SIZE
        parts.append(f"group_size={a.group_size or default}")
    elif a.group_size:
        parts.append(f"group_size={a.group_size}")
    if a.override:
        parts.append("override=" + ",".join(a.override))
    if any(dt == B.DTYPE_Q4 for dt, _ in spec.values()):
        parts.append(f"q4_method={a.q4_method}")
        if a.q4_method in ("gptq", "search"):
            parts.append(f"calib_seqs={a.calib_seqs}")
    return " ".join(parts)


def checkpoint_metadata(path, data: bytes, config: B.Config, recipe: str) -> dict:
    """Metadata of a blob converted from the llama2.c checkpoint data read from path."""
    return {
        "name": Path(path).stem,
        "source": Path(path).name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "bos_id": "1",
        "eos_id": "2",
        "train_ctx": str(config.seq_len),
        "recipe": recipe,
    }


def _parse_overrides(items) -> dict:
    out = {}
    for item in items:
        kind, sep, rest = item.partition("=")
        name, _, gs = rest.partition(":")
        if not sep or not name:
            raise OptionError(f"--override wants KIND=DTYPE[:N], got {item!r}")
        try:
            out[kind] = (name, int(gs) if gs else None)
        except ValueError:
            raise OptionError(f"--override {item!r}: group size {gs!r} is not a number") from None
    return out


def _convert(a) -> int:
    from tqdm import tqdm
    if not a.output and not a.llama2c_q80:
        raise OptionError("give -o OUT (an llm blob) and/or --llama2c-q80 OUT")
    if a.calib_seqs < 1:
        raise OptionError("--calib-seqs must be at least 1")
    try:
        spec = quant.recipe(a.weights, a.group_size, _parse_overrides(a.override))
    except ValueError as e:
        raise OptionError(str(e)) from None
    extra_meta = _parse_meta(a.meta)
    raw = _read(a.checkpoint)
    config, weights = read_checkpoint(raw)
    metadata = checkpoint_metadata(a.checkpoint, raw, config, _recipe_text(a, spec))
    metadata.update(extra_meta)
    try:  # before the slow steps: a --meta the record cannot hold
        B.parse_metadata(B.encode_metadata(metadata), config.vocab_size)
    except B.BlobError:
        raise
    except ValueError as e:
        raise OptionError(str(e)) from None
    tok_bytes = None
    if a.tokenizer:
        tok_bytes = _read(a.tokenizer)
        tok = Tokenizer(tok_bytes)
        if tok.vocab_size != config.vocab_size:
            raise B.BlobError("LLM_ERR_TOKENIZER", f"{a.tokenizer} has {tok.vocab_size} tokens, "
                              f"the model's vocab_size is {config.vocab_size}")
    tied = "cls" not in weights
    if a.llama2c_q80:
        data = quant.write_llama2c_q80(config, weights)
        _write_atomic(Path(a.llama2c_q80), data)
        print(f"wrote {a.llama2c_q80}: {len(data)} bytes, llama2.c version-2 Q8_0 export (for runq)")
    if not a.output:
        return 0
    if tied and spec["cls"] != spec["tok_emb"] and any(o.startswith("cls=") for o in a.override):
        print("note: the classifier is tied to tok_emb; the cls override is ignored")
    reports = []
    f32_bytes = sum(quant.payload_size(x) for x in _all_tensors(weights))
    if a.weights != "f32" or a.override:
        n = quant.n_quantized_tensors(config, weights)
        calib = None
        if a.q4_method in ("gptq", "search") and any(spec[k][0] == B.DTYPE_Q4 for k in spec):
            print(f"calibration: {a.calib_seqs} texts sampled from the model for q4 {a.q4_method}")
            calib = quant.calibration_inputs(config, weights, n_seq=a.calib_seqs)
        with tqdm(total=n, unit="tensor", desc="quantize", disable=True if a.no_progress else None,
                  leave=False) as bar:
            weights, reports = quant.quantize_weights(config, weights, spec, a.q4_method, calib,
                                                      progress=bar.update)
    n_bytes = sum(quant.payload_size(x) for x in _all_tensors(weights)) + len(tok_bytes or b"")
    with tqdm(total=n_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="write",
              disable=True if a.no_progress else None, leave=False) as bar:
        data = B.write_blob(config, weights, tok_bytes, progress=bar.update, metadata=metadata)
    _write_atomic(Path(a.output), data)
    if reports:
        print(f"  {'tensor':<12} {'dtype':<5} {'group':>5} {'bytes':>9} {'rms err':>10} "
              f"{'max err':>10} {'rel rms':>8}")
        for r in reports:
            print(f"  {r.name:<12} {r.dtype:<5} {r.group_size:>5} {r.nbytes:>9} {r.rms:>10.3e} "
                  f"{r.max:>10.3e} {r.rel_rms:>8.2%}")
        worst = max(reports, key=lambda r: r.rel_rms)
        print(f"largest relative RMS error: {worst.name} {worst.rel_rms:.2%}")
    print(f"wrote {a.output}: {len(data)} bytes, {len(B.tensor_table(data))} tensors, "
          f"classifier {'tied' if tied else 'separate'}, "
          f"tokenizer {'embedded' if tok_bytes else 'none'}")
    if reports:
        w_bytes = sum(quant.payload_size(x) for x in _all_tensors(weights))
        print(f"weights: {a.weights}, {w_bytes} bytes of tensors ({w_bytes / f32_bytes:.1%} of f32); "
              f"blob size {len(data)} bytes")
    print(f"config: {_config_line(config)}")
    print(f"metadata: {len(metadata)} pairs ({', '.join(metadata)})")
    if config.n_layers > B.MAX_LAYERS:
        print(f"note: {config.n_layers} layers; build the library with -DLLM_MAX_LAYERS={config.n_layers}")
    return 0


def _all_tensors(weights: dict):
    for v in weights.values():
        if v is not None:
            yield from (v if isinstance(v, list) else [v])


# ------------------------------------------------------------------ inspect

def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.description = ("Print an llm blob's config, tensor table, size, tokenizer, metadata and "
                     "checksum, then validate it as the C reader does.")
    p.epilog = ("exit status: 0 valid blob, 2 invalid (the error's LLM_ERR_* code and message "
                "are printed to stderr)")
    p.add_argument("blob", help="llm blob file")


def _dtype_label(e: dict) -> str:
    """'f32', or 'q4:32' for a quantized entry with its group size."""
    name = B.DTYPE_NAMES.get(e["dtype"], "?" + str(e["dtype"]))
    return f"{name}:{e['group_size']}" if e["group_size"] else name


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
              f"{_dtype_label(e):<5} {shape:<12} "
              f"{e['offset']:>10} {e['nbytes']:>10}")
        if e["kind"] not in B.RAW_KINDS:
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
    meta = [e for e in table if e["kind"] == B.KIND_METADATA]
    if meta:
        raw = data[meta[0]["offset"]:meta[0]["offset"] + meta[0]["nbytes"]]
        try:
            pairs = B.parse_metadata(raw, c.vocab_size)
            print(f"metadata: {len(pairs)} pairs, {len(raw)} bytes")
            width = max(len(k) for k in pairs)
            for k, v in pairs.items():
                print(f"  {k:<{width}} = {v!r}" if not v.isprintable() else f"  {k:<{width}} = {v}")
        except B.BlobError as e:
            print(f"metadata: {len(raw)} bytes, unreadable ({e.code}: {e.message})")
    else:
        print("metadata: none (BOS 1, EOS 2)")
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


# ------------------------------------------------------------------ arduino-pack

def _arduino_pack(a) -> int:
    root = Path(a.source or arduino.default_source())
    try:
        arduino.library_files(root)
        url = arduino.project_url(root, a.url)
    except arduino.PackError as e:
        raise OptionError(str(e)) from None
    data = _read(a.model)
    if data[:4] == B.MAGIC:
        blob = data
    else:
        with tempfile.TemporaryDirectory() as tmp:
            conv = argparse.ArgumentParser()
            _convert_args(conv)
            argv = [a.model, "-o", os.path.join(tmp, "model.llmb"), "--no-progress", "--weights", a.weights]
            if a.tokenizer:
                argv += ["--tokenizer", a.tokenizer]
            _convert(conv.parse_args(argv))
            blob = _read(os.path.join(tmp, "model.llmb"))
    try:
        n = arduino.write_zip(Path(a.output), root, blob, os.path.basename(a.model), url)
    except arduino.PackError as e:
        raise OptionError(str(e)) from None
    print(f"wrote {a.output}: Arduino library {arduino.NAME}, {n} files, model {len(blob)} bytes "
          f"in examples/Story/llm_model_blob.h")
    return 0


# ------------------------------------------------------------------ entry points

_COMMANDS = {
    "convert": (_convert_args, _convert, "llama2.c checkpoint -> llm blob"),
    "inspect": (_inspect_args, _inspect, "print and validate an llm blob"),
    "download": (_download_args, _download, "fetch the default model files"),
    "arduino-pack": (arduino.add_args, _arduino_pack, "write the library as an Arduino library zip"),
}


def _run(func, args, prog: str) -> int:
    try:
        return func(args)
    except B.BlobError as e:
        print(f"{prog}: error: {e.code}: {e.message}", file=sys.stderr)
    except OptionError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
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


def arduino_pack_main(argv=None) -> int:
    return _single("arduino-pack", argv)


def main(argv=None) -> int:
    """python -m llmtools {convert,inspect,download,arduino-pack} ..."""
    p = argparse.ArgumentParser(prog="python -m llmtools",
                                description="Model tools for the llm microcontroller library.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{convert,inspect,download,arduino-pack}")
    for name, (add_args, _, help_) in _COMMANDS.items():
        add_args(sub.add_parser(name, help=help_))
    a = p.parse_args(argv)
    return _run(_COMMANDS[a.command][1], a, f"llmtools {a.command}")
