#!/usr/bin/env python3
"""Time to first token of a second conversational turn: the KV cache kept
(llm_continue runs the new turn's tokens only) against re-prefilling the
whole conversation (llm_ctx_recompute, then llm_continue), on stories260K.

It drives the test firmware over its line protocol (test/firmware/fw_main.c):
a Llama 2 chat turn with a system prompt, a greedy reply grown until the
history holds --history positions, then the second turn, answered with one
token (max_new 1) twice: from the kept cache, and after llm_ctx_recompute.
The firmware's llm_gen_stats give the times (prefill + first sampling).

    pio run -e native_test && python extra_scripts/bench/bench_chat.py
    pio run -e m55_test && python extra_scripts/bench/bench_chat.py --target m55

Host: microseconds of process CPU time (clock()), the median of --runs.
Cortex-M55 (QEMU mps3-an547, -icount shift=0): emulated microseconds, each
1000 instructions, so the figures are instruction counts, deterministic.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / 'test')]


def start(target: str) -> subprocess.Popen:
    if target == 'host':
        cmd = [str(ROOT / '.pio' / 'build' / 'native_test' / 'program')]
    else:
        from qemu_target import board_command
        cmd = board_command(str(ROOT / '.pio' / 'build' / 'm55_test' / 'firmware.elf'))
    if not Path(cmd[0] if target == 'host' else cmd[-1]).is_file():
        sys.exit(f'bench_chat: {cmd[-1]} is missing: pio run -e {"native_test" if target == "host" else "m55_test"}')
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while not p.stdout.readline().startswith(b'ready llm-test-fw'):
        pass
    return p


def command(p: subprocess.Popen, line: str) -> dict:
    p.stdin.write(line.encode() + b'\n')
    p.stdin.flush()
    word = line.split(' ', 1)[0].encode()
    while True:
        out = p.stdout.readline()
        if not out:
            sys.exit(f'bench_chat: the firmware ended during {word.decode()}')
        if out.startswith(word + b' '):
            parts = out.decode().split()
            if parts[1] != 'LLM_OK':
                sys.exit(f'bench_chat: {out.decode().strip()[:300]}')
            return dict(t.split('=', 1) for t in parts[2:] if '=' in t)


def cont(p, max_new: int) -> dict:
    return command(p, f'continue {max_new} 4294967295 0.0 0.9 0 1.0 0 1 0 0 -')


def one_run(p, models: Path, history: int, kv: str) -> tuple:
    hx = lambda s: s.encode().hex()  # noqa: E731
    command(p, 'reset')
    command(p, f'model {models / "stories260K.bin"}')
    command(p, f'tok {models / "tok512.bin"}')
    command(p, f'init 512 {kv}')
    first = command(p, f'chat llama2 {hx("You tell short stories.")} {hx("Tell me a story about a dog.")}')
    n_first = int(first['n_queued'])
    cont(p, max(1, history - n_first))
    command(p, f'chat llama2 - {hx("What did the dog do next?")}')
    pos = command(p, 'ctx_pos')
    kept = cont(p, 1)
    command(p, 'ctx_recompute')
    again = cont(p, 1)
    ttft = lambda r: int(r['prefill_us']) + int(r['decode_us'])  # noqa: E731
    return (int(pos['n_past']), int(kept['n_prompt']), ttft(kept), int(again['n_prompt']), ttft(again))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--target', choices=['host', 'm55'], default='host')
    ap.add_argument('--history', type=int, default=200, help='positions before the second turn')
    ap.add_argument('--kv', choices=['f32', 'f16', 'q8'], default='f32')
    ap.add_argument('--runs', type=int, default=5, help='host runs (the median is printed); m55: 1')
    a = ap.parse_args()
    models = Path(os.environ.get('LLM_MODELS_DIR', ROOT / 'models')).resolve()
    p = start(a.target)
    try:
        runs = [one_run(p, models, a.history, a.kv) for _ in range(1 if a.target == 'm55' else a.runs)]
        command(p, 'quit')
    finally:
        p.kill()
        p.wait()
    hist, n_kept, _, n_all, _ = runs[0]
    t_kept = statistics.median(r[2] for r in runs)
    t_all = statistics.median(r[4] for r in runs)
    unit = 'us CPU' if a.target == 'host' else 'k instructions (emulated us)'
    print(f'{a.target}, stories260K, KV {a.kv}, history {hist} positions, second turn:')
    print(f'  cache kept:   {n_kept:4d} positions prefilled, first token after {t_kept:10.0f} {unit}')
    print(f'  re-prefilled: {n_all:4d} positions prefilled, first token after {t_all:10.0f} {unit}')
    print(f'  ratio: {t_all / max(t_kept, 1):.1f}x')
    return 0


if __name__ == '__main__':
    sys.exit(main())
