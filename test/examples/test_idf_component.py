"""The repository as an ESP-IDF component, as the README's ESP-IDF section
says to use it: a fresh ESP-IDF project in a temporary folder with this
checkout in components/llm-mcu, the README's main/CMakeLists.txt (its
llm_embed_model line with the test's model paths) and the README's story()
(taken from README.md), built by ESP-IDF's CMake with the Xtensa toolchain,
run in Espressif's QEMU: it prints llama2.c's greedy story.

Offline stand-ins, as for every ESP32-S3 build here: ESP-DSP is a local
component (the component manager, which fetches it on a user's machine, is
off), and the offline ESP-IDF copy's fixes are included
(boards/esp32s3/esp32s3_idf_compat.*); extra_scripts/setup/esp32s3_tools.py
unpacks the tools."""
from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import esp32s3_idf as idf
import esp32s3_tools
from helpers.golden import LLAMA2C_GREEDY_200
from helpers.package import readme_block

ROOT = Path(__file__).resolve().parents[2]
IDF_HEADING = '## Use it in an ESP-IDF project (without PlatformIO)'
PIO_HEADING = '## Use it in your PlatformIO project'
# An ESP32-S3 without PSRAM has about 300 KB of static DRAM: the snippet's
# 400 KB arena does not link there. 160 KB holds stories260K's q8 weights'
# activations and a 64-position fp32 cache.
ARENA = 'static uint8_t arena[160 * 1024]'
POSITIONS = 64
# Boot and 64 positions took under a second here without -icount.
STORY_TIMEOUT = 120

MAIN_C = r'''#include <stdio.h>

#include "llm_port_esp32s3.h"

int story(void);

void app_main(void) {
    llm_esp32s3_port_install(1);
    printf("\n--- story ---\n");
    int s = story();
    printf("\n--- status %d ---\n", s);
}
'''

PROJECT = '''cmake_minimum_required(VERSION 3.16)
set(COMPONENTS main)
include($ENV{IDF_PATH}/tools/cmake/project.cmake)
project(consumer)
# The offline ESP-IDF copy's fixes (a user's ESP-IDF needs none).
include(${CMAKE_CURRENT_LIST_DIR}/components/llm-mcu/boards/esp32s3/esp32s3_idf_compat.cmake)
'''


def story_c() -> str:
    c = readme_block(PIO_HEADING, 'c')
    c, n = re.subn(r'static uint8_t arena\[[^\]]+\]', ARENA, c)
    assert n == 1, 'the README snippet\'s arena line changed'
    c, n = re.subn(r'p\.seq_len = \d+;', f'p.seq_len = {POSITIONS};', c)
    assert n == 1, 'the README snippet\'s seq_len line changed'
    c, n = re.subn(r'g\.n_steps = \d+;', f'g.n_steps = {POSITIONS};', c)
    assert n == 1, 'the README snippet\'s n_steps line changed'
    return c


def main_cmake(models_dir: Path) -> str:
    cm = readme_block(IDF_HEADING, 'cmake')
    cm, n = re.subn(r'stories260K\.bin TOKENIZER tok512\.bin',
                    f'{models_dir / "stories260K.bin"} TOKENIZER {models_dir / "tok512.bin"}', cm)
    assert n == 1, cm
    # It names main.c only: story() goes in with it.
    cm, n = re.subn(r'SRCS main\.c', 'SRCS main.c story.c', cm)
    assert n == 1, cm
    return cm


@pytest.fixture(scope='module')
def built(tmp_path_factory, models_dir):
    try:
        paths = esp32s3_tools.paths()
    except esp32s3_tools.ToolsMissing as e:
        pytest.fail(f'the ESP32-S3 tools are missing: {e}', pytrace=False)
    root = tmp_path_factory.mktemp('idf') / 'consumer'
    (root / 'components').mkdir(parents=True)
    (root / 'main').mkdir()
    (root / 'components' / 'llm-mcu').symlink_to(ROOT)
    (root / 'components' / 'esp-dsp').symlink_to(paths['dsp'])
    (root / 'CMakeLists.txt').write_text(PROJECT)
    (root / 'main' / 'CMakeLists.txt').write_text(main_cmake(models_dir))
    (root / 'main' / 'story.c').write_text(story_c())
    (root / 'main' / 'main.c').write_text(MAIN_C)
    env = esp32s3_tools.build_env(paths)
    bdir = root / 'build'
    cmds = [['cmake', '-G', 'Ninja', '-S', root, '-B', bdir, '-DIDF_TARGET=esp32s3',
             f'-DPYTHON={sys.executable}', '-DPYTHON_DEPS_CHECKED=1',
             f'-DSDKCONFIG_DEFAULTS={ROOT / idf.COMPAT_DEFAULTS}'],
            ['ninja', '-C', bdir],
            [sys.executable, '-m', 'esptool', '--chip', 'esp32s3', 'merge-bin', '--fill-flash-size', '4MB',
             '-o', bdir / 'flash.bin', '@flash_args']]
    for cmd in cmds:
        r = subprocess.run([str(c) for c in cmd], cwd=bdir if cmd[0] == sys.executable else root,
                           env=env, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, f'{cmd[0]}: {r.stdout[-4000:]}{r.stderr[-3000:]}'
    yield root, bdir
    shutil.rmtree(root.parent, ignore_errors=True)


def test_component_story_in_qemu(built):
    _, bdir = built
    board = json.loads((ROOT / 'boards' / 'esp32s3_n16.json').read_text())  # no PSRAM
    cmd = [str(esp32s3_tools.qemu_binary()), *idf.qemu_args(bdir / 'flash.bin', bdir / 'efuse.bin', board),
           '-serial', 'mon:stdio']
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text, deadline = b'', time.monotonic() + STORY_TIMEOUT
    try:
        while not re.search(rb'--- status -?\d+ ---', text) and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            chunk = os.read(proc.stdout.fileno(), 65536) if ready else b''
            if ready and not chunk:
                break  # QEMU ended
            text += chunk
    finally:
        proc.kill()
        proc.wait()
    text = text.replace(b'\r\n', b'\n')
    assert b'--- status 0 ---' in text, text.decode(errors='replace')[-3000:]
    story = text.split(b'--- story ---\n', 1)[1].split(b'\n--- status', 1)[0]
    # Greedy q8 (the README's CONVERT_ARGS) over 64 positions tells the
    # fp32 story's beginning.
    assert len(story) > 150 and LLAMA2C_GREEDY_200.startswith(story), story
