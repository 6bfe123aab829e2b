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

--shape stories15M runs a random fp32 model of that shape instead (written
as a llama2.c checkpoint, read by every program). int8 weights against
llama2.c's runq: bench_quant.py.

With --threads it instead compares our program's decode tok/s ("decode:" on
stderr) at each -j value against the first, interleaved, once on the machine
as it is and once beside --busy processes that spin (started and killed by
the script), on stories260K or a random stories15M-shaped model, its weights
fp32 or (--dtype q8) our int8 blob:

    python extra_scripts/bench/bench_host.py --threads 1,2 [--shape stories15M] [--dtype q8]

--load auto,map also runs each -j with the model mapped in place (-l map)
rather than copied onto huge pages (the default for a model of 8 MB or more
on Linux), for the gain of that copy.
"""
import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

TOKS_RE = re.compile(rb"achieved tok/s: ([0-9.]+)")
DECODE_RE = re.compile(rb"decode: [0-9]+ tokens, ([0-9.]+) tok/s")
ROOT = Path(__file__).resolve().parents[2]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_once(binary: str, args: list, pattern=TOKS_RE) -> tuple:
    """Run one generation; return (seconds per token, stdout bytes), the
    rate taken from the stderr line pattern matches."""
    proc = subprocess.run([binary] + args, capture_output=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"error: {binary} exited with {proc.returncode}:\n"
                 f"{proc.stderr.decode(errors='replace')}")
    m = pattern.search(proc.stderr)
    if not m or float(m.group(1)) <= 0:
        sys.exit(f"error: {binary} printed no {pattern.pattern!r} line on stderr")
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
    ap.add_argument("--threads", metavar="J1,J2,...",
                    help="compare our -j values instead (no llama2.c needed); a value "
                    "given twice runs as a second series, a control for noise")
    ap.add_argument("--busy", type=int, default=2,
                    help="spinning processes beside the loaded --threads round (default 2)")
    ap.add_argument("--shape", choices=("stories15M",),
                    help="a random model of this shape instead of stories260K")
    ap.add_argument("--dtype", choices=("f32", "q8"), default="f32",
                    help="the --shape model's weights, with --threads (default: %(default)s)")
    ap.add_argument("--load", metavar="L1,L2", default="auto",
                    help="with --threads: our -l values to compare at each -j, auto "
                    "(a large model on huge pages) and/or map (default: %(default)s)")
    a = ap.parse_args()
    loads = a.load.split(",")
    if any(l not in ("auto", "map") for l in loads) or len(set(loads)) != len(loads):
        ap.error("--load takes auto, map or both")
    if loads != ["auto"] and not a.threads:
        ap.error("--load goes with --threads")
    if a.dtype != "f32" and not (a.threads and a.shape):
        ap.error("--dtype q8 goes with --threads and --shape (q8 against runq: bench_quant.py)")
    if a.threads:
        return bench_threads(a)
    if not a.llama2c:
        ap.error("give at least one --llama2c LABEL=PATH (build llama2.c's run.c yourself)")

    with tempfile.TemporaryDirectory(prefix="bench_host.") as work:
        return bench_llama2c(a, Path(work))


def bench_llama2c(a, work: Path) -> int:
    """Ours against each --llama2c binary, interleaved."""
    if a.shape:
        model, tok = shaped_model(a.shape, work)
    else:
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
    load = os.getloadavg()[0]
    for _ in range(a.runs):
        for label, path in progs:
            spt, out = run_once(path, args)
            times[label].append(spt)
            texts.setdefault(label, out)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after (other users' load is not controlled)")
    name = f"{a.shape}-shaped random fp32" if a.shape else model.name
    print(f"model: {name}, greedy, {a.steps} steps, prompt {a.prompt!r}, "
          f"{a.runs} interleaved runs each, single thread")
    ours = statistics.mean(times["ours"])
    for label, path in progs:
        mean = statistics.mean(times[label])
        same = "same text" if texts[label] == texts["ours"] else "TEXT DIFFERS"
        ratio = "" if label == "ours" else f"  ours/{label} = {mean / ours:.2f}x"
        print(f"{label:>14}: {1.0 / mean:9.0f} tok/s  ({mean * 1e6:7.1f} us/token, "
              f"stdev {statistics.stdev(times[label]) * 1e6:.1f}) {same}{ratio}  [{path}]")
    print("command: " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]))
    return 0 if all(t == texts["ours"] for t in texts.values()) else 1


def shaped_model(shape: str, work: Path, dtype: str = "f32") -> tuple:
    """(model path, tokenizer path) of a random model of a known shape: for
    f32 a llama2.c checkpoint (our program and run.c both read it), for q8
    our blob, quantized as llm-convert does."""
    sys.path.insert(0, str(ROOT / "extra_scripts"))
    from llmtools import blob, llama2c, quant, testmodels
    c = testmodels.STORIES15M
    w = testmodels.random_model(c, 1, tied=True)
    if dtype == "f32":
        path = work / f"{shape}_f32.bin"
        path.write_bytes(llama2c.write_legacy(c, w))
    else:
        path = work / f"{shape}_{dtype}.llmb"
        path.write_bytes(blob.write_blob(c, quant.quantize_weights(c, w, quant.recipe(dtype))[0]))
    return path, models_dir() / "tokenizer32k.bin"


def bench_threads(a) -> int:
    """-j values (and -l values, --load) against the first, idle and beside
    a.busy spinning processes."""
    js = [int(j) for j in a.threads.split(",")]
    loads = a.load.split(",")
    # (label, extra arguments) of each configuration, the first the base. A
    # -j given twice (--threads 1,2,1) runs twice as separate series, whose
    # ratio shows the machine's noise.
    configs = []
    for load in loads:
        for j in js:
            label = f"-j {j}" + ("" if load == "auto" else f" -l {load}")
            again = sum(1 for c in configs if c[0].split(" #")[0] == label)
            configs.append((label + (f" #{again + 1}" if again else ""), ["-j", str(j), "-l", load]))
    with tempfile.TemporaryDirectory(prefix="bench_host.") as work:
        if a.shape:
            model, tok = shaped_model(a.shape, Path(work), a.dtype)
        else:
            model = Path(a.model) if a.model else models_dir() / "stories260K.bin"
            tok = Path(a.tokenizer) if a.tokenizer else model.parent / "tok512.bin"
        for p in (model, tok, Path(a.ours)):
            if not p.exists():
                sys.exit(f"error: {p} not found")
        args = [str(model), "-z", str(tok), "-t", "0", "-n", str(a.steps), "-i", a.prompt]
        print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} "
              f"{platform.release()}; other users' load is not controlled")
        print(f"model: {a.shape + '-shaped random ' + a.dtype if a.shape else model.name}, greedy, "
              f"{a.steps} steps, decode tok/s, {a.runs} interleaved runs each")
        ok = True
        for busy in (0, a.busy):
            hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(busy)]
            try:
                times = {label: [] for label, _ in configs}
                texts = set()
                for _ in range(a.runs):
                    for label, extra in configs:
                        spt, out = run_once(a.ours, args + extra, DECODE_RE)
                        times[label].append(spt)
                        texts.add(out)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
            ok = ok and len(texts) == 1
            cells = []
            for label, _ in configs:
                cells.append(f"{label}: {1.0 / statistics.median(times[label]):7.0f} tok/s (median; "
                             f"mean {1.0 / statistics.mean(times[label]):.0f})")
            base = configs[0][0]
            ratios = ", ".join(f"{label} / {base} = "
                               f"{statistics.median(times[base]) / statistics.median(times[label]):.2f}x"
                               for label, _ in configs[1:])
            print(f"{busy} busy processes: " + "; ".join(cells) + f"; {ratios}; "
                  + ("same text" if len(texts) == 1 else "TEXT DIFFERS"))
        print("command: " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
