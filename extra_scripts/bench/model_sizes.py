#!/usr/bin/env python3
"""Blob sizes and RAM needs of stories260K and a stories15M-shaped model at
each weight dtype, printed as a table.

Blobs are written by llmtools with the tokenizer embedded (tok512.bin,
tokenizer32k.bin): f32, q8 (int8, group 32) and q4 (the default recipe:
int4 group 32, embedding int8). The stories15M-shaped model (dim 288,
hidden 768, 6 layers, 6 heads, vocab 32000) is randomly initialised, with
its q4 tensors rounded by min/max (sizes do not depend on the rounding).
RAM is the library's arena (llm_arena_size, asked of the host test firmware
so the numbers come from the C code itself) for the whole context at 256 and
512 positions with an f32, f16 or int8 KV cache; the weights stay in flash.
stories15M was trained for 256 positions; its 512 column is what the same
shapes would need with a longer context. Stack is not included (see the
Cortex-M55 story example for a measured high-water mark).

    python extra_scripts/bench/model_sizes.py            # needs LLM_MODELS_DIR and `pio run -e native_test`
"""
import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # extra_scripts: llmtools
from llmtools import blob as B  # noqa: E402
from llmtools import quant, testmodels  # noqa: E402
from llmtools.llama2c import read_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STORIES15M = testmodels.STORIES15M
CONTEXTS = (256, 512)
KV_TYPES = ("f32", "f16", "q8")
DTYPES = ("f32", "q8", "q4")


class Firmware:
    """The host test firmware as a subprocess (protocol: test/firmware/fw_main.c)."""

    def __init__(self, path: str):
        self.p = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def command(self, line: str) -> dict:
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        cmd = line.split()[0]
        while True:
            out = self.p.stdout.readline()
            if not out:
                raise RuntimeError(f"firmware exited during {cmd!r}")
            parts = out.split()
            if parts and parts[0] == cmd:
                fields = dict(t.split("=", 1) for t in parts[2:] if "=" in t)
                fields["status"] = parts[1]
                return fields

    def close(self):
        self.command("quit")
        self.p.wait(timeout=30)


def models_dir() -> Path:
    d = os.environ.get("LLM_MODELS_DIR")
    if d:
        return Path(d)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-mcu"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--firmware", default=str(ROOT / ".pio/build/native_test/program"),
                    help="host test firmware (default: %(default)s)")
    ap.add_argument("--models", help="folder with stories260K.bin, tok512.bin, tokenizer32k.bin "
                    "(default: $LLM_MODELS_DIR)")
    a = ap.parse_args()
    md = Path(a.models) if a.models else models_dir()
    for f in ("stories260K.bin", "tok512.bin", "tokenizer32k.bin"):
        if not (md / f).is_file():
            sys.exit(f"error: {md / f} not found (set LLM_MODELS_DIR or --models)")
    if not os.access(a.firmware, os.X_OK):
        sys.exit(f"error: {a.firmware} not found; build it with `pio run -e native_test`")

    c260, w260 = read_checkpoint((md / "stories260K.bin").read_bytes())
    c15 = replace(STORIES15M, seq_len=max(CONTEXTS))  # same tensors; room for the 512 column
    w15 = testmodels.random_model(c15, 1, tied=True)
    models = [("stories260K", c260, w260, (md / "tok512.bin").read_bytes(), "gptq"),
              ("stories15M-shaped", c15, w15, (md / "tokenizer32k.bin").read_bytes(), "minmax")]

    fw = Firmware(a.firmware)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, c, w, tok, method in models:
            for dt in DTYPES:
                wq = w if dt == "f32" else quant.quantize_weights(c, w, quant.recipe(dt), q4_method=method)[0]
                path = Path(tmp) / f"{name}_{dt}.llmb"
                data = B.write_blob(c, wq, tok)  # seq_len only changes a header field
                path.write_bytes(data)
                r = fw.command(f"model {path}")
                if r["status"] != "LLM_OK":
                    sys.exit(f"error: firmware could not open {path}: {r['status']}")
                need = {}
                for ctx in CONTEXTS:
                    for kv in KV_TYPES:
                        r = fw.command(f"init {ctx} {kv}")
                        if r["status"] != "LLM_OK":
                            sys.exit(f"error: init {ctx} {kv}: {r['status']}")
                        need[(ctx, kv)] = int(r["need"])
                rows.append((name, dt, len(data), need))
                fw.command("reset")
    fw.close()

    kib = lambda n: f"{n / 1024:,.1f}"  # noqa: E731
    head = " ".join(f"{f'{ctx} {kv}':>10}" for ctx in CONTEXTS for kv in KV_TYPES)
    print("Blob size (tokenizer embedded) and arena RAM (KiB) for the whole context, by KV cache type;")
    print("weights stay in flash. q8: int8 group 32; q4: int4 group 32 (embedding int8).")
    print(f"{'model':<18} {'weights':<7} {'blob KiB':>10}  {head}")
    for name, dt, size, need in rows:
        cells = " ".join(f"{kib(need[(ctx, kv)]):>10}" for ctx in CONTEXTS for kv in KV_TYPES)
        print(f"{name:<18} {dt:<7} {kib(size):>10}  {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
