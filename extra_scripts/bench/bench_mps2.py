#!/usr/bin/env python3
"""Cortex-M4F / M7 / M33 decode benchmark in instructions, deterministic: the
scalar reference kernels against the cm4 backend (CMSIS-DSP fp32 mat-vec,
SMLAD q8/q4 mat-vecs and int8-cache attention), with fp32, q8 and q4
weights and, as q8kv, q8 weights with the int8 KV cache, on the emulated
MPS2 boards, side by side in one run.

Each firmware is the story example built as <board>_bench[_q8|_q4|_q8kv][_ref]
(boards/mps2.ini): stories260K embedded in the code memory, greedy decoding
of 256 positions after "Once upon a time", fp32 KV cache but for q8kv. Each runs in QEMU
with `-icount shift=0`, where emulated time counts instructions (1 ns each):
decode instructions per token = the firmware's decode time in ns / tokens
generated. The numbers repeat exactly run after run.

QEMU counts instructions, not cycles: no pipeline, no dual issue (the M7
issues two instructions per cycle where it can), no FPU latencies, no
flash or SRAM wait states, no caches. A real part's time per token follows
from cycles, which these counts do not give.

    python extra_scripts/bench/bench_mps2.py                 # build and run all
    python extra_scripts/bench/bench_mps2.py --no-build      # reuse the built ELFs
    python extra_scripts/bench/bench_mps2.py --boards m4     # one board
    python extra_scripts/bench/bench_mps2.py --regions       # and, per cm4 firmware, the
        # instructions per position in mat-vecs / attention / the rest and the
        # costliest functions (bench_m55.py's QEMU plugin, built with the host cc)
    python extra_scripts/bench_mps2.py --boards m33x2  # the AN521's two cores only

AN521 (m33x2): each m33x2_bench[_q8|_q4] ELF runs twice under bench_m55.py's
plugin, which counts each core's instructions inside forward passes, the
board's wait loops (board__wait_job, board__wait_done, board__park) left
out: once on an SSE-200 whose core 0 has an FPU and DSP extension (the
arguments the ELF names, so both cores take parallel_for jobs), once on the
plain mps2-an521 (core 0 has neither and parks: one core). The figure is the
busier core's instructions per forward pass with two cores over the one
core's. Not waiting is not the same as the critical path: when the worker's
half of a job is the longer one the main core waits, which these counts
leave out, so the ratio is a lower bound of the two-core time ratio in this
instruction model. The two runs must print the same text.

Needs LLM_MODELS_DIR (stories260K.bin, tok512.bin) for the build and
qemu-system-arm (7.2 has these machines).
"""
import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import bench_m55  # the region-counting QEMU plugin and its helpers

ROOT = Path(__file__).resolve().parents[2]
BOARDS = {"m4": "mps2-an386", "m7": "mps2-an500", "m33": "mps2-an505"}
DUAL = {"m33x2": "mps2-an521"}  # two cores: busier core, two vs one
WAIT_LOOPS = ("board__wait_job", "board__wait_done", "board__park")
ARGS_MARK = re.compile(rb"llm-qemu-args=([ -~]*)\x00")  # see test/qemu_target.py
# env suffixes: fp32, q8, q4 weights with an fp32 KV cache; q8kv: q8 weights
# and the int8 KV cache (its attention is llm_k_attention_q8).
WEIGHTS = ("", "_q8", "_q4", "_q8kv")
TIME_RE = re.compile(r"emulated time: prefill (\d+) us, decode (\d+) us")
TOKENS_RE = re.compile(r"tokens: (\d+) prompt \(incl\. BOS\) \+ (\d+) generated, end: (\w+)")


def env_name(board: str, weights: str, ref: bool) -> str:
    return f"{board}_bench{weights}{'_ref' if ref else ''}"


def run(env: str, machine: str) -> tuple[float, bytes]:
    elf = ROOT / ".pio" / "build" / env / "firmware.elf"
    if not elf.is_file():
        sys.exit(f"bench_mps2: {elf} is missing (pio run -e {env})")
    r = subprocess.run(["qemu-system-arm", "-M", machine, "-nographic", "-monitor", "none",
                        "-serial", "none", "-semihosting-config", "enable=on,target=native",
                        "-icount", "shift=0", "-kernel", str(elf)],
                       capture_output=True, timeout=1800)
    err = r.stderr.decode(errors="replace")
    t, n = TIME_RE.search(err), TOKENS_RE.search(err)
    if r.returncode != 0 or not t or not n:
        sys.exit(f"bench_mps2: {env} failed (exit {r.returncode}):\n{err}")
    return int(t.group(2)) * 1000 / int(n.group(2)), r.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-build", action="store_true", help="reuse the built ELFs")
    ap.add_argument("--boards", nargs="+", default=list(BOARDS) + list(DUAL),
                    choices=list(BOARDS) + list(DUAL))
    ap.add_argument("--regions", action="store_true",
                    help="also count each cm4 firmware's instructions per region")
    args = ap.parse_args()
    single = [b for b in args.boards if b in BOARDS]
    dual = [b for b in args.boards if b in DUAL]
    envs = [env_name(b, w, ref) for b in single for w in WEIGHTS for ref in (True, False)]
    envs += [env_name(b, w, False) for b in dual for w in WEIGHTS]
    if not args.no_build:
        cmd = ["pio", "run"] + [a for e in envs for a in ("-e", e)]
        if subprocess.call(cmd, cwd=ROOT, stdout=subprocess.DEVNULL) != 0:
            sys.exit("bench_mps2: build failed: " + " ".join(cmd))
    if single:
        table(single)
    if dual:
        two_cores(dual)
    if args.regions:
        regions(single)
    return 0


def table(boards):
    print("stories260K, greedy, 256 positions, fp32 KV cache (q8kv: int8 cache): decode "
          "instructions per token")
    print(f"{'board':6} {'weights':7} {'reference':>12} {'cm4':>12} {'cm4/ref':>8} {'ref/ref fp32':>12} "
          f"{'cm4/ref fp32':>12}")
    for b in boards:
        base = None
        for w in WEIGHTS:
            ref, ref_text = run(env_name(b, w, True), BOARDS[b])
            ours, our_text = run(env_name(b, w, False), BOARDS[b])
            if ref_text != our_text:
                sys.exit(f"bench_mps2: {b}{w}: the two backends printed different text")
            base = base or ref
            print(f"{b:6} {w.strip('_') or 'fp32':7} {ref:12,.0f} {ours:12,.0f} {ours / ref:8.3f} "
                  f"{ref / base:12.3f} {ours / base:12.3f}")
    print("QEMU counts instructions, not cycles (no dual issue, FPU latencies or wait states).")


def elf_qemu_args(elf: Path) -> list:
    m = ARGS_MARK.search(elf.read_bytes())
    return shlex.split(m.group(1).decode()) if m else []


def plugin_setup():
    work = ROOT / ".pio" / "bench_mps2"
    work.mkdir(parents=True, exist_ok=True)
    tools = {"nm": bench_m55.find_tool("arm-none-eabi-nm"),
             "objdump": bench_m55.find_tool("arm-none-eabi-objdump")}
    return work, bench_m55.build_plugin(work), tools


def two_cores(boards):
    """The busier core's instructions per forward pass, two cores vs one, on
    the same ELF (see the module doc)."""
    work, plugin, tools = plugin_setup()
    print("\nstories260K, greedy, 256 positions, fp32 KV cache (q8kv: int8), cm4 backend: "
          "instructions per forward pass of the busier core (wait loops left out)")
    print(f"{'board':6} {'weights':7} {'1 core':>12} {'2 cores: main':>14} {'worker':>12} "
          f"{'2 / 1 core':>10}")
    for b in boards:
        for w in WEIGHTS:
            env = env_name(b, w, False)
            elf = ROOT / ".pio" / "build" / env / "firmware.elf"
            if not elf.is_file():
                sys.exit(f"bench_mps2: {elf} is missing (pio run -e {env})")
            one = bench_m55.run_one(env + "_1core", elf, plugin, work, tools, "qemu-system-arm",
                                    machine=DUAL[b], skip=WAIT_LOOPS)
            two = bench_m55.run_one(env + "_2cores", elf, plugin, work, tools, "qemu-system-arm",
                                    machine=DUAL[b], qemu_args=tuple(elf_qemu_args(elf)),
                                    skip=WAIT_LOOPS)
            if one["text"] != two["text"]:
                sys.exit(f"bench_mps2: {env}: one and two cores printed different text")
            # vCPU 1 runs main; vCPU 0 is the worker (parked with one core).
            one_main, one_worker = one["vcpu1"][0] / one["passes"], one["vcpu0"][0] / one["passes"]
            main, worker = two["vcpu1"][0] / two["passes"], two["vcpu0"][0] / two["passes"]
            if one_worker != 0 or worker == 0:
                sys.exit(f"bench_mps2: {env}: the worker ran {one_worker:.0f} instructions per pass "
                         f"with one core and {worker:.0f} with two")
            busier = max(main, worker)
            print(f"{b:6} {w.strip('_') or 'fp32':7} {one_main:12,.0f} {main:14,.0f} {worker:12,.0f} "
                  f"{busier / one_main:10.3f}")
    print("QEMU -icount shift=0 counts instructions, not cycles: no dual issue, FPU latencies, "
          "wait states or contention between the cores for memory.")


def regions(boards):
    """Per cm4 firmware: instructions per forward pass in each region of
    llm_forward (mat-vec, attention, the rest) and the five costliest
    functions per pass, counted by bench_m55's plugin."""
    work, plugin, tools = plugin_setup()
    print("\ncm4 backend, instructions per forward pass: mat-vec / attention / rest")
    for b in boards:
        for w in WEIGHTS:
            env = env_name(b, w, False)
            elf = ROOT / ".pio" / "build" / env / "firmware.elf"
            r = bench_m55.run_one(env, elf, plugin, work, tools, "qemu-system-arm", hot=True,
                                  machine=BOARDS[b])
            n = r["passes"]
            per = [r[f"region{i}"][0] / n for i in (1, 2, 3)]
            print(f"{b:6} {w.strip('_') or 'fp32':5} " + " / ".join(f"{v:,.0f}" for v in per))
            print("       " + ", ".join(f"{name} {ins / n:,.0f}" for ins, _, name in r["hot"][:5]))


if __name__ == "__main__":
    sys.exit(main())
