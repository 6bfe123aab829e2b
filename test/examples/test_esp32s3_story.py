"""The ESP32-S3 story example (examples/esp32s3_story) in Espressif's QEMU,
as extra_scripts/build/esp32s3_idf.py builds and runs it:

* esp32s3_story_qemu (N16R8, fp32, arena in PSRAM) and esp32s3_story_n4r2_qemu
  (4 MB flash layout) tell llama2.c's greedy story byte for byte, on both cores;
* esp32s3_story_q8_qemu (no PSRAM, q8 weights, int8 KV cache over the whole
  context) tells the story the host library tells for the same blob;
* a bad flash (erased, truncated or corrupted model, no "model" partition, an
  arena that fits nowhere) gives one "error: ...: LLM_ERR_..." line and the
  board idles: no panic, no reboot.

They need the images first:
    python extra_scripts/build/esp32s3_idf.py build esp32s3_story_qemu esp32s3_story_q8_qemu esp32s3_story_n4r2_qemu
and the host test firmware (pio run -e native_test) for the q8 reference.
"""
from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import esp32s3_idf as idf
import esp32s3_tools
from helpers.golden import LLAMA2C_GREEDY_200
from llmtools import blob as blobmod
from llmtools import testmodels
from llmtools.blob import Config

PROMPT = b'Once upon a time'
HEADER = b'--- story 1 (seed 1) ---\n'
# The model partition of each environment's table (boards/esp32s3/partitions_llm_*.csv).
MODEL_OFFSET = {'esp32s3_story_qemu': 0x310000, 'esp32s3_story_n4r2_qemu': 0x190000,
                'esp32s3_story_q8_qemu': 0x310000}
TABLE_OFFSET = 0x8000
# With -icount shift=0 each 200-step story (fp32, n4r2 or q8) took 25-28 s of
# host time here, boot included, on 2 shared cores; the timeout is ~6 times that.
STORY_TIMEOUT = 180
ERROR_TIMEOUT = 60  # boot to the error line without -icount: 0.5-0.6 s measured
SETTLE_S = 3.0       # after the error line: long enough to see a reboot's banner

END = re.compile(rb'^(story: done|error: [^\n]*\n)', re.M)
PANIC = re.compile(rb'Guru Meditation|abort\(\) was called|Rebooting\.\.\.|Backtrace:')


def env(name: str) -> idf.Env:
    e = idf.Env(name)
    for f in (e.out / 'flash.bin', e.out / 'model.llmb'):
        if not f.is_file():
            pytest.fail(f'{f} is missing: build it with '
                        f'`python extra_scripts/build/esp32s3_idf.py build {name}`', pytrace=False)
    return e


def run_qemu(e: idf.Env, flash: Path, efuse: Path, icount: bool, timeout: float):
    """Boot flash (a copy of e's image, maybe patched) in QEMU as esp32s3_idf
    runs e; read until "story: done", an error line or a panic, then SETTLE_S
    more seconds; kill QEMU. Returns (output with CRLF as LF, seconds to the end line).
    QEMU itself killed by a signal before the end line (it segfaulted once
    in a loaded CI run, after the firmware's banner; the same test passed
    alone) is the emulator's failure, not the firmware's: that run is
    repeated once, with a warning, and a second crash fails the test."""
    for attempt in (1, 2):
        text, ended, own = _run_qemu_once(e, flash, efuse, icount, timeout)
        if ended is not None or own is None or own >= 0 or attempt == 2:
            break
        warnings.warn(f'QEMU died by signal {-own} before the end line; running it again')
    if ended is None:
        pytest.fail(f'no "story: done" or error line within {timeout} s '
                    f'(QEMU status {"still running" if own is None else own}):\n'
                    f'{text[-3000:].decode(errors="replace")}', pytrace=False)
    return text, ended


def _run_qemu_once(e: idf.Env, flash: Path, efuse: Path, icount: bool, timeout: float):
    """One QEMU run: (output with CRLF as LF, seconds to the end line or None,
    QEMU's exit status if it ended by itself before the test killed it, else
    None)."""
    cmd = idf.qemu_command(e, icount=icount)
    cmd = [a.replace(str(e.out / 'flash.bin'), str(flash)).replace(str(e.out / 'efuse.bin'), str(efuse))
           for a in cmd]
    assert f'file={flash},if=mtd,format=raw' in cmd, cmd
    if not efuse.is_file():
        efuse.write_bytes(bytes(1024))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out, t0, ended, stop = b'', time.monotonic(), None, time.monotonic() + timeout
    eof = False
    try:
        while time.monotonic() < stop:
            ready, _, _ = select.select([proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    eof = True
                    break
                out += chunk
            if ended is None and (END.search(out.replace(b'\r\n', b'\n')) or PANIC.search(out)):
                ended = time.monotonic() - t0
                stop = time.monotonic() + SETTLE_S
    finally:
        try:  # before the kill: how QEMU ended by itself, if it did
            own = proc.wait(timeout=2) if eof else proc.poll()
        except subprocess.TimeoutExpired:
            own = None
        proc.kill()
        proc.wait()
        proc.stdout.close()
    return out.replace(b'\r\n', b'\n'), ended, own


def story_of(out: bytes) -> bytes:
    assert out.count(HEADER) == 1, out[-3000:]
    text = out.split(HEADER, 1)[1]
    assert b'\n\nprefill ' in text, out[-3000:]
    return text.split(b'\n\nprefill ', 1)[0]


def line(out: bytes, start: bytes) -> str:
    found = [ln for ln in out.split(b'\n') if ln.startswith(start)]
    assert len(found) == 1, f'{len(found)} lines start with {start!r}:\n{out[-3000:].decode(errors="replace")}'
    return found[0].decode()


def check_story_run(name: str, tmp_path: Path) -> tuple[bytes, str]:
    e = env(name)
    flash = tmp_path / 'flash.bin'
    shutil.copyfile(e.out / 'flash.bin', flash)
    t0 = time.monotonic()
    out, _ = run_qemu(e, flash, tmp_path / 'efuse.bin', icount=True, timeout=STORY_TIMEOUT)
    print(f'\n{name}: story in {time.monotonic() - t0:.0f} s')
    for ln in out.split(b'\n'):
        if ln.startswith((b'weights:', b'model:', b'arena:', b'prefill', b'work:', b'RAM:')):
            print(ln.decode(errors='replace'))
    log = out[-4000:].decode(errors='replace')
    assert not PANIC.search(out), log
    assert re.search(rb'^story: done', out, re.M), log
    assert b'\nerror: ' not in out, log
    w = line(out, b'weights: ')
    assert f'in flash partition "model" at {MODEL_OFFSET[name]:#x},' in w, w
    assert line(out, b'model: ').startswith('model: dim 64, 5 layers, 8 heads (4 kv), vocab 512, context 512')
    stats = line(out, b'prefill ')
    assert re.fullmatch(r'prefill \d+ tokens: \d+ ms \([\d.]+ tok/s\) \| decode \d+ tokens: \d+ ms '
                        r'\([\d.]+ tok/s\) \| end: budget', stats), stats
    work = re.fullmatch(r'work: core 0 ran (\d+) items, core 1 ran (\d+) \(.*\)', line(out, b'work: '))
    assert work and int(work.group(1)) > 0 and int(work.group(2)) > 0, line(out, b'work: ')
    assert line(out, b'RAM: ').startswith('RAM: internal ')
    return story_of(out), line(out, b'arena: ')


# ------------------------------------------------------------------ stories

@pytest.mark.parametrize('name', ['esp32s3_story_qemu', 'esp32s3_story_n4r2_qemu'])
def test_story_matches_llama2c(name, tmp_path):
    text, arena = check_story_run(name, tmp_path)
    assert re.fullmatch(r'arena: \d+ KB in psram \(KV cache fp32, \d+ KB for 512 positions\)', arena), arena
    assert text == LLAMA2C_GREEDY_200


def test_story_q8_without_psram_matches_host(fw, tmp_path):
    name = 'esp32s3_story_q8_qemu'
    model = env(name).out / 'model.llmb'
    # The host library on the same blob, int8 KV cache, temperature 0, 200 steps.
    r = fw.model(model)
    assert r.ok, r
    i = fw.command('init 0 q8')
    assert i.ok, i
    ref = fw.generate(PROMPT, n_steps=200, temperature=0.0)
    assert ref.status == 'LLM_OK' and ref.end == 'budget', ref.reply
    text, arena = check_story_run(name, tmp_path)
    assert re.fullmatch(r'arena: \d+ KB in internal \(KV cache int8, \d+ KB for 512 positions\)', arena), arena
    assert text.startswith(PROMPT)
    assert ref.text.startswith(PROMPT)
    if text != ref.text:
        k = next((j for j, (a, b) in enumerate(zip(text, ref.text)) if a != b), min(len(text), len(ref.text)))
        pytest.fail(f'board and host differ from byte {k} (board {len(text)} bytes, host {len(ref.text)}):\n'
                    f'board: {text[max(0, k - 40):k + 40]!r}\nhost:  {ref.text[max(0, k - 40):k + 40]!r}')


# ------------------------------------------------------------------ bad flash

def patched_image(name: str, tmp_path: Path) -> tuple[idf.Env, bytearray, bytes]:
    e = env(name)
    return e, bytearray((e.out / 'flash.bin').read_bytes()), (e.out / 'model.llmb').read_bytes()


def run_bad(e: idf.Env, image: bytearray, tmp_path: Path) -> tuple[str, bytes]:
    """The single error line of a patched image, after checking the board
    stopped there: no panic, no second boot within SETTLE_S."""
    flash = tmp_path / 'flash.bin'
    flash.write_bytes(image)
    out, secs = run_qemu(e, flash, tmp_path / 'efuse.bin', icount=False, timeout=ERROR_TIMEOUT)
    log = out[-4000:].decode(errors='replace')
    print(f'error after {secs:.1f} s')
    assert not PANIC.search(out), log
    assert out.count(b'ESP-ROM:') == 1, f'the board rebooted:\n{log}'
    assert b'story: done' not in out and HEADER not in out, log
    err = line(out, b'error: ')
    assert out.rstrip().endswith(err.encode()), f'output after the error line:\n{log}'
    print(err)
    return err, out


def status_of(err: str) -> str:
    m = re.fullmatch(r'error: .+: (LLM_ERR_[A-Z0-9_]+)', err)
    assert m, err
    return m.group(1)


def put_model(image: bytearray, offset: int, old_len: int, data: bytes) -> None:
    image[offset:offset + max(old_len, len(data))] = b'\xff' * max(old_len, len(data))
    image[offset:offset + len(data)] = data


def test_erased_model_partition(tmp_path):
    e, image, blob = patched_image('esp32s3_story_qemu', tmp_path)
    put_model(image, MODEL_OFFSET[e.name], len(blob), b'')
    err, _ = run_bad(e, image, tmp_path)
    assert status_of(err) == 'LLM_ERR_MAGIC'
    assert 'flash one' in err and '"model" partition' in err, err


def test_truncated_model(tmp_path):
    # The header still says the whole length, which fits the partition, so the
    # port maps it all and llm_model_open's CRC-32 over it meets the 0xFF half.
    e, image, blob = patched_image('esp32s3_story_qemu', tmp_path)
    put_model(image, MODEL_OFFSET[e.name], len(blob), blob[:len(blob) // 2])
    err, _ = run_bad(e, image, tmp_path)
    assert err == 'error: llm_model_open: LLM_ERR_CHECKSUM', err


def test_corrupted_tensor_data(tmp_path):
    e, image, blob = patched_image('esp32s3_story_qemu', tmp_path)
    bad = bytearray(blob)
    off = blobmod.tensor_table(blob)[0]['offset']
    for k in range(off + 100, off + 108):
        bad[k] ^= 0x5A
    put_model(image, MODEL_OFFSET[e.name], len(blob), bytes(bad))
    err, _ = run_bad(e, image, tmp_path)
    assert err == 'error: llm_model_open: LLM_ERR_CHECKSUM', err


def test_tensor_table_out_of_bounds_with_valid_crc(tmp_path):
    # A tensor's offset past the blob, CRC recomputed: the bounds check, not the CRC, catches it.
    e, image, blob = patched_image('esp32s3_story_qemu', tmp_path)
    bad = bytearray(blob)
    entry = blobmod.tensor_table(blob)[0]['entry_offset']  # its offset field is at +16
    assert blobmod.tensor_table(blob)[0]['offset'] == int.from_bytes(bad[entry + 16:entry + 20], 'little')
    bad[entry + 16:entry + 20] = (len(blob) + 4096).to_bytes(4, 'little')
    blobmod.fix_crc(bad)
    put_model(image, MODEL_OFFSET[e.name], len(blob), bytes(bad))
    err, _ = run_bad(e, image, tmp_path)
    assert err == 'error: llm_model_open: LLM_ERR_BOUNDS', err


def test_no_model_partition(tmp_path):
    e, image, _ = patched_image('esp32s3_story_qemu', tmp_path)
    rows = [r for r in e.partitions.read_text().splitlines()
            if r.strip() and not r.lstrip().startswith('#') and not r.startswith('model,')]
    assert any(r.startswith('factory,') for r in rows) and len(rows) == 3, rows
    csv, table = tmp_path / 'no_model.csv', tmp_path / 'no_model.bin'
    csv.write_text('\n'.join(rows) + '\n')
    gen = esp32s3_tools.paths()['idf'] / 'components' / 'partition_table' / 'gen_esp32part.py'
    subprocess.run([sys.executable, gen,
                    csv, table], check=True, capture_output=True)
    new = table.read_bytes()
    assert 0 < len(new) <= 0x1000
    image[TABLE_OFFSET:TABLE_OFFSET + 0x1000] = new + b'\xff' * (0x1000 - len(new))
    err, _ = run_bad(e, image, tmp_path)
    assert status_of(err) == 'LLM_ERR_ARG'
    assert 'no "model" partition in the partition table' in err, err


def test_arena_fits_no_memory(tmp_path):
    # No PSRAM; logits (4 B) and sampler candidates (8 B) per token of a 48000
    # vocabulary are 576 KB at any context, more than the internal SRAM.
    e, image, blob = patched_image('esp32s3_story_q8_qemu', tmp_path)
    c = Config(dim=8, hidden_dim=16, n_layers=1, n_heads=2, n_kv_heads=2, vocab_size=48000, seq_len=64)
    big = blobmod.write_blob(c, testmodels.random_model(c, seed=1, tied=True))
    part = [p for p in idf.partitions.read_partitions(e.partitions) if p.name == 'model'][0]
    assert part.offset == MODEL_OFFSET[e.name] and len(big) < part.size
    put_model(image, part.offset, len(blob), big)
    err, out = run_bad(e, image, tmp_path)
    assert b'vocab 48000' in out
    assert err == 'error: no memory for the arena: LLM_ERR_ARENA_TOO_SMALL', err
