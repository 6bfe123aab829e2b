"""The library as a dependency: a fresh PlatformIO project in a temporary
folder with nothing of ours but the packed tarball in lib_deps, the README's
model options and the README's code (taken from README.md), built for the
host, for the emulated Cortex-M55 (QEMU mps3-an547) and for the emulated
dual Cortex-M33 (QEMU mps2-an521, both cores working), prints llama2.c's
story; a second build converts nothing; bad model options stop the build
with one line naming the option."""
import shutil
import subprocess
import tarfile

import pytest

from helpers.golden import LLAMA2C_GREEDY_200
from helpers.package import ARM_PLATFORM, pio, readme_block, readme_model_options
from qemu_target import board_command

HEADING = '## Use it in your PlatformIO project'
QEMU = ['qemu-system-arm', '-M', 'mps3-an547', '-nographic', '-monitor', 'none', '-serial', 'none',
        '-semihosting-config', 'enable=on,target=native', '-icount', 'shift=0', '-kernel']

# The project's own main: the README's story() on each board's port.
MAIN_C = r'''#include <stdio.h>

#include "llm.h"
#if defined(BOARD_MPS3_AN547) || defined(BOARD_MPS2_AN521)
#define ON_BOARD 1
#include "board.h"
#else
#define ON_BOARD 0
#include "llm_port_posix.h"
#endif

int story(void);

int main(void) {
#if ON_BOARD
    board_llm_port_init();
#else
    llm_port port = {0};
    if (llm_posix_pool_start(2) != 2) return 3;
    port.parallel_for = llm_posix_parallel_for;
    llm_port_set(&port);
#endif
    int s = story();
    printf("\n");
#if !ON_BOARD
    llm_posix_pool_stop();
#elif BOARD_CORES > 1
    fprintf(stderr, "items per core: %lu, %lu\n", (unsigned long)board_core_items(0),
            (unsigned long)board_core_items(1));
#endif
    return s == 0 ? 0 : 1;
}
'''

BAD = {  # env name: (option, value, words the error line must hold)
    'bad_missing': ('custom_llm_model', 'no_such_model.bin', 'not found'),
    'bad_truncated': ('custom_llm_model', 'truncated.bin', 'LLM_ERR_TRUNCATED'),
    'bad_vocab': ('custom_llm_tokenizer', 'tokenizer32k.bin', '32000 tokens'),
}


def write_project(root, tarball, models_dir):
    ini = readme_block(HEADING, 'ini')
    options = readme_model_options(ini)
    assert any(o.startswith('custom_llm_model') for o in options), ini
    (root / 'src').mkdir(parents=True)
    (root / 'boards').mkdir()
    with tarfile.open(tarball) as tar:  # the board manifests ship with the package
        for board in ('mps3_an547', 'mps2_an521'):
            (root / 'boards' / f'{board}.json').write_bytes(tar.extractfile(f'boards/{board}.json').read())
    (root / 'src' / 'story.c').write_text(readme_block(HEADING, 'c'))
    (root / 'src' / 'main.c').write_text(MAIN_C)
    (root / 'truncated.bin').write_bytes((models_dir / 'stories260K.bin').read_bytes()[:5000])
    flags = 'build_flags = -O2 -std=c99 -Wall -Wextra -Werror'
    lines = ['[env]', f'lib_deps = {tarball}', *options, '',
             '[env:host]', 'platform = native', flags, '',
             '[env:m55]', f'platform = symlink://{ARM_PLATFORM}', 'board = mps3_an547', flags, '',
             '[env:m33x2]', f'platform = symlink://{ARM_PLATFORM}', 'board = mps2_an521', flags, '']
    for env, (option, value, _) in BAD.items():
        lines += [f'[env:{env}]', 'platform = native', f'{option} = {value}', '']
    (root / 'platformio.ini').write_text('\n'.join(lines))


@pytest.fixture(scope='module')
def project(tmp_path_factory, packed_library, models_dir):
    root = tmp_path_factory.mktemp('consumer') / 'firmware'
    write_project(root, packed_library, models_dir)
    r = pio(root, '-e', 'host', '-e', 'm55', '-e', 'm33x2', models_dir=models_dir)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert r.stdout.count('llm: converting stories260K.bin') == 3, r.stdout
    yield root, r
    shutil.rmtree(root, ignore_errors=True)


def test_library_comes_from_the_tarball(project):
    root, r = project
    assert (root / '.pio' / 'libdeps' / 'host' / 'llm-mcu' / 'library.json').is_file()
    assert (root / '.pio' / 'libdeps' / 'm55' / 'llm-mcu' / 'library.json').is_file()
    assert 'llm-mcu @ 0.1.0' in r.stdout


def test_host_prints_llama2c_story(project):
    root, _ = project
    r = subprocess.run([str(root / '.pio' / 'build' / 'host' / 'program')], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == LLAMA2C_GREEDY_200 + b'\n'


def test_m55_prints_llama2c_story_in_qemu(project):
    root, r = project
    assert 'cmsis_dsp.py: using CMSIS-DSP' in r.stdout  # the Helium backend's dependency
    elf = root / '.pio' / 'build' / 'm55' / 'firmware.elf'
    q = subprocess.run(QEMU + [str(elf)], capture_output=True, timeout=300)
    assert q.returncode == 0, q.stderr.decode()
    assert q.stdout == LLAMA2C_GREEDY_200 + b'\n'


def test_m33x2_prints_llama2c_story_on_both_cores_in_qemu(project):
    root, _ = project
    elf = root / '.pio' / 'build' / 'm33x2' / 'firmware.elf'
    q = subprocess.run(board_command(str(elf)), capture_output=True, timeout=300)
    assert q.returncode == 0, q.stderr.decode()
    assert q.stdout == LLAMA2C_GREEDY_200 + b'\n'
    main, worker = (int(v) for v in q.stderr.decode().rsplit('items per core: ', 1)[1].split(', '))
    assert main > 0 and worker > 0, q.stderr.decode()


def test_second_build_converts_nothing(project, models_dir):
    root, _ = project
    blobs = [root / '.pio' / 'build' / e / 'llm_model' / 'stories260K.llmb' for e in ('host', 'm55')]
    before = [b.stat().st_mtime_ns for b in blobs]
    r = pio(root, '-e', 'host', '-e', 'm55', models_dir=models_dir)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert 'llm: converting' not in r.stdout
    assert [b.stat().st_mtime_ns for b in blobs] == before


@pytest.mark.parametrize('env', sorted(BAD))
def test_bad_model_option_stops_the_build_with_one_line(project, models_dir, env):
    root, _ = project
    option, value, words = BAD[env]
    r = pio(root, '-e', env, models_dir=models_dir)
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert 'Traceback' not in out, out
    errors = [ln for ln in out.splitlines() if ln.startswith('Error: ')]
    assert len(errors) == 1, out
    assert f'{option} = {value}' in errors[0] and words in errors[0], errors[0]
