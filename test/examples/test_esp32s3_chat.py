"""The ESP32-S3 chat example (examples/esp32s3_chat) in Espressif's QEMU,
typed into over the emulated UART: the conversation stays in the KV cache
across lines (the second turn runs only its own tokens, from where the first
left the context), /reset starts over, and the greedy replies are the host
program's chat replies for the same lines (host: -m chat -T llama2 -t 0).

It needs the image first:
    python extra_scripts/build/esp32s3_idf.py build esp32s3_chat_qemu
and the host program (pio run -e native).
"""
from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import esp32s3_idf as idf
from llmtools.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / '.pio' / 'build' / 'native' / 'program'
NAME = 'esp32s3_chat_qemu'
PROMPT = b'\n> '
TURN = re.compile(rb'\n\((\d+) new positions, (\d+) generated, context (\d+)/(\d+), end (\w+)\)\n\n> $')
PANIC = re.compile(rb'Guru Meditation|abort\(\) was called|Rebooting\.\.\.|\nerror: ')
STEPS = 12
TIMEOUT = 120  # boot and the whole session; about 10 s measured here


class Session:
    """QEMU running the chat image, its UART on stdin/stdout."""

    def __init__(self, tmp_path: Path):
        e = idf.Env(NAME)
        if not (e.out / 'flash.bin').is_file():
            pytest.fail(f'{e.out / "flash.bin"} is missing: build it with '
                        f'`python extra_scripts/build/esp32s3_idf.py build {NAME}`', pytrace=False)
        flash = tmp_path / 'flash.bin'
        shutil.copyfile(e.out / 'flash.bin', flash)
        cmd = [a.replace(str(e.out / 'flash.bin'), str(flash)).replace(str(e.out / 'efuse.bin'),
                                                                         str(tmp_path / 'efuse.bin'))
               for a in idf.qemu_command(e, icount=False)]
        (tmp_path / 'efuse.bin').write_bytes(bytes(1024))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.out = b''
        self.deadline = time.monotonic() + TIMEOUT

    def until(self, done) -> bytes:
        """Read until done(text since the call) holds; returns that text."""
        start = len(self.out)
        while time.monotonic() < self.deadline:
            text = self.out[start:].replace(b'\r\n', b'\n')
            if done(text):
                return text
            if PANIC.search(self.out):
                break
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.out += chunk
        pytest.fail(f'chat session stuck or failed:\n{self.out[-3000:].decode(errors="replace")}',
                    pytrace=False)

    def send(self, line: bytes) -> bytes:
        self.proc.stdin.write(line + b'\n')
        self.proc.stdin.flush()
        if line.startswith(b'/'):
            return self.until(lambda t: t.endswith(PROMPT))
        return self.until(lambda t: TURN.search(t) is not None)

    def close(self):
        self.proc.kill()
        self.proc.wait()


def turn(text: bytes, line: bytes):
    """(reply text, new positions, generated, context, end) of one turn's output."""
    m = TURN.search(text)
    head = line + b'\n'
    assert text.startswith(head), text[:200]
    return text[len(head):m.start()], int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(5)


def test_chat_keeps_the_conversation_in_the_cache(tmp_path, models_dir):
    tok = Tokenizer.from_file(models_dir / 'tok512.bin')
    lines = [b'Tell me a story.', b'And then?']
    s = Session(tmp_path)
    try:
        banner = s.until(lambda t: t.endswith(PROMPT))
        assert b'template llama2.' in banner and b'/stats.\n' in banner, banner[-500:]
        s.send(b'/temp 0')
        s.send(b'/steps %d' % STEPS)
        r1, n1, g1, p1, e1 = turn(s.send(lines[0]), lines[0])
        r2, n2, g2, p2, e2 = turn(s.send(lines[1]), lines[1])
        assert b'conversation reset' in s.send(b'/reset')
        r3, n3, g3, p3, _ = turn(s.send(lines[0]), lines[0])
    finally:
        s.close()
    first = tok.encode('[INST] Tell me a story. [/INST]', True, False)
    assert n1 == len(first) and e1 == b'budget' and g1 == STEPS and p1 == n1 + g1 - 1
    second = tok.encode('[INST] And then? [/INST]', True, False)
    assert n2 - 1 - len(second) in (0, 1), (n2, len(second))  # no re-prefill
    assert p2 == p1 + n2 + g2 - 1
    assert (r3, n3, g3, p3) == (r1, n1, g1, p1)  # /reset: the same first turn again

    if not PROGRAM.is_file():
        pytest.fail(f'{PROGRAM} is missing: build it with `pio run -e native`', pytrace=False)
    host = subprocess.run([str(PROGRAM), str(models_dir / 'stories260K.bin'), '-z',
                           str(models_dir / 'tok512.bin'), '-m', 'chat', '-T', 'llama2', '-y', '',
                           '-t', '0', '-n', str(STEPS)],
                          input=b''.join(ln + b'\n' for ln in lines), capture_output=True, timeout=60)
    assert host.returncode == 0, host.stderr.decode()
    replies = re.findall(rb'Assistant: (.*?)\nUser: ', host.stdout, re.S)
    assert replies == [r1, r2], (replies, [r1, r2])
