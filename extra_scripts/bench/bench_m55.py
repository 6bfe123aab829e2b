#!/usr/bin/env python3
"""Cortex-M55 decode benchmark in instructions, deterministic: the scalar
reference kernels against the CMSIS-DSP + Helium backend, side by side.

Both firmwares are the story example (examples/story) built as the
environments m55_bench_ref and m55_bench (boards/mps3_an547.ini): stories260K
embedded in flash, greedy decoding of 256 positions after "Once upon a time",
and llm_forward's profiling hook compiled in (-DLLM_PROFILE). Each runs in
QEMU (mps3-an547) with `-icount shift=0`, where emulated time counts
instructions (1 ns each), so the figures are exact and repeat run after run.

The same Helium firmware is also built with q8 and q4 weights (m55_bench_q8,
m55_bench_q4) for the weight-dtype comparison, and with q8 weights and an int8
KV cache (m55_bench_q8kv, the configuration that fits 256 KB of RAM) for the
KV-cache comparison, printed last.

Printed per backend and as the ratio Helium / reference:
  * decode instructions per generated token, from the firmware's own decode
    time (llm_gen_stats.decode_us under icount);
  * instructions per position, split into mat-vec, attention and the rest
    (the rest of the forward pass plus sampling and output between passes),
    counted by a small QEMU TCG plugin (bench_m55_plugin.c, built here with
    the host C compiler) that attributes every executed instruction to the
    region llm_profile_region() last entered;
  * the same with vector instructions weighted 2: QEMU counts a 128-bit
    Helium instruction as one, while a Cortex-M55 executes it in two beats
    (64 bits each). The plugin counts as "vector" every executed instruction
    that names a Q register in arm-none-eabi-objdump's disassembly (loads,
    stores, arithmetic, moves and reductions on Q registers; VPST, VCTP and
    low-overhead-loop branches are scalar), so the weighted count is
    insns + vec.

    python extra_scripts/bench/bench_m55.py              # builds both envs, runs both
    python extra_scripts/bench/bench_m55.py --no-build   # reuse the built ELFs
    python extra_scripts/bench/bench_m55.py --check      # CI: fail above the goal or on text drift
    python extra_scripts/bench/bench_m55.py --hot 10     # and the 10 costliest functions

Needs LLM_MODELS_DIR (stories260K.bin, tok512.bin) for the build, QEMU for
Arm with plugin support (Debian's qemu-system-arm 7.2 has it), arm-none-eabi
binutils and a host C compiler. It builds nothing from other projects.
"""
import argparse
import bisect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SRC = Path(__file__).resolve().parent / "bench_m55_plugin.c"
ENVS = (("reference", "m55_bench_ref"), ("helium", "m55_bench"),
        ("helium q8", "m55_bench_q8"), ("helium q4", "m55_bench_q4"),
        ("helium q8 int8kv", "m55_bench_q8kv"))
REGIONS = ("outside", "matvec", "attention", "other")  # forward.c's LLM_PROF_* order
GOAL = 0.4  # Helium / reference instructions per token
GOAL_Q8 = 0.6  # Helium q8 / Helium fp32 weights instructions per token

TOKENS_RE = re.compile(r"tokens: (\d+) prompt \(incl\. BOS\) \+ (\d+) generated, end: (\w+)")
TIME_RE = re.compile(r"emulated time: prefill (\d+) us, decode (\d+) us")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\s+(v\S*)\s+(.*)$")
QREG_RE = re.compile(r"\bq[0-7]\b")


def die(msg):
    sys.exit("bench_m55: error: " + msg)


def build_dir() -> Path:
    d = os.environ.get("PLATFORMIO_BUILD_DIR")
    return Path(d) if d else ROOT / ".pio" / "build"


def find_tool(name: str) -> str:
    """An arm-none-eabi tool from PATH or from PlatformIO's toolchain package."""
    found = shutil.which(name)
    if found:
        return found
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    for pkg in sorted(core.glob("packages/toolchain-gccarmnoneeabi*")) + \
            sorted(core.glob("llm-local-packages/toolchain-gccarmnoneeabi*")):
        cand = pkg / "bin" / name
        if os.access(cand, os.X_OK):
            return str(cand)
    die(f"{name} not found: install gcc-arm-none-eabi (Debian/Ubuntu) or build once "
        "with PlatformIO so its toolchain package is there")


def build_plugin(out_dir: Path) -> Path:
    so = out_dir / "bench_m55_plugin.so"
    if so.exists() and so.stat().st_mtime >= PLUGIN_SRC.stat().st_mtime:
        return so
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        die("no host C compiler (cc) to build the QEMU plugin: apt-get install gcc")
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", str(so), str(PLUGIN_SRC)]
    if subprocess.call(cmd) != 0:
        die("building the QEMU plugin failed: " + " ".join(cmd))
    return so


def symbols(nm: str, elf: Path) -> dict:
    """name -> (address, size) from nm -S."""
    out = subprocess.run([nm, "-S", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return syms


def vector_addresses(objdump: str, elf: Path, dest: Path) -> int:
    """Write the addresses of the ELF's vector (Q-register) instructions."""
    dis = subprocess.run([objdump, "-d", "-marmv8.1-m.main", "--no-show-raw-insn", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    addrs = [m.group(1) for m in map(INSN_RE.match, dis.splitlines())
             if m and QREG_RE.search(m.group(3))]
    dest.write_text("".join(a + "\n" for a in addrs))
    return len(addrs)


def run_one(label: str, elf: Path, plugin: Path, work: Path, tools: dict, qemu: str,
            hot: bool = False, machine: str = "mps3-an547", qemu_args: tuple = (),
            skip: tuple = ()) -> dict:
    """Run one bench ELF under the plugin. qemu_args go after -M machine;
    skip names functions (wait loops) whose instructions count nowhere.
    Besides the regions, r["vcpu<i>"] is each vCPU's (insns, vec) inside
    forward passes."""
    syms = symbols(tools["nm"], elf)
    for name in ("llm_profile_region", "board_prof_entries"):
        if name not in syms:
            die(f"{elf} has no {name}: build it with -DLLM_PROFILE (env m55_bench*)")
    hook_lo, hook_size = syms["llm_profile_region"]
    slots, slots_size = syms["board_prof_entries"]
    vec_file = work / f"{label}.vec"
    n_vec = vector_addresses(tools["objdump"], elf, vec_file)
    counts_file = work / f"{label}.counts"
    if counts_file.exists():
        counts_file.unlink()
    plugin_arg = (f"file={plugin},vec={vec_file},hook={hook_lo:x}:{hook_lo + hook_size:x},"
                  f"slots={slots:x}:{slots_size // 4},out={counts_file}")
    hot_file = work / f"{label}.hot"
    if hot:
        plugin_arg += f",hot={hot_file}"
    for name in skip:
        if name not in syms:
            die(f"{elf} has no {name} to leave out of the counts")
        lo, size = syms[name]
        plugin_arg += f",skip={lo & ~1:x}:{(lo & ~1) + size:x}"
    cmd = [qemu, "-M", machine, *qemu_args, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
           "-kernel", str(elf), "-plugin", plugin_arg]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0 or not counts_file.exists():
        die(f"{label}: QEMU exited with {proc.returncode}:\n{proc.stderr}")
    tok, tim = TOKENS_RE.search(proc.stderr), TIME_RE.search(proc.stderr)
    if not tok or not tim:
        die(f"{label}: the firmware printed no statistics:\n{proc.stderr}")
    r = {"text": proc.stdout, "n_prompt": int(tok.group(1)), "n_gen": int(tok.group(2)),
         "end": tok.group(3), "decode_us": int(tim.group(2)), "n_vec_static": n_vec}
    if hot:
        r["hot"] = hot_functions(hot_file, syms)
    for line in counts_file.read_text().splitlines():
        head, *fields = line.split()
        kv = dict(f.split("=") for f in ([head] if "=" in head else []) + fields)
        if "=" in head:
            r.update({k: int(v) for k, v in kv.items()})
        else:
            r[head] = (int(kv["insns"]), int(kv["vec"]))
    return r


def hot_functions(path: Path, syms: dict) -> list:
    """[(instructions, vector instructions, function)] over the whole run,
    largest first, from the plugin's per-block counts."""
    funcs = sorted((a, a + max(size, 1), name) for name, (a, size) in syms.items() if size)
    starts = [f[0] for f in funcs]
    totals = {}
    for line in path.read_text().splitlines():
        pc, n, nv, runs = line.split()
        pc, n, nv, runs = int(pc, 16), int(n), int(nv), int(runs)
        i = bisect.bisect_right(starts, pc) - 1
        name = funcs[i][2] if i >= 0 and pc < funcs[i][1] else f"0x{pc:x}"
        t = totals.setdefault(name, [0, 0])
        t[0] += n * runs
        t[1] += nv * runs
    return sorted(((a, b, k) for k, (a, b) in totals.items()), reverse=True)


def fmt(n: float) -> str:
    return f"{n:,.0f}"


def report(results: dict):
    ref, hel = results["reference"], results["helium"]
    n_pos = ref["passes"]
    print(f"stories260K, greedy, prompt \"Once upon a time\": {ref['n_prompt']} prompt tokens "
          f"(incl. BOS) + {ref['n_gen']} generated ({ref['end']}), {n_pos} forward passes")
    print("QEMU mps3-an547 (Cortex-M55), -icount shift=0: 1 instruction = 1 ns\n")
    w = 14

    def row(name, a, b, ratio=True):
        line = f"{name:<34}{fmt(a):>{w}}{fmt(b):>{w}}"
        if ratio and a:
            line += f"{b / a:>{w}.3f}"
        print(line)

    print(f"{'':<34}{'reference':>{w}}{'helium':>{w}}{'ratio':>{w}}")
    dec = {k: r["decode_us"] * 1000 / r["n_gen"] for k, r in results.items()}
    row("decode instructions / token", dec["reference"], dec["helium"])
    for weighted in (False, True):
        title = ("instructions / position, vector x2" if weighted
                 else "instructions / position")
        print(f"\n{title} (plugin, {n_pos} positions)")
        tot = {}
        for k, r in results.items():
            parts = {}
            for i, name in enumerate(REGIONS):
                insns, vec = r[f"region{i}"]
                parts[name] = (insns + vec if weighted else insns) / r["passes"]
            tot[k] = parts
        row("  mat-vec", tot["reference"]["matvec"], tot["helium"]["matvec"])
        row("  attention", tot["reference"]["attention"], tot["helium"]["attention"])
        rest = {k: v["other"] + v["outside"] for k, v in tot.items()}
        row("  rest", rest["reference"], rest["helium"])
        total = {k: sum(v.values()) for k, v in tot.items()}
        row("  total", total["reference"], total["helium"])
        for k in ("reference", "helium"):
            share = {n: 100 * v / total[k] for n, v in tot[k].items()}
            print(f"    {k}: mat-vec {share['matvec']:.1f}%, attention {share['attention']:.1f}%, "
                  f"rest {share['other'] + share['outside']:.1f}%")
    vec_share = {k: 100 * sum(r[f"region{i}"][1] for i in range(4)) /
                 sum(r[f"region{i}"][0] for i in range(4)) for k, r in results.items()}
    print("\nrest: norms, rope, SwiGLU gate, residual adds, embedding copy, then sampling and "
          "output between passes")
    print(f"vector instructions: reference {vec_share['reference']:.1f}%, "
          f"helium {vec_share['helium']:.1f}% of those executed in the passes")
    ratio = dec["helium"] / dec["reference"]
    print(f"Helium / reference decode instructions per token: {ratio:.3f} "
          f"(goal <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})")
    same = ref["text"] == hel["text"]
    if same:
        print("generated text: identical on both backends")
    else:
        i = next((i for i, (a, b) in enumerate(zip(ref["text"], hel["text"])) if a != b),
                 min(len(ref["text"]), len(hel["text"])))
        print(f"generated text DIFFERS from character {i}: reference {ref['text'][i:i + 40]!r}, "
              f"helium {hel['text'][i:i + 40]!r}")
    return ratio <= GOAL and same


def report_dtypes(results: dict):
    """Helium backend with fp32, q8 and q4 weights: instructions per token."""
    print("\nweights on the Helium backend (fp32 KV cache):")
    w = 14
    print(f"{'':<34}{'fp32':>{w}}{'q8':>{w}}{'q4':>{w}}")
    cols = ("helium", "helium q8", "helium q4")
    dec = [results[k]["decode_us"] * 1000 / results[k]["n_gen"] for k in cols]
    print(f"{'decode instructions / token':<34}" + "".join(f"{fmt(v):>{w}}" for v in dec))
    vx2 = [sum(sum(results[k][f"region{i}"]) for i in range(4)) / results[k]["passes"]
           for k in cols]
    print(f"{'  per position, vector x2':<34}" + "".join(f"{fmt(v):>{w}}" for v in vx2))
    mv = [results[k]["region1"][0] / results[k]["passes"] for k in cols]
    print(f"{'  per position, mat-vec':<34}" + "".join(f"{fmt(v):>{w}}" for v in mv))
    q8, q4 = dec[1] / dec[0], dec[2] / dec[0]
    print(f"q8 / fp32 = {q8:.3f} (goal <= {GOAL_Q8}: {'met' if q8 <= GOAL_Q8 else 'NOT met'}), "
          f"q4 / fp32 = {q4:.3f}; vector x2: q8 / fp32 = {vx2[1] / vx2[0]:.3f}, "
          f"q4 / fp32 = {vx2[2] / vx2[0]:.3f}")
    return q8 <= GOAL_Q8


def report_kv(results: dict):
    """q8 weights with an fp32 and with an int8 KV cache, attention split out."""
    print("\nq8 weights on the Helium backend, KV cache fp32 / int8 (the 256 KB configuration):")
    w = 14
    print(f"{'':<34}{'fp32 KV':>{w}}{'int8 KV':>{w}}{'ratio':>{w}}")
    cols = ("helium q8", "helium q8 int8kv")
    rows = [("decode instructions / token",
             [results[k]["decode_us"] * 1000 / results[k]["n_gen"] for k in cols]),
            ("  per position, attention",
             [results[k]["region2"][0] / results[k]["passes"] for k in cols])]
    for name, v in rows:
        print(f"{name:<34}{fmt(v[0]):>{w}}{fmt(v[1]):>{w}}{v[1] / v[0]:>{w}.3f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-build", action="store_true", help="use the ELFs already built")
    ap.add_argument("--qemu", default=os.environ.get("LLM_QEMU", "qemu-system-arm"))
    ap.add_argument("--text", type=Path, help="also write each backend's story to TEXT.<backend>")
    ap.add_argument("--check", action="store_true",
                    help=f"exit with status 1 unless the ratios are <= {GOAL} (Helium / reference) "
                    f"and {GOAL_Q8} (q8 / fp32 weights) and the fp32 texts match")
    ap.add_argument("--hot", type=int, metavar="N", default=0,
                    help="also list the N functions that execute the most instructions")
    args = ap.parse_args()

    if not shutil.which(args.qemu):
        die(f"{args.qemu} not found: apt-get install qemu-system-arm (7.0 or newer)")
    if not args.no_build:
        pio = shutil.which("pio") or shutil.which("platformio")
        if not pio:
            die("pio not found: activate the project's .venv (setup.sh) first")
        cmd = [pio, "run", "-d", str(ROOT)] + [a for _, e in ENVS for a in ("-e", e)]
        print("$ " + " ".join(cmd), flush=True)
        if subprocess.call(cmd, stdout=subprocess.DEVNULL) != 0:
            die("the build failed; run the command above to see why")
    work = build_dir() / "bench_m55"
    work.mkdir(parents=True, exist_ok=True)
    tools = {"nm": find_tool("arm-none-eabi-nm"), "objdump": find_tool("arm-none-eabi-objdump")}
    plugin = build_plugin(work)
    results = {}
    for label, env in ENVS:
        elf = build_dir() / env / "firmware.elf"
        if not elf.exists():
            die(f"{elf} is missing: run without --no-build")
        results[label] = run_one(label, elf, plugin, work, tools, args.qemu, hot=args.hot > 0)
        if args.text:
            Path(f"{args.text}.{label}").write_text(results[label]["text"])
    ok = report(results)
    ok = report_dtypes(results) and ok
    report_kv(results)
    for label, r in results.items() if args.hot else ():
        total = sum(a for a, _, _ in r["hot"])
        print(f"\n{label}: top functions, whole run ({total:,} instructions)")
        for insns, vec, name in r["hot"][:args.hot]:
            print(f"  {insns:>14,} {100 * insns / total:5.1f}%  vector {vec:>12,}  {name}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
