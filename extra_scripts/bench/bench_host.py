#!/usr/bin/env python3
"""Host decode benchmark: our program against llama2.c binaries, interleaved.

Runs greedy generation (temperature 0) of the same model, prompt and step count
with our host program and with each llama2.c `run` binary you built yourself,
alternating between them so machine load affects all alike. Each program
reports its own decode tok/s on stderr ("achieved tok/s: X", run.c's line,
which excludes the first token); the script prints the mean time per token,
tok/s and the ratio ours / theirs, and checks that every program wrote the
same text.

This script never builds or downloads llama2.c: pass the binaries' paths.

    python extra_scripts/bench/bench_host.py \\
        --llama2c O3=/path/to/run_O3 --llama2c Ofast-native=/path/to/run_fast
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

TOKS_RE = re.compile(rb"achieved tok/s: ([0-9.]+)")
ROOT = Path(__file__).resolve().parents[2]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_once(binary: str, args: list) -> tuple:
    """Run one generation; return (seconds per token, stdout bytes)."""
    proc = subprocess.run([binary] + args, capture_output=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"error: {binary} exited with {proc.returncode}:\n"
                 f"{proc.stderr.decode(errors='replace')}")
    m = TOKS_RE.search(proc.stderr)
    if not m or float(m.group(1)) <= 0:
        sys.exit(f"error: {binary} printed no 'achieved tok/s' line on stderr")
    return 1.0 / float(m.group(1)), proc.stdout


def models_dir() -> Path:
    env = os.environ.get("LLM_MODELS_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm-mcu"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", default=str(ROOT / ".pio/build/native/program"),
                    help="our host program (default: %(default)s)")
    ap.add_argument("--llama2c", action="append", default=[], metavar="LABEL=PATH",
                    help="a llama2.c run binary you built; repeatable")
    ap.add_argument("--model", help="checkpoint (default: stories260K.bin in "
                    "$LLM_MODELS_DIR or the download cache)")
    ap.add_argument("--tokenizer", help="tokenizer (default: tok512.bin beside the model)")
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--runs", type=int, default=20, help="runs per program")
    ap.add_argument("--prompt", default="Once upon a time")
    a = ap.parse_args()
    if not a.llama2c:
        ap.error("give at least one --llama2c LABEL=PATH (build llama2.c's run.c yourself)")

    model = Path(a.model) if a.model else models_dir() / "stories260K.bin"
    tok = Path(a.tokenizer) if a.tokenizer else model.parent / "tok512.bin"
    for p in (model, tok, Path(a.ours)):
        if not p.exists():
            sys.exit(f"error: {p} not found (run ./setup.sh, or pass --model/--tokenizer/--ours)")

    progs = [("ours", a.ours)]
    for spec in a.llama2c:
        label, sep, path = spec.partition("=")
        if not sep or not Path(path).exists():
            sys.exit(f"error: --llama2c wants LABEL=PATH to an existing binary, got {spec!r}")
        progs.append((label, path))

    args = [str(model), "-z", str(tok), "-t", "0", "-n", str(a.steps), "-i", a.prompt]
    times = {label: [] for label, _ in progs}
    texts = {}
    for _ in range(a.runs):
        for label, path in progs:
            spt, out = run_once(path, args)
            times[label].append(spt)
            texts.setdefault(label, out)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"model: {model.name}, greedy, {a.steps} steps, prompt {a.prompt!r}, "
          f"{a.runs} interleaved runs each, single thread")
    ours = statistics.mean(times["ours"])
    for label, path in progs:
        mean = statistics.mean(times[label])
        same = "same text" if texts[label] == texts["ours"] else "TEXT DIFFERS"
        ratio = "" if label == "ours" else f"  ours/{label} = {mean / ours:.2f}x"
        print(f"{label:>14}: {1.0 / mean:9.0f} tok/s  ({mean * 1e6:7.1f} us/token, "
              f"stdev {statistics.stdev(times[label]) * 1e6:.1f}) {same}{ratio}  [{path}]")
    return 0 if all(t == texts["ours"] for t in texts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
