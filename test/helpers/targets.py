"""Where the test firmware runs, and the pytest-embedded Dut that talks to it.

A target is a subclass of pytest-embedded's DuplicateStdoutPopen (as the
QEMU service's Qemu class is): it starts the firmware, its output is copied
into the Dut's message queue, and write() feeds the firmware's console.
Adding a target (qemu, serial) means one more class in TARGETS.
"""
from __future__ import annotations

import os
import platform
import shlex
import shutil
import threading
import time

from pytest_embedded.app import App
from pytest_embedded.dut import Dut
from pytest_embedded.log import DuplicateStdoutPopen, MessageQueue, PexpectProcess
from pytest_embedded.utils import Meta


class _ThreadRedirect(threading.Thread):
    """Copy the firmware's output file into the message queue.

    pytest-embedded's own redirect process re-reads the file in a loop that
    never sleeps and so keeps a core busy; this thread sleeps between empty
    reads, which matters on small CI machines and under ASan.
    """

    POLL_S = 0.001

    def __init__(self, msg_queue: MessageQueue, logfile: str):
        super().__init__(daemon=True)
        self._q = msg_queue
        self._logfile = logfile
        self._stop_event = threading.Event()

    def run(self) -> None:
        with open(self._logfile, 'rb') as f:
            while True:
                data = f.read()
                if data:
                    try:
                        self._q.put(data)
                    except Exception:  # the queue's manager is gone: session over
                        return
                elif self._stop_event.is_set():
                    return
                else:
                    time.sleep(self.POLL_S)

    def terminate(self) -> None:
        """Forward what is left, then stop."""
        self._stop_event.set()
        self.join(timeout=5)


# ELF e_machine -> qemu-user's name for the CPU, and this machine's e_machine.
QEMU_USER_ARCH = {62: 'x86_64', 183: 'aarch64'}
MACHINE_EM = {'x86_64': 62, 'amd64': 62, 'aarch64': 183, 'arm64': 183}


def elf_e_machine(path: str):
    """e_machine of a little-endian ELF file, else None."""
    try:
        with open(path, 'rb') as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or not head.startswith(b'\x7fELF') or head[5] != 1:
        return None
    return int.from_bytes(head[18:20], 'little')


def host_argv(firmware: str) -> tuple:
    """How to run the host test firmware: directly, or, when it is a Linux
    program for another CPU that qemu-user emulates (the AArch64 build,
    env:native_test_aarch64, on an x86-64 machine), under qemu-<arch>
    ($LLM_QEMU_USER overrides the emulator command). Returns (argv, the
    emulated CPU's name or None)."""
    em = elf_e_machine(firmware)
    if em is None or em == MACHINE_EM.get(platform.machine().lower()) or em not in QEMU_USER_ARCH:
        return [firmware], None
    qemu = shlex.split(os.environ.get('LLM_QEMU_USER') or f'qemu-{QEMU_USER_ARCH[em]}')
    if not shutil.which(qemu[0]):
        raise FileNotFoundError(
            f'{firmware!r} is a {QEMU_USER_ARCH[em]} program and {qemu[0]!r} is not installed '
            '(Debian/Ubuntu: apt-get install qemu-user; or set LLM_QEMU_USER)')
    return [*qemu, firmware], QEMU_USER_ARCH[em]


class HostFirmware(DuplicateStdoutPopen):
    """The native_test / native_asan build run as a local process; a build
    for another CPU (native_test_aarch64) runs under qemu-user (host_argv)."""

    SOURCE = 'HOST'
    REDIRECT_CLS = _ThreadRedirect

    # Sanitizer reports must end the run, not scroll past.
    SANITIZER_ENV = {
        'ASAN_OPTIONS': 'abort_on_error=0:detect_leaks=1:halt_on_error=1',
        'UBSAN_OPTIONS': 'halt_on_error=1:print_stacktrace=1',
    }

    def __init__(self, msg_queue: MessageQueue, firmware: str, meta: Meta, **kwargs):
        if not os.access(firmware, os.X_OK):
            raise FileNotFoundError(
                f'test firmware {firmware!r} not found or not executable; build it with '
                '`pio run -e native_test` (or pass --llm-firmware=PATH)')
        env = dict(os.environ)
        for k, v in self.SANITIZER_ENV.items():
            env.setdefault(k, v)
        argv, arch = host_argv(firmware)
        if arch and os.path.isdir(f'/usr/{arch}-linux-gnu'):
            # A dynamically linked build finds Debian's cross loader and libraries here.
            env.setdefault('QEMU_LD_PREFIX', f'/usr/{arch}-linux-gnu')
        self.firmware = firmware
        super().__init__(msg_queue, argv, meta=meta, env=env, **kwargs)

    @property
    def logfile(self) -> str:
        """Raw output of this firmware process."""
        return self._logfile

    def alive(self) -> bool:
        return self.poll() is None

    def stop(self) -> None:
        """Terminate the process and the output copy."""
        if self.poll() is None:
            try:
                self.stdin.close()
            except OSError:
                pass
            try:
                self.wait(timeout=5)
            except Exception:
                self.kill()
                self.wait()
        if self._p:
            self._p.terminate()
        self._fw.close()


# --llm-target name -> class; each takes (msg_queue, firmware, meta).
TARGETS = {
    'host': HostFirmware,
}


class LlmDut(Dut):
    """A pytest-embedded Dut whose console is the test firmware.

    write() goes to the firmware's input; expect() reads its output. The
    firmware process can be restarted (after a crash) without a new Dut.
    """

    def __init__(self, target_cls, firmware: str, meta: Meta, **kwargs):
        super().__init__(**kwargs)
        self._target_cls = target_cls
        self._firmware = firmware
        self._meta_info = meta
        self.proc = None
        self.start()

    def start(self) -> None:
        self.proc = self._target_cls(self._q, self._firmware, self._meta_info)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def write(self, s) -> None:
        self.proc.write(s)
        self.proc.stdin.flush()

    def close(self) -> None:
        self.stop()
        super().close()


def make_pexpect_proc(logfile_reader) -> PexpectProcess:
    """A PexpectProcess reading the listener's log, tuned for long lines:
    big reads, and a short pause between polls of the file instead of a spin."""
    proc = PexpectProcess(logfile_reader, maxread=1 << 16)
    proc.delayafterread = 0.001
    return proc


def make_app(firmware: str) -> App:
    return App(app_path=os.path.dirname(os.path.abspath(firmware)), build_dir=None)
