#!/usr/bin/env python3
"""Build the ESP32-S3 environments of boards/esp32s3.ini with ESP-IDF's own
CMake, make their flash images, and run them in Espressif's QEMU.

PlatformIO's espressif32 platform does the same through its espidf builder
on a connected machine (`pio run -e esp32s3_story`). That builder cannot run
offline: it installs framework-espidf, toolchain-xtensa-esp-elf, tool-cmake,
tool-ninja and tool-esptoolpy from PlatformIO's registry, and ESP-DSP through
ESP-IDF's component manager from Espressif's. This script reads the same
environment (board, partition table, sdkconfig defaults, app, model options)
with PlatformIO's own config parser and runs the steps the builder runs, with
the tools of extra_scripts/setup/esp32s3_tools.py:

    python extra_scripts/build/esp32s3_idf.py build esp32s3_test esp32s3_story_qemu
    python extra_scripts/build/esp32s3_idf.py qemu esp32s3_story_qemu     # build, boot, watch
    python extra_scripts/build/esp32s3_idf.py qemu-cmd esp32s3_test       # the QEMU command line

Output per environment in .pio/idf/<env>/: the ESP-IDF build (app ELF,
bootloader, partition table), the converted model blob and flash.bin, the
whole flash (bootloader, table, app and the model in its partition),
as `esptool merge_bin` writes it for QEMU's flash.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parent  # extra_scripts: llmtools, setup/esp32s3_tools.py
ROOT = SCRIPTS.parent
sys.path[:0] = [str(HERE), str(SCRIPTS / 'setup')]

import esp32s3_partitions as partitions  # noqa: E402
import esp32s3_tools as tools  # noqa: E402
import model_files  # noqa: E402

OUT = ROOT / '.pio' / 'idf'
COMPAT_DEFAULTS = 'boards/esp32s3/esp32s3_idf_compat.sdkconfig.defaults'


class BuildError(RuntimeError):
    pass


def env_options(name: str) -> dict:
    """The options of [env:name] as PlatformIO resolves them (extends,
    ${...} references)."""
    from platformio.project.config import ProjectConfig

    cfg = ProjectConfig(str(ROOT / 'platformio.ini'))
    section = f'env:{name}'
    if not cfg.has_section(section):
        raise BuildError(f'no [env:{name}] in platformio.ini or boards/*.ini')
    return {k: cfg.get(section, k) for k in cfg.options(section)}


def _text(v) -> str:
    return ' '.join(v) if isinstance(v, (list, tuple)) else str(v or '')


def board_json(board: str) -> dict:
    import json

    path = ROOT / 'boards' / f'{board}.json'
    if not path.is_file():
        raise BuildError(f'board {board}: {path} not found')
    return json.loads(path.read_text())


class Env:
    """One ESP32-S3 environment, read from the ini. A variant (benchmarks)
    adds -D defines and may replace the model's convert args; it builds in
    .pio/idf/<variant>."""

    def __init__(self, name: str, variant: str | None = None, defines: tuple = (),
                 convert_args: list | None = None):
        self.name = name
        o = env_options(name)
        if _text(o.get('framework')) != 'espidf':
            raise BuildError(f'[env:{name}] is not an ESP-IDF environment (framework = '
                             f'{_text(o.get("framework"))}); this builder runs ESP-IDF only')
        self.board = _text(o.get('board'))
        self.board_cfg = board_json(self.board)
        self.partitions = ROOT / _text(o.get('board_build.partitions'))
        self.cmake_args = shlex.split(_text(o.get('board_build.cmake_extra_args')))
        self.build_flags = shlex.split(_text(o.get('build_flags')))
        self.model = _text(o.get('custom_llm_model')).strip()
        self.tokenizer = _text(o.get('custom_llm_tokenizer')).strip()
        self.convert_args = shlex.split(_text(o.get('custom_llm_convert_args')))
        self.label = _text(o.get('custom_llm_partition')).strip() or 'model'
        self.qemu_psram = _text(o.get('custom_qemu_psram')).strip()
        self.extra_defines = list(defines)
        if convert_args is not None:
            self.convert_args = list(convert_args)
        self.out = OUT / (variant or name)

    @property
    def flash_size(self) -> int:
        return partitions.parse_size(self.board_cfg['upload']['flash_size'].replace('MB', 'M'))

    @property
    def app(self) -> str:
        for a in self.cmake_args:
            if a.startswith('-DLLM_APP='):
                return a.split('=', 1)[1]
        return 'story'

    def cmake_extra_args(self) -> list[str]:
        """board_build.cmake_extra_args, with the offline ESP-IDF's sdkconfig
        fixes appended to the defaults (boards/esp32s3/esp32s3_idf_compat.sdkconfig.defaults)."""
        out = []
        for a in self.cmake_args:
            if a.startswith('-DSDKCONFIG_DEFAULTS='):
                a += ';' + COMPAT_DEFAULTS
            out.append(a)
        if not any(a.startswith('-DSDKCONFIG_DEFAULTS=') for a in out):
            out.append('-DSDKCONFIG_DEFAULTS=' + COMPAT_DEFAULTS)
        return out

    def defines(self) -> list[str]:
        """build_flags' -D options, which PlatformIO would pass to the
        library and app sources."""
        out, it = [], iter(self.build_flags)
        for f in it:
            if f == '-D':
                out.append(next(it))
            elif f.startswith('-D'):
                out.append(f[2:])
        # A variant's define replaces the environment's of the same name.
        names = {d.split('=', 1)[0] for d in self.extra_defines}
        return [d for d in out if d.split('=', 1)[0] not in names] + self.extra_defines


def _run(cmd, **kw) -> None:
    print('$ ' + ' '.join(shlex.quote(str(c)) for c in cmd), flush=True)
    r = subprocess.run([str(c) for c in cmd], **kw)
    if r.returncode != 0:
        raise BuildError(f'{Path(str(cmd[0])).name} failed with status {r.returncode}')


def convert_model(e: Env) -> Path | None:
    """The model blob for the partition (converted when the option names a
    llama2.c checkpoint or the convert args ask for another dtype)."""
    if not e.model or e.app == 'test':
        return None
    model, problem = model_files.find(e.model, str(ROOT))
    if problem:
        raise BuildError(f'custom_llm_model = {problem}')
    tok = None
    if e.tokenizer:
        tok, problem = model_files.find(e.tokenizer, str(ROOT))
        if problem:
            raise BuildError(f'custom_llm_tokenizer = {problem}')
    with open(model, 'rb') as f:
        if f.read(4) == b'LLMB' and not e.convert_args:
            return Path(model)
    e.out.mkdir(parents=True, exist_ok=True)
    blob = e.out / 'model.llmb'
    inputs = [model] + ([tok] if tok else []) + sorted(str(p) for p in (SCRIPTS / 'llmtools').glob('*.py'))
    stamp = e.out / 'model.args'
    args = ' '.join([model, str(tok)] + e.convert_args)
    fresh = (blob.is_file() and stamp.is_file() and stamp.read_text() == args
             and all(blob.stat().st_mtime >= os.path.getmtime(i) for i in inputs))
    if not fresh:
        cmd = [sys.executable, '-m', 'llmtools', 'convert', model, '-o', blob, '--no-progress',
               *e.convert_args]
        if tok:
            cmd[5:5] = ['--tokenizer', tok]
        pythonpath = [str(SCRIPTS), os.environ.get('PYTHONPATH')]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, pythonpath)))
        _run(cmd, env=env)
        stamp.write_text(args)
    return blob


def build(e: Env, jobs: int | None = None) -> None:
    p = tools.paths()
    benv = tools.build_env(p)
    bdir = e.out / 'build'
    bdir.mkdir(parents=True, exist_ok=True)
    cmd = ['cmake', '-G', 'Ninja', '-S', ROOT, '-B', bdir, '-DIDF_TARGET=esp32s3',
           f'-DPYTHON={sys.executable}', '-DPYTHON_DEPS_CHECKED=1', '-DLLM_IDF_STANDALONE=ON',
           f'-DLLM_ESP_DSP_DIR={p["dsp"]}', f'-DSDKCONFIG={bdir / "sdkconfig"}',
           f'-DLLM_DEFINES={";".join(e.defines())}', *e.cmake_extra_args()]
    # The sdkconfig is made from the defaults files only when it is absent:
    # a change to the command or to a defaults file starts it afresh.
    defaults = [ROOT / f for a in cmd if str(a).startswith('-DSDKCONFIG_DEFAULTS=')
                for f in str(a).split('=', 1)[1].split(';')]
    key = hashlib.sha256(repr(cmd).encode() + b''.join(f.read_bytes() for f in defaults if f.is_file())).hexdigest()
    stamp = bdir / '.llm-configure'
    if not (bdir / 'build.ninja').is_file() or not stamp.is_file() or stamp.read_text() != key:
        (bdir / 'sdkconfig').unlink(missing_ok=True)
        _run(cmd, env=benv, cwd=ROOT)
        stamp.write_text(key)
    _run(['ninja', '-C', bdir] + ([f'-j{jobs}'] if jobs else []), env=benv)
    image(e)


def image(e: Env) -> Path:
    """flash.bin: esptool merge_bin of the build's flash_args plus the model
    at its partition's offset, filled to the board's flash size."""
    bdir = e.out / 'build'
    blob = convert_model(e)
    extra = []
    if blob is not None:
        parts = partitions.read_partitions(e.partitions)
        part = partitions.model_partition(parts, blob.stat().st_size, e.label, e.flash_size)
        extra = [f'{part.offset:#x}', str(blob)]
        print(f'model {blob.name}: partition {e.label!r} at {part.offset:#x} '
              f'({blob.stat().st_size} of {part.size} bytes)', flush=True)
    size_mb = f'{e.flash_size >> 20}MB'
    out = e.out / 'flash.bin'
    _run([sys.executable, '-m', 'esptool', '--chip', 'esp32s3', 'merge-bin', '--fill-flash-size',
          size_mb, '-o', out, '@flash_args', *extra], cwd=bdir)
    return out


def qemu_args(flash: Path, efuse: Path, board_cfg: dict, psram: str = '') -> list[str]:
    """Arguments of QEMU's esp32s3 machine for a merged flash image: PSRAM as
    the board has it (octal or quad), efuses blank (efuse is created), the
    watchdog timers' resets off."""
    if not efuse.is_file():
        efuse.write_bytes(bytes(1024))
    psram_type = board_cfg.get('build', {}).get('psram_type', '')
    args = ['-M', 'esp32s3', '-nographic',
            '-drive', f'file={flash},if=mtd,format=raw',
            '-drive', f'file={efuse},if=none,format=raw,id=efuse',
            '-global', 'driver=nvram.esp32s3.efuse,property=drive,value=efuse',
            '-global', 'driver=timer.esp32s3.timg,property=wdt_disable,value=true',
            '-m', psram or ('8M' if psram_type == 'opi' else '2M')]
    if psram_type == 'opi':
        args += ['-global', 'driver=ssi_psram,property=is_octal,value=true']
    return args


def qemu_command(e: Env, serial: str = 'mon:stdio', icount: bool = True) -> list[str]:
    """The QEMU command line for an environment's flash.bin; -icount shift=0
    makes emulated time count instructions (1 ns each)."""
    cmd = [str(tools.qemu_binary()), *qemu_args(e.out / 'flash.bin', e.out / 'efuse.bin',
                                                e.board_cfg, e.qemu_psram)]
    if icount:
        cmd += ['-icount', 'shift=0']
    return cmd + ['-serial', serial]


DONE = re.compile(rb'^story: done', re.M)
# A panic, or the example's own stop on an error (examples/esp32s3_story: halt).
PANIC = re.compile(rb'^(Guru Meditation Error|abort\(\) was called|Rebooting\.\.\.|error: )', re.M)


def run_until_done(cmd: list[str], timeout: float | None = None) -> int:
    """Run QEMU, copying its output, until the app prints "story: done"
    (status 0) or panics (status 1); other apps run until QEMU is quit."""
    import select
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen, status, deadline = b'', None, time.monotonic() + timeout if timeout else None
    try:
        while status is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    return proc.wait()
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                seen = (seen + chunk)[-4096:]
                if DONE.search(seen):
                    status = 0
                elif PANIC.search(seen):
                    status = 1
            if deadline and time.monotonic() > deadline:
                print(f'\nesp32s3_idf: no "story: done" within {timeout} s', file=sys.stderr)
                status = 1
    finally:
        proc.terminate()
        proc.wait()
    return status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('action', choices=['build', 'image', 'qemu', 'qemu-cmd'])
    ap.add_argument('envs', nargs='+', metavar='ENV')
    ap.add_argument('-j', '--jobs', type=int, help='ninja jobs (default: ninja\'s)')
    ap.add_argument('--timeout', type=float, help='qemu: give up after this many seconds')
    args = ap.parse_args(argv)
    try:
        for name in args.envs:
            e = Env(name)
            if args.action == 'build':
                build(e, args.jobs)
            elif args.action == 'image':
                image(e)
            elif args.action == 'qemu-cmd':
                print(' '.join(shlex.quote(c) for c in qemu_command(e)))
            else:
                build(e, args.jobs)
                cmd = qemu_command(e)
                print('$ ' + ' '.join(shlex.quote(c) for c in cmd) + '   (quit: Ctrl-A X)', flush=True)
                return run_until_done(cmd, args.timeout)
    except (BuildError, tools.ToolsMissing, partitions.PartitionError) as ex:
        print(f'esp32s3_idf: error: {ex}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
