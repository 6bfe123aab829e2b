"""pytest-embedded set-up for the llm device tests.

One option picks where the test firmware runs (--llm-target, default host)
and one names its binary (--llm-firmware). The firmware starts once per
session (booting QEMU or resetting a board per test would dominate the run);
every test begins with a `reset` command, and a firmware that died is
restarted before the next test.

Models: LLM_MODELS_DIR names the directory holding stories260K.bin and
tok512.bin; tests that need them fail (not skip) when it is unset.

    pio run -e native_test && LLM_MODELS_DIR=/path/to/models python -m pytest
    python -m pytest --llm-firmware=.pio/build/native_asan/program test/test_*.py

(Write --llm-firmware=PATH with "=" when no test paths follow: pytest takes a
bare path argument for a test path when choosing its root directory.)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# llmtools, the build and setup scripts' modules (esp32s3_idf, esp32s3_tools, ...), test helpers
for p in (ROOT / 'extra_scripts', ROOT / 'extra_scripts' / 'build', ROOT / 'extra_scripts' / 'setup',
          Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from pytest_embedded.dut_factory import _listener_gn, _pexpect_fr_gn  # noqa: E402
from pytest_embedded.utils import Meta  # noqa: E402

from helpers.firmware import Firmware  # noqa: E402
from helpers.targets import TARGETS, LlmDut, make_app, make_pexpect_proc  # noqa: E402

# Targets defined in their own modules register here when present.
try:
    from qemu_target import QemuFirmware  # noqa: E402
    TARGETS.setdefault('qemu', QemuFirmware)
except ModuleNotFoundError as e:
    if e.name != 'qemu_target':
        raise
try:
    from serial_target import SerialFirmware  # noqa: E402
    TARGETS.setdefault('serial', SerialFirmware)
    from esp32s3_qemu_target import Esp32s3QemuFirmware  # noqa: E402
    TARGETS.setdefault('esp32s3-qemu', Esp32s3QemuFirmware)
except ModuleNotFoundError as e:  # pytest-embedded-serial not installed: no serial targets
    if e.name not in ('serial_target', 'esp32s3_qemu_target', 'pytest_embedded_serial', 'serial'):
        raise

DEFAULT_FIRMWARE = ROOT / '.pio' / 'build' / 'native_test' / 'program'


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'llm_targets(*names): the test needs the firmware of these --llm-target values; '
        'deselected on the others (where it cannot apply), never skipped')


def pytest_collection_modifyitems(config, items):
    target = config.getoption('llm_target')
    keep, drop = [], []
    for item in items:
        m = item.get_closest_marker('llm_targets')
        (drop if m is not None and target not in m.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_addoption(parser):
    group = parser.getgroup('llm')
    group.addoption('--llm-target', default='host', choices=sorted(TARGETS),
                    help='where the test firmware runs (default: host)')
    group.addoption('--llm-firmware', default=str(DEFAULT_FIRMWARE),
                    help=f'test firmware binary (default: {DEFAULT_FIRMWARE.relative_to(ROOT)})')
    group.addoption('--llm-simd', default='auto', choices=['auto', 'off'],
                    help='x86 backend: off forces the reference kernels (its fallback path) '
                         'with the firmware\'s "simd off" (default: auto, what the CPU allows)')


@pytest.fixture(scope='session')
def llm_target(request) -> str:
    return request.config.getoption('llm_target')


@pytest.fixture(scope='session')
def dut(request, llm_target, _mp_manager, _stdout_lock, session_tempdir):
    """The pytest-embedded Dut of the test firmware, one per session.

    Built from pytest-embedded's own pieces (message queue, listener that
    logs and prints the output, PexpectProcess) around the target's process.
    """
    firmware = os.path.abspath(request.config.getoption('llm_firmware'))
    logdir = os.path.join(session_tempdir, 'llm-dut')
    os.makedirs(logdir, exist_ok=True)
    meta = Meta(logdir, {}, {}, '.log')
    logfile = os.path.join(logdir, 'dut.log')
    msg_queue = _mp_manager.MessageQueue()
    listener = _listener_gn(msg_queue, logfile, True, 0, 1, _stdout_lock=_stdout_lock)
    reader = _pexpect_fr_gn(logfile, listener)
    try:
        d = LlmDut(TARGETS[llm_target], firmware, meta,
                   pexpect_proc=make_pexpect_proc(reader), msg_queue=msg_queue,
                   app=make_app(firmware), pexpect_logfile=logfile, test_case_name='llm-firmware')
    except FileNotFoundError as e:
        listener.terminate()
        reader.close()
        pytest.fail(str(e), pytrace=False)
    exit_problem = None
    try:
        d.expect(rb'ready llm-test-fw protocol=1', timeout=60)
        yield d
        if d.alive():
            # A clean exit also lets LeakSanitizer check the firmware.
            d.write('quit')
            rc = d.proc.wait(timeout=30)
            if rc != 0:
                exit_problem = f'firmware exited with status {rc} after quit:\n{Firmware(d).log_tail()}'
    finally:
        d.close()
        listener.terminate()
        reader.close()
    if exit_problem:
        pytest.fail(exit_problem, pytrace=False)


@pytest.fixture
def fw(request, dut) -> Firmware:
    """The protocol client, on a firmware that is alive and reset (and with
    --llm-simd=off, running the reference kernels)."""
    if not dut.alive():
        dut.restart()
        dut.expect(rb'ready llm-test-fw protocol=1', timeout=60)
    client = Firmware(dut)
    client.reset()
    if request.config.getoption('llm_simd') == 'off':
        r = client.command('simd off')
        assert r.ok and r.fields['simd'] == 'ref', r
    return client


@pytest.fixture(scope='session')
def models_dir() -> Path:
    """LLM_MODELS_DIR with stories260K.bin and tok512.bin; fails when unset."""
    d = os.environ.get('LLM_MODELS_DIR')
    if not d:
        pytest.fail('LLM_MODELS_DIR is not set: point it at the directory holding stories260K.bin '
                    'and tok512.bin (e.g. LLM_MODELS_DIR=/work/shared/models)', pytrace=False)
    path = Path(d)
    for name in ('stories260K.bin', 'tok512.bin'):
        if not (path / name).is_file():
            pytest.fail(f'LLM_MODELS_DIR={d} has no {name}', pytrace=False)
    return path


@pytest.fixture(scope='session')
def stories(models_dir):
    """stories260K: file paths, config/weights, Python tokenizer."""
    from helpers.models import Stories
    return Stories(models_dir)
