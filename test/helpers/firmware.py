"""Client of the test firmware's line protocol (documented at the top of
test/firmware/fw_main.c).

Each command is one line; the firmware answers with exactly one line
"<command> <LLM_status> [key=value ...]". Other lines (library log messages
start with "#") are ignored, but sanitizer reports anywhere fail the test.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
import pexpect

SANITIZER_MARKERS = (b'ERROR: AddressSanitizer', b'ERROR: LeakSanitizer', b'runtime error:',
                     b'SUMMARY: UndefinedBehaviorSanitizer')


class FirmwareError(AssertionError):
    """The firmware crashed, hung, reported a sanitizer error, or broke the protocol."""


@dataclass
class Reply:
    cmd: str
    status: str
    fields: dict = field(default_factory=dict)
    line: str = ''

    @property
    def ok(self) -> bool:
        return self.status == 'LLM_OK'

    def int(self, key: str) -> int:
        return int(self.fields[key])

    def __str__(self) -> str:
        return self.line if len(self.line) < 300 else self.line[:300] + '...'


def f32_hex(x) -> str:
    """Float32 values as the firmware's hex bits (8 digits each, big-endian)."""
    a = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    return a.astype('>f4').tobytes().hex() if a.size else '-'


def parse_f32_hex(s: str) -> np.ndarray:
    if s == '-':
        return np.zeros(0, dtype=np.float32)
    return np.frombuffer(bytes.fromhex(s), dtype='>f4').astype(np.float32)


def bytes_hex(b: bytes) -> str:
    return b.hex() if b else '-'


def parse_hex(s: str) -> bytes:
    return b'' if s == '-' else bytes.fromhex(s)


def parse_ids(s: str) -> list[int]:
    return [] if s == '-' else [int(t) for t in s.split(',')]


def _num(x) -> str:
    """A float32 value as a decimal string that strtod reads back exactly."""
    return repr(float(np.float32(x)))


@dataclass
class GenResult:
    status: str
    end: str | None
    n_prompt: int
    n_generated: int
    pieces: int
    piece_lens: list
    text: bytes
    reply: Reply


class Firmware:
    """Typed commands over an LlmDut."""

    def __init__(self, dut, timeout: float = 60.0):
        self.dut = dut
        self.timeout = timeout
        self._info = None

    # -------------------------------------------------------------- transport
    def command(self, line: str, timeout: float | None = None) -> Reply:
        cmd = line.split(' ', 1)[0]
        pattern = re.compile(rb'^' + re.escape(cmd.encode()) + rb' (LLM_[A-Z0-9_]+)([^\n]*)\n', re.M)
        self.dut.write(line)
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                match = self.dut.expect(pattern, timeout=0.5)
                break
            except pexpect.TIMEOUT:
                if not self.dut.alive():
                    time.sleep(0.3)  # let the last output arrive
                    raise FirmwareError(f'firmware died during {cmd!r}:\n{self.log_tail()}') from None
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.dut.stop()  # a hung firmware is restarted for the next test
                    raise FirmwareError(f'no reply to {cmd!r} within {timeout or self.timeout} s:\n'
                                        f'{tail}') from None
        before = self.dut.pexpect_proc.before or b''
        for marker in SANITIZER_MARKERS:
            if marker in before:
                raise FirmwareError(f'sanitizer report before the reply to {cmd!r}:\n'
                                    f'{before.decode(errors="replace")[-4000:]}')
        status = match.group(1).decode()
        rest = match.group(2).decode(errors='replace').rstrip('\r')
        fields = {}
        for tok in rest.split():
            k, sep, v = tok.partition('=')
            if sep:
                fields[k] = v
        reply = Reply(cmd, status, fields, f'{cmd} {status}{rest}')
        if 'fw_error' in fields:
            raise FirmwareError(f'firmware rejected {line[:200]!r}: {reply}')
        return reply

    def log_tail(self, n: int = 6000) -> str:
        proc = getattr(self.dut, 'proc', None)
        path = getattr(proc, 'logfile', None)
        if path and os.path.exists(path):
            with open(path, 'rb') as f:
                data = f.read()
            return data[-n:].decode(errors='replace')
        return '(no firmware log)'

    # -------------------------------------------------------------- state
    def info(self) -> dict:
        if self._info is None:
            r = self.command('info')
            assert r.ok, r
            self._info = r.fields
        return self._info

    @property
    def backend(self) -> str:
        return self.info()['backend']

    def reset(self) -> None:
        r = self.command('reset')
        assert r.ok, r

    def model(self, path, max_bytes: int | None = None, misalign: int = 0) -> Reply:
        parts = ['model', str(path)]
        if max_bytes is not None or misalign:
            parts.append(str(0xFFFFFFFF if max_bytes is None else max_bytes))
        if misalign:
            parts.append(str(misalign))
        return self.command(' '.join(parts))

    def tok(self, path=None) -> Reply:
        return self.command(f'tok {path if path is not None else "-"}')

    def init(self, seq_len: int = 0, short: bool = False, kv: str | None = None) -> Reply:
        return self.command(f'{"init_short" if short else "init"} {seq_len}' + (f' {kv}' if kv else ''))

    def load(self, path, seq_len: int = 0, tok=None) -> Reply:
        """model + optional external tokenizer + init, all required to succeed."""
        r = self.model(path)
        assert r.ok, r
        if tok is not None:
            t = self.tok(tok)
            assert t.ok, t
        i = self.init(seq_len)
        assert i.ok, i
        return r

    # -------------------------------------------------------------- inference
    def forward(self, token: int, pos: int) -> tuple[str, np.ndarray | None]:
        r = self.command(f'forward {token} {pos}')
        return r.status, (parse_f32_hex(r.fields['logits']) if r.ok else None)

    def sample(self, logits, n_draws: int, temperature=1.0, top_p=0.0, top_k=0,
               repeat_penalty=1.0, repeat_last_n=0, seed=1, history=()) -> list[int]:
        hist = ','.join(str(int(t)) for t in history) or '-'
        r = self.command(f'sample {_num(temperature)} {_num(top_p)} {int(top_k)} '
                         f'{_num(repeat_penalty)} {int(repeat_last_n)} {int(seed)} {int(n_draws)} '
                         f'{hist} {f32_hex(logits)}')
        assert r.ok, r
        return parse_ids(r.fields['ids'])

    def encode(self, text: bytes, bos: bool = True, eos: bool = False,
               max_tokens: int = 4096) -> tuple[str, list[int] | None]:
        r = self.command(f'encode {int(bos)} {int(eos)} {max_tokens} {bytes_hex(text)}')
        return r.status, (parse_ids(r.fields['ids']) if r.ok else None)

    def decode(self, pairs) -> list[bytes]:
        """Pieces for (prev, token) pairs, in batches that fit a line."""
        pairs = list(pairs)
        out = []
        for i in range(0, len(pairs), 1000):
            chunk = pairs[i:i + 1000]
            r = self.command('decode ' + ' '.join(f'{p} {t}' for p, t in chunk))
            assert r.ok, r
            pieces = r.fields['pieces'].split(',')
            assert 'NULL' not in pieces, f'llm_decode gave a NULL piece with a length: {r}'
            out += [parse_hex(p) for p in pieces]
        return out

    def _gen_reply(self, line: str, stops, timeout: float | None) -> GenResult:
        """Send a generate/continue line with its stop strings; parse the reply."""
        for s in stops:
            line += ' ' + bytes_hex(s)
        r = self.command(line, timeout=timeout)
        f = r.fields
        assert f.get('overflow', '0') == '0', f'firmware text buffer overflow or NULL piece: {r}'
        return GenResult(r.status, f.get('end'), int(f['n_prompt']), int(f['n_generated']),
                         int(f['pieces']), parse_ids(f['lens']), parse_hex(f['text']), r)

    def generate(self, prompt: bytes, n_steps: int = 0, temperature=0.0, top_p=0.9, top_k=0,
                 repeat_penalty=1.0, repeat_last_n=0, seed=1, echo=True, stop_after=0,
                 stops=(), timeout: float | None = None) -> GenResult:
        line = (f'generate {n_steps} {_num(temperature)} {_num(top_p)} {int(top_k)} '
                f'{_num(repeat_penalty)} {int(repeat_last_n)} {int(seed)} {int(bool(echo))} '
                f'{int(stop_after)} {bytes_hex(prompt)}')
        return self._gen_reply(line, stops, timeout)

    def cont(self, prompt: bytes = b'', max_new: int = 0, n_steps: int = 0, temperature=0.0,
             top_p=0.9, top_k=0, repeat_penalty=1.0, repeat_last_n=0, seed=1, echo=False,
             stop_after=0, stops=(), timeout: float | None = None) -> GenResult:
        """llm_continue: the generate command's reply, from where the context stands."""
        line = (f'continue {int(max_new)} {n_steps} {_num(temperature)} {_num(top_p)} {int(top_k)} '
                f'{_num(repeat_penalty)} {int(repeat_last_n)} {int(seed)} {int(bool(echo))} '
                f'{int(stop_after)} {bytes_hex(prompt)}')
        return self._gen_reply(line, stops, timeout)

    def position(self, reset: bool = False, recompute: bool = False) -> tuple[int, int, list[int]]:
        """(n_past, n_queued, tokens run then queued) of the context, after
        llm_ctx_reset (reset) or llm_ctx_recompute (recompute)."""
        r = self.command('ctx_reset' if reset else 'ctx_recompute' if recompute else 'ctx_pos')
        assert r.ok, r
        return r.int('n_past'), r.int('n_queued'), parse_ids(r.fields['tokens'])

    def append(self, text: bytes, bos: bool = False, eos: bool = False) -> Reply:
        return self.command(f'append {int(bos)} {int(eos)} {bytes_hex(text)}')

    def chat(self, template: str, user: bytes, system: bytes | None = None) -> Reply:
        sys = '-' if system is None else bytes_hex(system)
        return self.command(f'chat {template} {sys} {bytes_hex(user)}')

    def policy(self, policy: str, n_keep: int = 0, n_discard: int = 0) -> Reply:
        return self.command(f'policy {policy} {int(n_keep)} {int(n_discard)}')

    def shift(self, n_keep: int, n_discard: int) -> Reply:
        return self.command(f'shift {int(n_keep)} {int(n_discard)}')

    def kernel(self, op: str, dims, scale: float, seed: int) -> dict:
        r = self.command(f'kernel {op} {" ".join(str(int(d)) for d in dims)} {_num(scale)} {int(seed)}')
        assert r.ok, r
        if op == 'argmax':
            return {'k': int(r.fields['k']), 'ref': int(r.fields['ref'])}
        return {k: parse_f32_hex(v) for k, v in r.fields.items()}
