"""The `esp32s3-qemu` test target: the ESP32-S3 test firmware a board runs
(test/firmware/fw_port_esp32s3.c; an ESP-IDF app with its bootloader and
partition table in a flash image, env esp32s3_test_qemu) in Espressif's
QEMU, `-M esp32s3`, both cores, PSRAM as the board has it, its console the
emulated UART0, which QEMU serves on a local TCP port. The target is the
serial target (test/serial_target.py) over that socket, so model files
reach the firmware as they reach a board: @file/@data lines, CRC-checked,
kept in PSRAM.

    python extra_scripts/build/esp32s3_idf.py build esp32s3_test_qemu
    python -m pytest test --ignore=test/tools --ignore=test/examples --ignore=test/compile \
        --llm-target esp32s3-qemu --llm-firmware .pio/idf/esp32s3_test_qemu/flash.bin

--llm-firmware names the flash image; its folder's name is the environment
of boards/esp32s3.ini, whose board says how much PSRAM, and of which kind,
the emulator gets (extra_scripts/build/esp32s3_idf.py qemu_args).

Where the emulated UART differs from a board's: it stops taking input for
about half a second whenever its 128-byte receive FIFO fills (QEMU's
model then throttles the line and wakes up late), so every line goes in
pieces of at most 127 bytes, each sent after the firmware's answer to the
one before (LINE_MAX; @part lines); and its receive timeout comes tens of
milliseconds late, so the firmware interrupts on the first byte received
(FW_UART_RX_FULL_THRESHOLD=1 in env esp32s3_test_qemu). A piece and its
answer take a few milliseconds: files move at 10-40 KB/s, so a file the
board holds under another name is not sent again, and one close to a file
it holds goes as its differences. Without -icount QEMU runs as fast as it
can; timings are not meaningful here.

Environment: LLM_ESP32S3_TOOLS (the offline tools, see
extra_scripts/setup/esp32s3_tools.py), LLM_QEMU_EXTRA_ARGS (appended).
"""
from __future__ import annotations

import fcntl
import os
import shlex
import socket
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import serial as pyserial
from serial.urlhandler.protocol_socket import Serial as SocketSerial
from pytest_embedded.log import MessageQueue
from pytest_embedded.utils import Meta

from serial_target import SerialFirmware

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'extra_scripts' / 'build'))


def qemu_command(firmware: str, env_hint: str, console: list[str]) -> tuple[Path, list[str]]:
    """(flash image, QEMU command) for --llm-firmware (a flash.bin or its
    folder, named for its environment), with console the -serial and
    related arguments; FileNotFoundError says what to build or install."""
    import esp32s3_idf
    import esp32s3_tools

    image = Path(firmware)
    if image.is_dir():
        image = image / 'flash.bin'
    if not image.is_file():
        raise FileNotFoundError(
            f'flash image {image} not found; build it with '
            f'`python extra_scripts/build/esp32s3_idf.py build {env_hint}`')
    try:
        env = esp32s3_idf.Env(image.parent.name)
        qemu = str(esp32s3_tools.qemu_binary())
    except (esp32s3_idf.BuildError, esp32s3_tools.ToolsMissing) as e:
        raise FileNotFoundError(str(e)) from None
    return image, [qemu, *esp32s3_idf.qemu_args(image, image.parent / 'efuse.bin', env.board_cfg,
                                                 env.qemu_psram),
                   '-monitor', 'none', *console,
                   *shlex.split(os.environ.get('LLM_QEMU_EXTRA_ARGS', ''))]


class _Socket(SocketSerial):
    """pyserial's socket:// port, with in_waiting the bytes really waiting
    (pyserial's says 1 when any are), so pytest-embedded's reader takes what
    has arrived in one read instead of a byte per pass. At least 1, so a
    read with nothing there waits for the port's timeout instead of
    spinning."""

    @property
    def in_waiting(self) -> int:
        n = fcntl.ioctl(self._socket.fileno(), termios.FIONREAD, b'\0\0\0\0')
        return max(1, struct.unpack('i', n)[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class Esp32s3QemuFirmware(SerialFirmware):
    """SerialFirmware on QEMU's UART0 socket; stop() also ends QEMU."""

    SOURCE = 'ESP32S3-QEMU'
    LINE_MAX = 127  # below the emulated UART's 128-byte receive FIFO
    CHUNK = 60      # "@data " + 120 hex digits + newline: one piece

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, **kwargs):
        logdir = meta.logdir if meta is not None else '.'
        port = _free_port()
        # wait=on: the machine starts when the socket is connected, so the
        # banner is not missed.
        image, cmd = qemu_command(firmware, 'esp32s3_test_qemu',
                                  ['-serial', f'tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on'])
        self.firmware = str(image)
        self._qemu_log = open(os.path.join(logdir, 'esp32s3-qemu.log'), 'wb')
        self._qemu = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._qemu_log,
                                      stderr=subprocess.STDOUT)
        try:
            link = self._connect(port)
            super().__init__(msg_queue, firmware, meta, port=link, **kwargs)
        except BaseException:
            self._end_qemu()
            raise

    def _connect(self, port: int, timeout: float = 10.0) -> pyserial.SerialBase:
        deadline = time.monotonic() + timeout
        while True:
            try:
                link = _Socket(f'socket://127.0.0.1:{port}', timeout=0.05)
                # Every piece waits for an answer: no Nagle delay on either side.
                link._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return link
            except pyserial.SerialException:
                if self._qemu.poll() is not None or time.monotonic() > deadline:
                    raise FileNotFoundError(
                        f'QEMU did not serve UART0 on port {port} (exit status {self._qemu.poll()}; '
                        f'log: {self._qemu_log.name})') from None
                time.sleep(0.05)

    def _start(self) -> None:
        """A fresh machine: nothing to reset."""

    def alive(self) -> bool:
        return super().alive() and self._qemu.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def stop(self) -> None:
        super().stop()
        self._end_qemu()

    def _end_qemu(self) -> None:
        if self._qemu.poll() is None:
            self._qemu.terminate()
            try:
                self._qemu.wait(5)
            except subprocess.TimeoutExpired:
                self._qemu.kill()
                self._qemu.wait()
        self._qemu_log.close()
