#!/usr/bin/env python3
"""ESP32-S3 tools for machines that cannot reach Espressif's registries.

A connected user gets the Xtensa toolchain, ESP-IDF and the espressif32
platform from PlatformIO's registry and ESP-DSP from Espressif's component
registry; nothing here runs for them. Offline, the same pieces come as
tarballs in a directory named by LLM_ESP32S3_TOOLS (default: ../shared/esp32s3
beside this repository, as CI lays it out):

    xtensa-esp32s3-elf.tar.xz   GCC 12.2 for the ESP32-S3 (FPU, PIE)
    esp-qemu.tar.xz             qemu-system-xtensa with the esp32s3 machine
    esp-idf-v5.5.3.tar.xz       ESP-IDF v5.5.3
    esp-dsp-v1.8.2.tar.xz       ESP-DSP v1.8.2 (the espressif/esp-dsp component)

Each is unpacked once into $XDG_CACHE_HOME/llm-mcu/esp32s3 (never into the
repository); a stamp file per tarball holds its size and mtime, so a changed
tarball is unpacked again. The emulator's runtime libraries come from apt
(setup: extra_scripts/setup/bootstrap.sh).

    python extra_scripts/setup/esp32s3_tools.py          # unpack what is missing, print the paths
    python extra_scripts/setup/esp32s3_tools.py --check  # exit 1 when the tarballs are absent

Other scripts call paths() and build_env().
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARBALLS = {
    # key: (tarball, directory it unpacks to)
    'toolchain': ('xtensa-esp32s3-elf.tar.xz', 'xtensa-esp32s3-elf'),
    'qemu': ('esp-qemu.tar.xz', 'esp-qemu'),
    'idf': ('esp-idf-v5.5.3.tar.xz', 'esp-idf'),
    'dsp': ('esp-dsp-v1.8.2.tar.xz', 'esp-dsp'),
}


class ToolsMissing(RuntimeError):
    """The offline ESP32-S3 tools are not where they were looked for."""


def source_dir() -> Path:
    return Path(os.environ.get('LLM_ESP32S3_TOOLS') or ROOT.parent / 'shared' / 'esp32s3').resolve()


def cache_dir() -> Path:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'llm-mcu' / 'esp32s3'


def _unpack(tarball: Path, dest: Path, name: str) -> Path:
    target = dest / name
    stamp = dest / f'.{name}.stamp'
    st = tarball.stat()
    want = f'{tarball.name} {st.st_size} {int(st.st_mtime)}'
    if target.is_dir() and stamp.is_file() and stamp.read_text() == want:
        return target
    print(f'esp32s3_tools: unpacking {tarball.name} into {dest}', flush=True)
    tmp = dest / f'.{name}.partial'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(tarball) as tf:
        tf.extractall(tmp, filter='tar') if hasattr(tarfile, 'data_filter') else tf.extractall(tmp)
    shutil.rmtree(target, ignore_errors=True)
    (tmp / name).rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    stamp.write_text(want)
    return target


def paths(unpack: bool = True) -> dict[str, Path]:
    """{'toolchain', 'qemu', 'idf', 'dsp'} -> unpacked directory. Raises
    ToolsMissing with what to do when a tarball is absent."""
    src, dest = source_dir(), cache_dir()
    out = {}
    for key, (tar, name) in TARBALLS.items():
        tarball = src / tar
        if not tarball.is_file():
            raise ToolsMissing(
                f'{tarball} not found: set LLM_ESP32S3_TOOLS to the directory holding '
                f'{", ".join(t for t, _ in TARBALLS.values())} (connected machines use '
                'PlatformIO\'s espressif32 platform instead: pio run -e esp32s3_story)')
        dest.mkdir(parents=True, exist_ok=True)
        out[key] = _unpack(tarball, dest, name) if unpack else dest / name
    return out


def qemu_binary(p: dict[str, Path] | None = None) -> Path:
    return (p or paths())['qemu'] / 'bin' / 'qemu-system-xtensa'


def build_env(p: dict[str, Path] | None = None) -> dict[str, str]:
    """os.environ plus what ESP-IDF's CMake needs: IDF_PATH, the toolchain on
    PATH, the component manager off (ESP-DSP is a local component)."""
    p = p or paths()
    env = dict(os.environ)
    env['IDF_PATH'] = str(p['idf'])
    env['PATH'] = os.pathsep.join([str(p['toolchain'] / 'bin'), str(Path(sys.executable).parent),
                                   env.get('PATH', '')])
    env['IDF_COMPONENT_MANAGER'] = '0'
    # The ROM ELFs for gdbinit are not shipped; ESP-IDF only warns without them.
    env.setdefault('ESP_ROM_ELF_DIR', str(p['idf'] / 'components' / 'esp_rom'))
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--check', action='store_true', help='only check that the tarballs exist')
    args = ap.parse_args(argv)
    try:
        p = paths(unpack=not args.check)
    except ToolsMissing as e:
        print(f'esp32s3_tools: {e}', file=sys.stderr)
        return 1
    for k, v in p.items():
        print(f'{k} {v}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
