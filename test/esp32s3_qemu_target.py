"""The `esp32s3-qemu` test target: the ESP32-S3 test firmware (an ESP-IDF
app with its bootloader and partition table in a flash image) in Espressif's
QEMU, `-M esp32s3`, both cores, PSRAM as the board has it.

    python extra_scripts/build/esp32s3_idf.py build esp32s3_test_qemu
    python -m pytest test --llm-target esp32s3-qemu --llm-firmware .pio/idf/esp32s3_test_qemu/flash.bin

--llm-firmware names the flash image; its folder's name is the environment
of boards/esp32s3.ini, whose board says how much PSRAM, and of which kind,
the emulator gets (extra_scripts/build/esp32s3_idf.py qemu_args).

The firmware's console and files go through QEMU's Xtensa semihosting, as
on the emulated Cortex-M55 (test/firmware/fw_port_esp32s3_semihost.c):
QEMU's stdin and stdout are the firmware's, paths are this machine's, and
`quit` ends QEMU with the firmware's status. ESP-IDF's own log (boot,
panics) goes to UART0, kept in esp32s3-uart.log beside the Dut's log. The
whole suite runs here; the board's own firmware and file upload over the
emulated UART are the esp32s3-qemu-uart target (esp32s3_qemu_uart_target.py),
at about 6 KiB/s. Without -icount QEMU runs as fast as it can; timings are
not meaningful here.

Environment: LLM_ESP32S3_TOOLS (the offline tools, see
extra_scripts/setup/esp32s3_tools.py), LLM_QEMU_EXTRA_ARGS (appended).
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from pytest_embedded.log import DuplicateStdoutPopen, MessageQueue
from pytest_embedded.utils import Meta

from helpers.targets import HostFirmware

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


class Esp32s3QemuFirmware(HostFirmware):
    """Same interface as HostFirmware (alive(), stop(), write(), logfile)."""

    SOURCE = 'ESP32S3-QEMU'

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, **kwargs):
        uart_log = os.path.join(meta.logdir if meta is not None else '.', 'esp32s3-uart.log')
        image, cmd = qemu_command(firmware, 'esp32s3_test_qemu',
                                  ['-serial', f'file:{uart_log}',
                                   '-semihosting-config', 'enable=on,target=native'])
        self.firmware = str(image)
        self.uart_log = uart_log
        DuplicateStdoutPopen.__init__(self, msg_queue, cmd, meta=meta, **kwargs)
