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

import logging
import os
import re
import time
import zlib

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
    CHUNK = 4096     # file bytes per @data line (8 KiB of hex): fits the firmware's line
    LINE_MAX = None  # longest line the board takes at once (bytes with the newline);
                     # longer ones go as @part pieces. None: any length.

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, port: str | None = None,
                 **kwargs):
        port = port or serial_port(firmware)
        self._meta_logdir = meta.logdir if meta is not None else '.'
        self._sent: dict[str, tuple[int, int]] = {}  # name -> (size, crc) the board holds
        self._closed = False
        try:
            super().__init__(msg_queue, port=port, baud=int(os.environ.get('LLM_SERIAL_BAUD', '921600')),
                             meta=meta, **kwargs)
        except pyserial.SerialException as e:
            raise FileNotFoundError(f'cannot open serial port {port}: {e}') from None
        self.stdin = _Stdin(self.proc)

    def _start(self):
        if os.environ.get('LLM_SERIAL_RESET', '1') != '0':
            self.hard_reset()

    def hard_reset(self) -> None:
        """Pulse EN through RTS with GPIO0 (DTR) released: a normal boot."""
        self.proc.dtr = False
        self.proc.rts = True
        time.sleep(0.1)
        self.proc.rts = False
        self._sent.clear()

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
        if self.LINE_MAX is None or len(data) <= self.LINE_MAX:
            self.proc.write(data)
            return
        with self.disable_redirect_thread():
            self._send(data)

    def _send(self, data: bytes) -> None:
        """One line (with its newline), in @part pieces when longer than
        LINE_MAX; the caller has stopped the redirect thread."""
        if self.LINE_MAX is not None:
            body, step = data[:-1], self.LINE_MAX - len(b'@part \n')
            while len(body) + 1 > self.LINE_MAX:
                self.proc.write(b'@part ' + body[:step] + b'\n')
                body = body[step:]
                self._expect(rb'^@more\b')
            data = body + b'\n'
        self.proc.write(data)

    # Files ----------------------------------------------------------------
    def _expect(self, pattern: bytes, timeout: float = 20.0, before: bool = False) -> bytes:
        """Read the line until pattern (board replies), copying what is read
        to the log queue; returns the match, or with before everything read
        up to its end."""
        buf = b''
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < deadline:
            chunk = self.proc.read(self.proc.in_waiting or 1)
            if chunk:
                self._q.put(chunk)
                buf += chunk
                m = rx.search(buf)
                if m:
                    return buf[:m.end()] if before else m.group(0)
                err = re.search(rb'^@error (\S+) (\S+)', buf, re.M)
                if err:
                    raise UploadError(f'board: {err.group(0).decode()}')
        raise UploadError(f'no {pattern!r} from the board within {timeout} s')

    def upload(self, path: str) -> None:
        data = open(path, 'rb').read()
        key = (len(data), zlib.crc32(data))
        if self._sent.get(path) == key:
            return
        with self.disable_redirect_thread():
            self._send(f'@file {path} {len(data)} {key[1]:08x}\n'.encode())
            self._sent.pop(path, None)
            answer = self._expect(rb'^@ready ' + re.escape(path.encode()) + rb'\r?$', before=True)
            for name in re.findall(rb'^@dropped (\S+)', answer, re.M):
                self._sent.pop(name.decode(errors='replace'), None)  # the board made room
            chunk = self.CHUNK
            for off in range(0, len(data), chunk):
                self._send(b'@data ' + data[off:off + chunk].hex().encode() + b'\n')
                end = min(off + chunk, len(data))
                if end < len(data):
                    self._expect(rb'^@ok ' + str(end).encode() + rb'\b')
            if not data:
                self._send(b'@data -\n')
            self._expect(rb'^@stored ' + re.escape(path.encode()) + rb' \d+')
        self._sent[path] = key
