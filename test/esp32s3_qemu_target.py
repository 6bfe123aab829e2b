"""The `esp32s3-qemu` test target: the ESP32-S3 test firmware (ESP-IDF app
with bootloader and partition table) in Espressif's QEMU, `-M esp32s3`.

    python extra_scripts/esp32s3_idf.py build esp32s3_test
    python -m pytest test --llm-target esp32s3-qemu --llm-firmware .pio/idf/esp32s3_test/flash.bin

--llm-firmware names the flash image; its folder's name is the environment
of boards/esp32s3.ini, whose board says how much PSRAM, and of which kind,
the emulator gets (extra_scripts/esp32s3_idf.py qemu_command). The console is
UART0 on QEMU's stdin/stdout, as DuplicateStdoutPopen gives it to the Dut.

Files named by `model <path>` and `tok <path>` travel over the console as
on a real board (the @file/@data lines of test/firmware/fw_port_esp32s3.c,
CRC-checked; helpers/upload.py); QEMU's UART holds input back while the
firmware's FIFO is full, so nothing is dropped, and the upload waits for the
firmware's @stored line. A file the firmware still holds is not sent again.
Without -icount QEMU runs as fast as it can; timings are not meaningful here.

Environment: LLM_ESP32S3_TOOLS (the offline tools, see
extra_scripts/esp32s3_tools.py), LLM_QEMU_EXTRA_ARGS (appended).
"""
from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

from pytest_embedded.log import DuplicateStdoutPopen, MessageQueue
from pytest_embedded.utils import Meta

from helpers.targets import HostFirmware
from helpers.upload import FILE_CMD, UploadError, upload_lines

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'extra_scripts'))

UPLOAD_TIMEOUT_S = 300.0


class Esp32s3QemuFirmware(HostFirmware):
    """Same interface as HostFirmware (alive(), stop(), write(), logfile)."""

    SOURCE = 'ESP32S3-QEMU'

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, **kwargs):
        import esp32s3_idf
        import esp32s3_tools

        image = Path(firmware)
        if image.is_dir():
            image = image / 'flash.bin'
        if not image.is_file():
            raise FileNotFoundError(
                f'flash image {image} not found; build it with '
                '`python extra_scripts/esp32s3_idf.py build esp32s3_test`')
        try:
            env = esp32s3_idf.Env(image.parent.name)
            cmd = esp32s3_idf.qemu_command(env, serial='stdio', icount=False)
        except (esp32s3_idf.BuildError, esp32s3_tools.ToolsMissing) as e:
            raise FileNotFoundError(str(e)) from None
        if env.out.resolve() != image.parent.resolve():
            # Another image of that environment: run it instead.
            cmd = [c.replace(str(env.out / 'flash.bin'), str(image)) for c in cmd]
        cmd += ['-monitor', 'none', *shlex.split(os.environ.get('LLM_QEMU_EXTRA_ARGS', ''))]
        self.firmware = str(image)
        self._held: dict[str, tuple[int, int]] = {}  # name -> (size, crc) the firmware holds
        DuplicateStdoutPopen.__init__(self, msg_queue, cmd, meta=meta, **kwargs)

    def write(self, s) -> None:
        line = s.decode() if isinstance(s, bytes) else s
        m = FILE_CMD.match(line)
        if m and m.group(2) != '-' and os.path.isfile(m.group(2)):
            self.upload(m.group(2))
        if line.strip() == 'quit':
            self._held.clear()  # the firmware restarts and forgets its files
        super().write(line)

    def upload(self, path: str) -> None:
        key, lines = upload_lines(path)
        if self._held.get(path) == key:
            return
        start = os.path.getsize(self.logfile)
        for chunk in lines:
            self.stdin.write(chunk)
        self.stdin.flush()
        done = re.compile(rb'^@stored ' + re.escape(path.encode()) + rb' \d+', re.M)
        err = re.compile(rb'^@error (\S+) (\S+)', re.M)
        deadline = time.monotonic() + UPLOAD_TIMEOUT_S
        while time.monotonic() < deadline and self.alive():
            with open(self.logfile, 'rb') as f:
                f.seek(start)
                out = f.read()
            if done.search(out):
                self._held[path] = key
                return
            e = err.search(out)
            if e:
                raise UploadError(f'firmware: {e.group(0).decode()}')
            time.sleep(0.05)
        raise UploadError(f'{path}: no @stored from the firmware within {UPLOAD_TIMEOUT_S} s')

    def wait(self, timeout: float | None = None) -> int:
        """After `quit` the firmware prints `# exit <status>` and restarts;
        QEMU is stopped once that line is out."""
        deadline = time.monotonic() + (timeout or 30)
        while time.monotonic() < deadline:
            with open(self.logfile, 'rb') as f:
                m = re.search(rb'^# exit (-?\d+)', f.read(), re.M)
            if m:
                self.terminate()
                super().wait(timeout=10)
                return int(m.group(1))
            time.sleep(0.05)
        raise TimeoutError('the firmware did not report its exit status')
