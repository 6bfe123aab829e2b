"""The `serial` test target: the test firmware on a real ESP32-S3 board,
over its serial console (pytest-embedded-serial).

Flash the firmware once (it also flashes stories260K into the model
partition), then run the same test files as on the host:

    pio run -e esp32s3_test -t upload            # or esp32s3_test_tcamera / _n4r2
    LLM_SERIAL_PORT=/dev/ttyUSB0 LLM_MODELS_DIR=/path/to/models \\
        python -m pytest test --llm-target serial

The board is reset through RTS/DTR when the session starts (as esptool
does), so its banner is seen. Files named by `model <path>` and
`tok <path>` commands are sent over the line first (@file/@data lines,
CRC-checked; test/firmware/fw_port_esp32s3.c keeps them in PSRAM) and are
not sent again while the board holds them (it names the ones it drops). The host's paths are only names
on the board.

Environment: LLM_SERIAL_PORT (else --llm-firmware, when it names a device),
LLM_SERIAL_BAUD (default 921600, as boards/esp32s3/esp32s3_n16r8.sdkconfig.defaults; USB-Serial-JTAG ignores it),
LLM_SERIAL_RESET (default 1; 0 leaves the board running: then reset it by
hand right after the session starts).
"""
from __future__ import annotations

import base64
import logging
import os
import re
import threading
import time
import zlib

import numpy as np
import serial as pyserial
from pytest_embedded.log import MessageQueue
from pytest_embedded.utils import Meta
from pytest_embedded_serial.serial import Serial

FILE_CMD = re.compile(r'^(model|tok) (\S+)')


class UploadError(RuntimeError):
    """The board refused or lost a file sent over the line."""


class _Stdin:
    """LlmDut flushes proc.stdin after each write."""

    def __init__(self, port):
        self._port = port

    def flush(self) -> None:
        self._port.flush()

    def close(self) -> None:
        pass


class _Reader(threading.Thread):
    """Copies what the board sends into the log queue (what dut.expect
    reads) as soon as it arrives, and into `tap` while one is set, for the
    protocol's own replies. pytest-embedded's redirect thread sleeps 50 ms
    after every read, which made each command's answer 50 ms late."""

    def __init__(self, msg_queue: MessageQueue, port: pyserial.SerialBase):
        super().__init__(daemon=True)
        self._q = msg_queue
        self._port = port
        self._ending = threading.Event()
        self.changed = threading.Condition()
        self.tap: bytearray | None = None

    def run(self) -> None:
        pending = bytearray()  # read, not yet in the log queue
        while not self._ending.is_set():
            try:
                # Waits up to the port's timeout for the first byte.
                data = self._port.read(max(1, self._port.in_waiting))
            except (OSError, pyserial.SerialException, TypeError, AttributeError):
                data = None  # the port was closed
            if data:
                with self.changed:
                    if self.tap is not None:
                        self.tap += data
                    self.changed.notify_all()
                pending += data
            # The log queue lives in another process: a put per line, not
            # per read (the emulated UART sends each byte on its own).
            if pending and (not data or b'\n' in data or len(pending) >= 4096):
                self._q.put(bytes(pending))
                pending.clear()
            if data is None:
                return

    def terminate(self) -> None:
        self._ending.set()
        if self is not threading.current_thread():
            self.join(2.0)


def serial_port(firmware: str) -> str:
    port = os.environ.get('LLM_SERIAL_PORT')
    if port:
        return port
    if firmware.startswith('/dev/') or re.match(r'^COM\d+$', os.path.basename(firmware)):
        return firmware
    raise FileNotFoundError(
        'the serial target needs the board\'s port: set LLM_SERIAL_PORT (e.g. /dev/ttyUSB0, '
        '/dev/ttyACM0 or COM3) after flashing the firmware with `pio run -e esp32s3_test -t upload`')


class SerialFirmware(Serial):
    """The test firmware on a board; same interface as HostFirmware (alive(),
    stop(), write(), wait(), logfile), plus hard_reset()."""

    SOURCE = 'SERIAL'
    CHUNK = 4095     # file bytes per @data line (5460 base64 characters): fits the firmware's line
    LINE_MAX = None  # longest line the board takes at once (bytes with the newline);
                     # longer ones go as @part pieces. None: any length.

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, port: str | None = None,
                 **kwargs):
        port = port or serial_port(firmware)
        self._meta_logdir = meta.logdir if meta is not None else '.'
        self._held: dict[str, bytes] = {}  # name -> contents, of the files the board holds
        self._closed = False
        self._reader: _Reader | None = None
        try:
            super().__init__(msg_queue, port=port, baud=int(os.environ.get('LLM_SERIAL_BAUD', '921600')),
                             meta=meta, **kwargs)
        except pyserial.SerialException as e:
            raise FileNotFoundError(f'cannot open serial port {port}: {e}') from None
        self.stdin = _Stdin(self.proc)

    def start_redirect_thread(self) -> None:
        if self._reader is None or not self._reader.is_alive():
            self._reader = _Reader(self._q, self.proc)
            self._reader.start()

    def stop_redirect_thread(self) -> bool:
        if self._reader is None or not self._reader.is_alive():
            return False
        self._reader.terminate()
        return True

    def _start(self):
        if os.environ.get('LLM_SERIAL_RESET', '1') != '0':
            self.hard_reset()

    def hard_reset(self) -> None:
        """Pulse EN through RTS with GPIO0 (DTR) released: a normal boot."""
        self.proc.dtr = False
        self.proc.rts = True
        time.sleep(0.1)
        self.proc.rts = False
        self._held.clear()

    @property
    def logfile(self) -> str:
        return os.path.join(self._meta_logdir, 'dut.log')

    # HostFirmware's process interface -------------------------------------
    def alive(self) -> bool:
        return not self._closed and self.proc.is_open

    def poll(self):
        return None if self.alive() else 0

    def wait(self, timeout: float | None = None) -> int:
        """After `quit` the board restarts itself; nothing to wait for."""
        time.sleep(0.2)
        return 0

    def stop(self) -> None:
        if not self._closed:
            self._closed = True
            self.close()

    def write(self, s) -> None:
        line = s.decode() if isinstance(s, bytes) else s
        m = FILE_CMD.match(line)
        if m and m.group(2) != '-' and os.path.isfile(m.group(2)):
            self.upload(m.group(2))
        data = line.encode()
        if not data.endswith(b'\n'):
            data += b'\n'
        logging.debug(f'{self.SOURCE} ->: {line[:200]}')
        self._send(data)

    def _send(self, data: bytes, answered: bool = False) -> None:
        """One line (with its newline), in @part pieces when longer than
        LINE_MAX; answered: _expect waits for the board's answer to it."""
        if self.LINE_MAX is not None:
            body, step = data[:-1], self.LINE_MAX - len(b'@part \n')
            while len(body) + 1 > self.LINE_MAX:
                self._request(b'@part ' + body[:step] + b'\n')
                body = body[step:]
                self._expect(rb'^@more\b')
            data = body + b'\n'
        if answered:
            self._request(data)
        else:
            self.proc.write(data)

    # Files ----------------------------------------------------------------
    def _request(self, line: bytes) -> None:
        """Send a line whose answer _expect then waits for: what the board
        says from here on is kept for it."""
        with self._reader.changed:
            self._reader.tap = bytearray()
        self.proc.write(line)

    def _expect(self, pattern: bytes, timeout: float = 20.0, before: bool = False) -> bytes:
        """Wait for pattern in what the board said since the last _request;
        returns the match, or with before everything up to its end."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        reader = self._reader
        with reader.changed:
            while True:
                buf = bytes(reader.tap)
                m = rx.search(buf)
                if m:
                    reader.tap = None
                    return buf[:m.end()] if before else m.group(0)
                err = re.search(rb'^@error \S+ \S+(?=\r?\n)', buf, re.M)
                if err:
                    reader.tap = None
                    raise UploadError(f'board: {err.group(0).decode()}')
                left = deadline - time.monotonic()
                if left <= 0 or not reader.is_alive():
                    reader.tap = None
                    raise UploadError(f'no {pattern!r} from the board within {timeout} s')
                reader.changed.wait(min(left, 0.5))

    def upload(self, path: str) -> int:
        """Make the board hold path's contents under its name; returns how
        many of its bytes went over the line (0 when it held them)."""
        data = open(path, 'rb').read()
        if self._held.get(path) == data:
            return 0
        base = closest_base(self._held, data)
        base_data = self._held.get(base, b'')
        self._held.pop(path, None)
        head = f'@file {path} {len(data)} {zlib.crc32(data):08x}' + (f' {base}' if base else '')
        self._send(head.encode() + b'\n', answered=True)
        name = re.escape(path.encode())
        answer = self._expect(rb'^@(ready|stored) ' + name + rb'(?=[ \r\n])[^\r\n]*\r?\n', before=True)
        for dropped in re.findall(rb'^@dropped (\S+)', answer, re.M):
            self._held.pop(dropped.decode(errors='replace'), None)  # the board made room
        sent = 0
        if not re.search(rb'^@stored ' + name, answer, re.M):
            # @ready <name> <bytes copied from the base>: send the rest.
            m = re.search(rb'^@ready \S+ (\d+)', answer, re.M)
            kept = int(m.group(1)) if m else 0
            steps = upload_steps(data, base_data[:kept], self.CHUNK)
            at = 0
            for line, end in steps:
                self._send(line, answered=True)
                sent += end - at if line.startswith(b'@data ') else 0
                at = end
                if end < len(data):
                    self._expect(rb'^@ok ' + str(end).encode() + rb'\b')
            self._expect(rb'^@stored ' + name + rb' \d+')
        self._held[path] = data
        return sent


# A run of equal bytes shorter than this goes as data: a @skip line costs a
# round trip, about what this many bytes of data do on the emulated UART.
SKIP_MIN = 64


def closest_base(held: dict[str, bytes], data: bytes) -> str | None:
    """The held file (name -> contents) that data is cheapest to send from
    (fewest bytes differing or past its end), when that is under half of
    data; else None."""
    best, best_cost = None, len(data) // 2
    new = np.frombuffer(data, np.uint8)
    for path, old in held.items():
        n = min(len(old), len(data))
        if len(data) - n >= best_cost:
            continue
        cost = len(data) - n + int(np.count_nonzero(new[:n] != np.frombuffer(old, np.uint8, n)))
        if cost < best_cost:
            best, best_cost = path, cost
    return best


def upload_steps(data: bytes, kept: bytes, chunk: int, skip_min: int = SKIP_MIN) -> list[tuple[bytes, int]]:
    """The @skip/@data lines that turn kept (the prefix the board copied from
    the base) into data, each with the byte count the board has after it;
    @data lines carry at most chunk bytes."""
    n = len(kept)
    diff = np.flatnonzero(np.frombuffer(data, np.uint8, n) != np.frombuffer(kept, np.uint8))
    # Byte ranges to send: the changed runs (equal gaps under skip_min
    # joined in), then everything past the kept prefix.
    spans: list[list[int]] = []
    for i in diff.tolist():
        if spans and i - spans[-1][1] < skip_min:
            spans[-1][1] = i + 1
        else:
            spans.append([i, i + 1])
    if n < len(data):
        if spans and n - spans[-1][1] < skip_min:
            spans[-1][1] = len(data)
        else:
            spans.append([n, len(data)])
    steps, at = [], 0
    for lo, hi in spans:
        if lo > at:
            steps.append((b'@skip %d\n' % (lo - at), lo))
        for off in range(lo, hi, chunk):
            end = min(off + chunk, hi)
            steps.append((b'@data ' + base64.b64encode(data[off:end]) + b'\n', end))
        at = hi
    if at < len(data) or not data:
        steps.append((b'@skip %d\n' % (len(data) - at), len(data)))
    return steps
