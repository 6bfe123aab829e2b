#!/usr/bin/env python3
"""Host decode benchmark of quantized weights: our program with f32, q8 and q4
blobs against llama2.c's int8 `runq`, interleaved in one run.

The script converts the model itself (llmtools: our q8 and q4 blobs, and
llama2.c's version-2 Q8_0 export that runq reads, written by
llmtools.quant.write_llama2c_q80), then runs greedy generation of the same
prompt and step count with every program in turn, `--runs` rounds, so machine
load affects all alike. Each program reports its decode tok/s on stderr
("achieved tok/s: X", run.c's line, excluding the first token). Build runq
yourself with the same flags as our host build, e.g.

    gcc -O3 -o /tmp/llama2c/runq /tmp/llama2c/runq.c -lm
    python extra_scripts/bench/bench_quant.py --runq /tmp/llama2c/runq
    python extra_scripts/bench/bench_quant.py --runq /tmp/llama2c/runq --shape stories15M

--shape stories15M benchmarks a randomly initialised model of stories15M's
shape (dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, seq 256) with
tokenizer32k.bin: its text is meaningless, its speed is not. Note that
runq's mat-vec assumes every input length is a multiple of its group size
(64): on stories260K (hidden_dim 172) it skips the last 44 inputs of w2 and
its text is wrong (the script reports whether the texts agree); on the
stories15M shape its group size backs off to 32 and it is correct.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_host; llmtools
from bench_host import ROOT, cpu_name, models_dir, run_once  # noqa: E402
from llmtools import blob as B  # noqa: E402
from llmtools import quant, testmodels  # noqa: E402
from llmtools.llama2c import read_checkpoint  # noqa: E402

STORIES15M = testmodels.STORIES15M


def load_model(a):
    """(label, config, float weights, tokenizer path)."""
    if a.shape == "stories15M":
        tok = Path(a.tokenizer) if a.tokenizer else models_dir() / "tokenizer32k.bin"
        return "random stories15M-shaped", STORIES15M, testmodels.random_model(STORIES15M, 1, tied=True), tok
    model = Path(a.model) if a.model else models_dir() / "stories260K.bin"
    tok = Path(a.tokenizer) if a.tokenizer else model.parent / "tok512.bin"
    if not model.exists():
        sys.exit(f"error: {model} not found (pass --model, or set LLM_MODELS_DIR)")
    c, w = read_checkpoint(model.read_bytes())
    return model.name, c, w, tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ours", default=str(ROOT / ".pio/build/native/program"),
                    help="our host program (default: %(default)s)")
    ap.add_argument("--runq", required=True, metavar="PATH", help="llama2.c runq binary you built")
    ap.add_argument("--model", help="llama2.c checkpoint (default: stories260K.bin in $LLM_MODELS_DIR)")
    ap.add_argument("--shape", choices=("stories15M",), help="benchmark a random model of this shape")
    ap.add_argument("--tokenizer", help="tokenizer (default: tok512.bin beside the model, "
                    "tokenizer32k.bin for --shape stories15M)")
    ap.add_argument("--dtypes", default="f32,q8,q4", help="our weight dtypes (default: %(default)s)")
    ap.add_argument("--q4-method", default=None, choices=("gptq", "search", "minmax"),
                    help="q4 rounding (default: gptq for a trained model, minmax for --shape)")
    ap.add_argument("--steps", type=int, default=256)
    ap.add_argument("--runs", type=int, default=10, help="rounds (each runs every program once)")
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--work-dir", help="keep the converted files here (default: a temporary folder)")
    a = ap.parse_args()
    for p in (Path(a.ours), Path(a.runq)):
        if not p.exists():
            sys.exit(f"error: {p} not found")

    label, c, w, tok = load_model(a)
    if not tok.exists():
        sys.exit(f"error: tokenizer {tok} not found")
    work = Path(a.work_dir) if a.work_dir else Path(tempfile.mkdtemp(prefix="bench_quant."))
    work.mkdir(parents=True, exist_ok=True)
    method = a.q4_method or ("minmax" if a.shape else "gptq")
    files, sizes = {}, {}
    for dt in a.dtypes.split(","):
        spec = quant.recipe(dt)
        wq = w if dt == "f32" else quant.quantize_weights(c, w, spec, q4_method=method)[0]
        files[dt] = work / f"ours_{dt}.llmb"
        files[dt].write_bytes(B.write_blob(c, wq))
        sizes[f"ours {dt}"] = files[dt].stat().st_size
    runq_file = work / "runq_q80.bin"
    runq_file.write_bytes(quant.write_llama2c_q80(c, w))
    sizes["runq q80"] = runq_file.stat().st_size

    common = ["-z", str(tok), "-t", "0", "-n", str(a.steps), "-i", a.prompt]
    progs = [(f"ours {dt}", a.ours, [str(f)] + common) for dt, f in files.items()]
    progs.append(("runq q80", a.runq, [str(runq_file)] + common))
    times = {name: [] for name, _, _ in progs}
    texts = {}
    for _ in range(a.runs):
        for name, path, args in progs:
            spt, out = run_once(path, args)
            times[name].append(spt)
            texts.setdefault(name, out)

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"model: {label} (dim {c.dim}, hidden {c.hidden_dim}, {c.n_layers} layers, vocab "
          f"{c.vocab_size}), greedy, {a.steps} steps, prompt {a.prompt!r}, {a.runs} interleaved "
          f"runs each, single thread, KV cache f32, q4 rounding {method}")
    mean = {name: statistics.mean(t) for name, t in times.items()}
    for name, path, _ in progs:
        m = mean[name]
        same = "" if name == "ours q8" or "ours q8" not in texts else \
            ("  same text as ours q8" if texts[name] == texts["ours q8"] else "  text differs from ours q8")
        print(f"{name:>9}: {1.0 / m:9.0f} tok/s ({m * 1e6:7.1f} us/token, stdev "
              f"{statistics.stdev(times[name]) * 1e6:.1f}), file {sizes[name]:>10} bytes{same}")
    if "ours q8" in mean:
        print(f"ours q8 / runq q80 speed: {mean['runq q80'] / mean['ours q8']:.2f}x")
    if "ours q4" in mean and "ours q8" in mean:
        print(f"ours q4 / ours q8 speed: {mean['ours q8'] / mean['ours q4']:.2f}x, size "
              f"{sizes['ours q4'] / sizes['ours q8']:.2f}x")
    if "ours f32" in mean and "ours q8" in mean:
        print(f"ours q8 / ours f32 speed: {mean['ours f32'] / mean['ours q8']:.2f}x, size "
              f"{sizes['ours q8'] / sizes['ours f32']:.2f}x")
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
