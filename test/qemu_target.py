"""The `qemu` test target: the test firmware on an emulated Arm board.

pytest-embedded's own QEMU service (pytest-embedded-qemu) only knows
Espressif machines: it always adds a `-drive ...,if=mtd` flash image, which
mps3-an547 rejects. This target runs

    qemu-system-arm -M mps3-an547 -nographic -monitor none -serial none
        -semihosting-config enable=on,target=native -icount shift=0
        -qmp tcp:127.0.0.1:<port>,server=on,wait=off -kernel <firmware.elf>

as a DuplicateStdoutPopen, like the host target (helpers/targets.py): the
firmware's console is newlib semihosting, so QEMU's stdin and stdout are the
firmware's, and files named in commands are opened on this machine through
semihosting (paths are relative to pytest's working directory). The QMP
socket allows a reset without restarting QEMU (hard_reset()). -icount shift=0
makes emulated time count instructions (1 ns each): timings the firmware
reports are deterministic.

Build the firmware with `pio run -e m55_test`, then
    python -m pytest test --llm-target qemu --llm-firmware .pio/build/m55_test/firmware.elf

The machine is the one the ELF names (the MPS2 boards' start-up code keeps
the string "llm-qemu-machine=<name>" in the image: mps2-an386, -an500,
-an505, -an521), else mps3-an547 (the Cortex-M55 board). Arguments the
board needs beyond that come from "llm-qemu-args=<args>" in the image (the
AN521's: an SSE-200 whose core 0 has the FPU and DSP extension too, so that
both cores run the kernels; lib/board_mps/src/cores.c).

Environment: LLM_QEMU (emulator, default qemu-system-arm), LLM_QEMU_MACHINE
(overrides the machine), LLM_QEMU_EXTRA_ARGS (appended, shell syntax).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import threading
import time

from pytest_embedded.log import DuplicateStdoutPopen, MessageQueue
from pytest_embedded.utils import Meta

from helpers.targets import HostFirmware

ELF_MAGIC = b'\x7fELF'
EM_ARM = 40


def free_tcp_port(host: str = '127.0.0.1') -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_arm_elf(path: str) -> None:
    """Raise FileNotFoundError unless path is a 32-bit little-endian Arm ELF."""
    try:
        with open(path, 'rb') as f:
            head = f.read(20)
    except OSError:
        head = b''
    if not head.startswith(ELF_MAGIC):
        raise FileNotFoundError(
            f'test firmware {path!r} not found or not an ELF file; build it with '
            '`pio run -e m55_test` (or pass --llm-firmware PATH to the firmware.elf)')
    machine = int.from_bytes(head[18:20], 'little')
    if head[4] != 1 or head[5] != 1 or machine != EM_ARM:
        raise FileNotFoundError(f'{path!r} is not a 32-bit Arm ELF (e_machine {machine}); '
                                'the qemu target runs .pio/build/m55_test/firmware.elf')


MACHINE_MARK = re.compile(rb'llm-qemu-machine=([a-z0-9-]+)\x00')
DEFAULT_MACHINE = 'mps3-an547'


ARGS_MARK = re.compile(rb'llm-qemu-args=([ -~]*)\x00')


def elf_machine(path: str) -> str:
    """The QEMU machine an ELF names (MACHINE_MARK), else DEFAULT_MACHINE."""
    with open(path, 'rb') as f:
        m = MACHINE_MARK.search(f.read())
    return m.group(1).decode() if m else DEFAULT_MACHINE


def elf_qemu_args(path: str) -> list[str]:
    """The extra QEMU arguments an ELF names (ARGS_MARK), else none."""
    with open(path, 'rb') as f:
        m = ARGS_MARK.search(f.read())
    return shlex.split(m.group(1).decode()) if m else []


def board_command(firmware: str, qemu: str = 'qemu-system-arm') -> list[str]:
    """QEMU running one MPS2/MPS3 ELF with semihosting and -icount shift=0, the
    machine and its arguments read from the ELF (no QMP, no environment)."""
    return [qemu, '-M', elf_machine(firmware), *elf_qemu_args(firmware),
            '-nographic', '-monitor', 'none', '-serial', 'none',
            '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=0',
            '-kernel', str(firmware)]


def qemu_command(firmware: str, qmp_port: int, qemu: str | None = None,
                 machine: str | None = None, extra_args: str | None = None) -> list[str]:
    """The QEMU command line for one firmware ELF."""
    machine = machine or os.environ.get('LLM_QEMU_MACHINE')
    return [
        qemu or os.environ.get('LLM_QEMU', 'qemu-system-arm'),
        '-M', machine or elf_machine(firmware),
        *([] if machine else elf_qemu_args(firmware)),
        '-nographic', '-monitor', 'none', '-serial', 'none',
        '-semihosting-config', 'enable=on,target=native',
        '-icount', 'shift=0',
        '-qmp', f'tcp:127.0.0.1:{qmp_port},server=on,wait=off',
        '-kernel', firmware,
        *shlex.split(extra_args if extra_args is not None else os.environ.get('LLM_QEMU_EXTRA_ARGS', '')),
    ]


class QemuFirmware(HostFirmware):
    """The test firmware ELF in qemu-system-arm; same interface as HostFirmware
    (alive(), stop(), write(), logfile), plus hard_reset() and qmp()."""

    SOURCE = 'QEMU'

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, **kwargs):
        check_arm_elf(firmware)
        port = free_tcp_port()
        cmd = qemu_command(firmware, port)
        if not shutil.which(cmd[0]):
            raise FileNotFoundError(
                f'{cmd[0]} not found: install QEMU for Arm (Debian/Ubuntu: '
                '`sudo apt-get install qemu-system-arm`, 7.0 or newer for mps3-an547) '
                'or set LLM_QEMU')
        self.firmware = firmware
        self.qmp_address = ('127.0.0.1', port)
        # Not HostFirmware.__init__: that one runs the firmware itself.
        DuplicateStdoutPopen.__init__(self, msg_queue, cmd, meta=meta, **kwargs)

    def qmp(self, command: str, arguments: dict | None = None, timeout: float = 10.0) -> dict:
        """Run one QMP command and return its "return" value. It stalls while
        the firmware waits for console input (see hard_reset)."""
        with socket.create_connection(self.qmp_address, timeout=timeout) as s:
            f = s.makefile('rwb')

            def call(execute, args=None):
                msg = {'execute': execute}
                if args:
                    msg['arguments'] = args
                f.write(json.dumps(msg).encode() + b'\n')
                f.flush()
                while True:  # skip asynchronous events
                    line = f.readline()
                    if not line:
                        raise ConnectionError('QMP connection closed')
                    reply = json.loads(line)
                    if 'error' in reply:
                        raise RuntimeError(f'QMP {execute}: {reply["error"]}')
                    if 'return' in reply:
                        return reply['return']

            json.loads(f.readline())  # greeting
            call('qmp_capabilities')
            return call(command, arguments)

    def hard_reset(self, timeout: float = 10.0) -> None:
        """Reset the emulated board through QMP: the ELF is reloaded and starts
        again (it prints its banner anew).

        While the firmware waits for console input, QEMU's semihosting read
        blocks holding QEMU's main lock, so QMP commands stall. Empty lines
        (which the firmware ignores) are fed until the command went through.
        """
        done = threading.Event()
        error = []

        def reset():
            try:
                self.qmp('system_reset', timeout=timeout)
            except Exception as e:  # reported below, in the caller's thread
                error.append(e)
            done.set()

        threading.Thread(target=reset, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not done.wait(0.05):
            if time.monotonic() > deadline or not self.alive():
                raise TimeoutError('QMP system_reset did not complete')
            self.stdin.write(b'\n')
            self.stdin.flush()
        if error:
            raise error[0]

    # pytest-embedded's QemuDut calls this name.
    _hard_reset = hard_reset
