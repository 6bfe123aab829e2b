#!/usr/bin/env python3
"""ESP32-S3 instructions per token, in Espressif's QEMU (-M esp32s3).

Builds the story firmware of env esp32s3_story_qemu (N16R8, weights read in
place from the model partition) in variants, runs each in QEMU with
-icount shift=0 and reads the line its bench mode prints
(examples/esp32s3_story/bench.c): greedy forward passes over 256 positions
after the prompt, each core's instructions counted by its ICOUNT register.

    python extra_scripts/bench/bench_esp32s3.py            # all variants below
    python extra_scripts/bench/bench_esp32s3.py --only q8  # those whose label has q8

Variants: weights fp32 / q8 / q4 (llm-convert --weights), backend reference
(LLM_BACKEND_REF) or ESP32-S3 (ESP-DSP fp32 rows, PIE q8/q4, attention for
the scalar FPU), one core or both (STORY_BOTH_CORES); and the no-PSRAM
configuration (esp32s3_story_q8_qemu: q8 weights, int8 KV cache, arena in
internal SRAM) as "q8kv". Printed: instructions per position on each core,
ratios ESP32-S3 / reference (one core) and busier core two cores / one.

QEMU counts instructions, not cycles: no pipeline stalls, no cache or flash
wait states, no PSRAM latency, and each PIE instruction counts as one. A
modeled tok/s from these counts needs assumptions (cycles per instruction,
memory bandwidth); the README states them.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / 'build'))

import esp32s3_idf as idf  # noqa: E402

BASE_ENV = 'esp32s3_story_qemu'
BENCH = re.compile(rb'bench: positions (\d+), per position: core 0 (\d+), core 1 (\d+) instructions[^\n]*\n')
REGIONS = re.compile(rb'bench regions \(core 0, per position\): matvec (\d+), attention (\d+), other (\d+)\r?\n')

# The no-PSRAM configuration: q8 weights, int8 KV cache, arena in internal SRAM.
NOPSRAM_ENV = 'esp32s3_story_q8_qemu'

VARIANTS = [
    # label, weights, backend, cores, environment
    ('ref_fp32_1c', 'f32', 'REF', 1, BASE_ENV),
    ('ref_q8_1c', 'q8', 'REF', 1, BASE_ENV),
    ('ref_q4_1c', 'q4', 'REF', 1, BASE_ENV),
    ('s3_fp32_1c', 'f32', 'ESP32S3', 1, BASE_ENV),
    ('s3_q8_1c', 'q8', 'ESP32S3', 1, BASE_ENV),
    ('s3_q4_1c', 'q4', 'ESP32S3', 1, BASE_ENV),
    ('s3_fp32_2c', 'f32', 'ESP32S3', 2, BASE_ENV),
    ('s3_q8_2c', 'q8', 'ESP32S3', 2, BASE_ENV),
    ('s3_q4_2c', 'q4', 'ESP32S3', 2, BASE_ENV),
    ('ref_q8kv_1c', 'q8', 'REF', 1, NOPSRAM_ENV),
    ('s3_q8kv_1c', 'q8', 'ESP32S3', 1, NOPSRAM_ENV),
    ('s3_q8kv_2c', 'q8', 'ESP32S3', 2, NOPSRAM_ENV),
]


def variant_env(label, weights, backend, cores, base) -> idf.Env:
    defines = ['STORY_BENCH=1', f'STORY_BOTH_CORES={1 if cores == 2 else 0}',
               'STORY_STEPS=8']  # a short story first, then the counted bench
    if cores == 1:
        defines.append('LLM_PROFILE')  # per-region counts on the one core
    defines.append(f'LLM_BACKEND=LLM_BACKEND_{backend}')
    return idf.Env(base, variant=f'bench_{label}', defines=tuple(defines),
                   convert_args=['--weights', weights])


def run(e: idf.Env, timeout: float) -> tuple[int, int, int, tuple | None]:
    proc = subprocess.Popen(idf.qemu_command(e), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, deadline = b'', time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = proc.stdout.read1(65536)
            if not chunk:
                break
            out += chunk
            m = BENCH.search(out)
            if m and (b'LLM_PROFILE' not in ' '.join(e.extra_defines).encode() or REGIONS.search(out)):
                r = REGIONS.search(out)
                return (int(m.group(1)), int(m.group(2)), int(m.group(3)),
                        tuple(int(g) for g in r.groups()) if r else None)
            if idf.PANIC.search(out):
                break
    finally:
        proc.terminate()
        proc.wait()
    raise SystemExit(f'bench_esp32s3: no bench line from {e.out.name}:\n{out[-2000:].decode(errors="replace")}')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--only', default='', help='run the variants whose label contains this')
    ap.add_argument('--timeout', type=float, default=900.0, help='seconds per QEMU run')
    ap.add_argument('-j', '--jobs', type=int, help='ninja jobs')
    args = ap.parse_args()
    res = {}
    for label, weights, backend, cores, base in VARIANTS:
        if args.only not in label:
            continue
        e = variant_env(label, weights, backend, cores, base)
        idf.build(e, args.jobs)
        n, c0, c1, regions = run(e, args.timeout)
        res[label] = (c0, c1)
        line = f'{label}: {n} positions, per position core 0 {c0:,}, core 1 {c1:,}'
        if regions:
            line += ' (mat-vec {:,}, attention {:,}, other {:,})'.format(*regions)
        print(line, flush=True)

    print('\nstories260K, greedy, instructions per position (QEMU -icount shift=0, ICOUNT per core)')
    print('(q8kv: no PSRAM, q8 weights, int8 KV cache, arena in internal SRAM; the others fp32 KV in PSRAM)')
    print(f'{"weights":8} {"reference 1 core":>17} {"ESP32-S3 1 core":>16} {"ratio":>6} '
          f'{"2 cores busier":>15} {"2c/1c":>6}')
    for w in ('fp32', 'q8', 'q4', 'q8kv'):
        ref = res.get(f'ref_{w}_1c', (0, 0))[0]
        one = res.get(f's3_{w}_1c', (0, 0))[0]
        two = max(res.get(f's3_{w}_2c', (0, 0)))
        r1 = f'{one / ref:.3f}' if ref and one else '-'
        r2 = f'{two / one:.3f}' if one and two else '-'
        print(f'{w:8} {ref:>17,} {one:>16,} {r1:>6} {two:>15,} {r2:>6}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
