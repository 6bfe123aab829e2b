"""The ESP32-S3 target's target-neutral parts, checked on any target.

* The partition tables and build settings of boards/: the model partition
  (found by extra_scripts/build/esp32s3_partitions.py, as the upload script does)
  on a 64 KiB page, inside the flash, large enough for stories260K; every
  environment's board, table and sdkconfig defaults agree on flash size,
  table and PSRAM mode.
* The port's decisions in the test firmware (esp_plan, fw_cmd_esp32s3.c):
  the arena placement rule, the longest context for a budget, the model's
  extent in a flash partition, and the row cuts that give ESP-DSP's aes3
  fast path aligned bodies.
* On the ESP32-S3 test firmware (esp32s3_test_qemu in QEMU, or a board),
  that the mat-vec kernel never calls dsps_dotprod_f32 off its fast path.
* Where files go over a serial line (--llm-target serial or esp32s3-qemu:
  test/serial_target.py, fw_port_esp32s3.c), that a file
  close to one the board holds is sent as its differences, and that the
  board refuses malformed @file/@data/@skip lines.
"""
from __future__ import annotations

import json
import os
import random
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

import esp32s3_partitions as P
from helpers.firmware import FirmwareError
from helpers.models import write_model
from llmtools import blob as blobmod
from llmtools.blob import Config
from serial_target import SerialFirmware, UploadError

ROOT = Path(__file__).resolve().parent.parent
BOARDS = ROOT / 'boards'
TABLES = {'partitions_llm_4mb.csv': 4 << 20, 'partitions_llm_16mb.csv': 16 << 20}
STORIES_BLOB_BYTES = 1_060_000  # stories260K fp32 + tok512 as a blob, rounded up


# ----------------------------------------------------------------- partition tables

@pytest.mark.parametrize('name', TABLES)
def test_model_partition_in_shipped_tables(name):
    parts = P.read_partitions(BOARDS / 'esp32s3' / name)
    flash = TABLES[name]
    model = P.model_partition(parts, STORIES_BLOB_BYTES, 'model', flash)
    assert model.offset % 0x10000 == 0 and model.end <= flash
    app = P.find(parts, 'factory')
    assert app.is_app and app.size >= 0x180000, 'room for the app with ESP-IDF and ESP-DSP'
    # Everything after the table, no overlaps, ordered.
    assert parts[0].offset >= P.TABLE_OFFSET + P.TABLE_SIZE
    assert all(a.end <= b.offset for a, b in zip(parts, parts[1:]))
    # The 16 MB table leaves room for much larger models.
    if flash == 16 << 20:
        assert model.size >= 12 << 20


def test_model_partition_matches_csv_comment():
    """The esptool command in each table's comment names the model's offset."""
    for name in TABLES:
        text = (BOARDS / 'esp32s3' / name).read_text()
        model = P.find(P.parse_partitions(text), 'model')
        assert f'write_flash {model.offset:#x} ' in text, name


def test_parse_rules():
    text = """
    # name, type, subtype, offset, size
    nvs,      data, nvs,     ,        24K
    phy_init, data, phy,     ,        4K
    factory,  app,  factory, ,        1M
    model,    data, 0x40,    ,        0x200000
    extra,    data, 0x41,    0x400000, 65536, readonly
    """
    parts = P.parse_partitions(text)
    off = {p.name: p.offset for p in parts}
    # Empty offsets continue after the previous partition: data on 4 KiB,
    # apps on 64 KiB boundaries, starting after the table at 0x8000.
    assert off == {'nvs': 0x9000, 'phy_init': 0xf000, 'factory': 0x10000, 'model': 0x110000,
                   'extra': 0x400000}
    assert parts[-1].flags == 'readonly' and parts[-1].size == 0x10000
    assert P.parse_size('2M') == 2 << 20 and P.parse_size('0x1000') == 4096


@pytest.mark.parametrize('text, message', [
    ('a, data, nvs, 0x9000, 0x6000\nb, data, nvs, 0xa000, 0x1000', 'overlaps'),
    ('a, data, nvs, 0x9000, 0x1000\na, data, nvs, , 0x1000', 'duplicate'),
    ('app0, app, factory, 0x11000, 1M', 'aligned'),
    ('a, data, nvs, 0x9000', 'expected'),
    ('a, data, nvs, 0x9000, lots', 'not a size'),
    ('# only a comment', 'no partitions'),
])
def test_parse_errors(text, message):
    with pytest.raises(P.PartitionError, match=message):
        P.parse_partitions(text)


def test_model_partition_errors():
    parts = P.read_partitions(BOARDS / 'esp32s3' / 'partitions_llm_4mb.csv')
    model = P.find(parts, 'model')
    assert P.model_partition(parts, model.size) == model
    with pytest.raises(P.PartitionError, match='holds'):
        P.model_partition(parts, model.size + 1)
    with pytest.raises(P.PartitionError, match='no partition named'):
        P.model_partition(parts, 10, 'weights')
    with pytest.raises(P.PartitionError, match='app partition'):
        P.model_partition(parts, 10, 'factory')
    with pytest.raises(P.PartitionError, match='past the 2 MB flash'):
        P.model_partition(parts, 10, 'model', 2 << 20)
    odd = P.parse_partitions('model, data, 0x40, 0x11000, 0x100000')
    with pytest.raises(P.PartitionError, match='64 KiB page'):
        P.model_partition(odd, 10)


def test_esptool_command():
    cmd = P.esptool_command(0x310000, 'build dir/model.llmb', port='/dev/ttyUSB0')
    assert cmd == ("esptool.py --chip esp32s3 --port /dev/ttyUSB0 --baud 921600 write_flash "
                   "0x310000 'build dir/model.llmb'")


def _sdkconfig(paths: str) -> dict:
    cfg = {}
    for p in paths.split(';'):
        for line in (ROOT / p).read_text().splitlines():
            m = re.match(r'(CONFIG_\w+)=(.*)', line.strip())
            if m:
                cfg[m.group(1)] = m.group(2).strip('"')
    return cfg


def esp_envs():
    from platformio.project.config import ProjectConfig
    os.environ.setdefault('LLM_MODELS_DIR', '/models')
    cfg = ProjectConfig(str(ROOT / 'platformio.ini'))
    return cfg, [e for e in cfg.envs() if e.startswith('esp32s3_')]


def test_every_esp_env_is_consistent():
    """Board JSON, partition table, sdkconfig defaults and app agree per env."""
    cfg, envs = esp_envs()
    assert len(envs) >= 6
    for env in envs:
        sec = f'env:{env}'
        board = json.loads((BOARDS / f'{cfg.get(sec, "board")}.json').read_text())
        flash = P.parse_size(board['upload']['flash_size'].replace('MB', 'M'))
        table = cfg.get(sec, 'board_build.partitions')
        parts = P.read_partitions(ROOT / table)
        P.model_partition(parts, STORIES_BLOB_BYTES, 'model', flash)
        assert '-DLLM_BACKEND=LLM_BACKEND_ESP32S3' in ' '.join(cfg.get(sec, 'build_flags')), env
        if cfg.get(sec, 'framework') == ['espidf']:
            args = cfg.get(sec, 'board_build.cmake_extra_args')
            app = re.search(r'-DLLM_APP=(\w+)', args).group(1)
            assert app == 'test' or (ROOT / 'examples' / f'esp32s3_{app}').is_dir(), env
            sdk = _sdkconfig(re.search(r'-DSDKCONFIG_DEFAULTS=(\S+)', args).group(1))
            assert sdk['CONFIG_PARTITION_TABLE_CUSTOM_FILENAME'] == table, env
            assert sdk.get(f'CONFIG_ESPTOOLPY_FLASHSIZE_{flash >> 20}MB') == 'y', env
            psram = board['build'].get('psram_type')  # opi, qspi or none
            assert ('-DBOARD_HAS_PSRAM' in board['build']['extra_flags']) == bool(psram), env
            if psram:
                assert sdk.get({'opi': 'CONFIG_SPIRAM_MODE_OCT', 'qspi': 'CONFIG_SPIRAM_MODE_QUAD'}[psram]) == 'y'
                assert board['build']['arduino']['memory_type'].endswith('_' + psram), env
            else:
                assert sdk.get('CONFIG_SPIRAM') == 'n', env
            native_usb = '-DARDUINO_USB_CDC_ON_BOOT=1' in board['build']['extra_flags']
            if env.endswith('_qemu'):  # the emulator's console is UART0 whatever the board's
                assert sdk.get('CONFIG_ESP_CONSOLE_UART_DEFAULT') == 'y', env
            else:
                assert (sdk.get('CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG') == 'y') == native_usb, env
        else:
            srcs = cfg.get(sec, 'build_src_filter')
            assert any(re.search(r'\+<esp32s3_\w+/>', s) for s in srcs), env


# ----------------------------------------------------------------- firmware: esp_plan

def plan(fw, line: str):
    r = fw.command(f'esp_plan {line}')
    return r


@pytest.mark.parametrize('need, internal, psram, reserve, where', [
    (1000, 2000, 0, 1000, 'internal'),          # exactly fits with the reserve
    (1001, 2000, 0, 1000, 'none'),              # one byte over, no PSRAM
    (1001, 2000, 4096, 1000, 'psram'),
    (4096, 2000, 4096, 0, 'psram'),             # PSRAM exactly
    (4097, 2000, 4096, 0, 'none'),
    (0, 0, 0, 0, 'internal'),
    # No overflow at the edge of a 32-bit size_t (the ESP32-S3's).
    (2**31, 2**32 - 1, 0, 2**31 - 1, 'internal'),
    (2**31, 2**32 - 1, 0, 2**31, 'none'),
    (2**32 - 1, 2**32 - 1, 2**32 - 1, 1, 'psram'),
    (300_000, 320_000, 8 << 20, 48 * 1024, 'psram'),     # stories260K at 256 positions
    (100_000, 320_000, 8 << 20, 48 * 1024, 'internal'),
])
def test_place_arena(fw, need, internal, psram, reserve, where):
    r = plan(fw, f'place {need} {internal} {psram} {reserve}')
    assert r.ok and r.fields['where'] == where, r


def test_fit_seq_len_stories(fw, stories):
    assert fw.model(stories.model_path).ok
    assert fw.tok(stories.tok_path).ok
    r = plan(fw, 'fit 1000000000')
    assert r.int('seq_len') == 512 and r.int('need_next') == 0
    full = r.int('need')
    assert fw.init(0).int('need') == full
    for budget in [full - 1, full // 2, 320_000 - 48 * 1024, 100_000, 50_000]:
        r = plan(fw, f'fit {budget}')
        s = r.int('seq_len')
        assert 1 <= s < 512
        assert r.int('need') <= budget < r.int('need_next'), r
        # The arena the library really asks for at that context.
        i = fw.init(s)
        assert i.ok and i.int('need') == r.int('need')
    r = plan(fw, 'fit 1000')
    assert r.int('seq_len') == 0 and r.int('need') == 0 and r.int('need_next') > 1000


def extent(fw, path, part_size, head_len=None):
    fw.model(path)  # loaded even when llm_model_open rejects it
    r = plan(fw, f'extent {part_size}' + (f' {head_len}' if head_len is not None else ''))
    return r.status, r.int('bytes')


def test_extent_stories_checkpoint(fw, stories):
    size = stories.model_path.stat().st_size
    assert extent(fw, stories.model_path, size) == ('LLM_OK', size)
    assert extent(fw, stories.model_path, 0xCF0000) == ('LLM_OK', size)
    assert extent(fw, stories.model_path, size - 1) == ('LLM_ERR_TRUNCATED', 0)
    assert extent(fw, stories.model_path, 0xCF0000, 40) == ('LLM_ERR_TRUNCATED', 0)


@pytest.mark.parametrize('fmt, tied', [('blob', True), ('legacy', True), ('legacy', False)])
def test_extent_generated(fw, tmp_path, fmt, tied):
    c = Config(dim=16, hidden_dim=37, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=64, seq_len=8)
    m = write_model(tmp_path, c, seed=3, tied=tied, fmt=fmt)
    size = m.path.stat().st_size
    # As in a partition: the model followed by erased flash.
    padded = tmp_path / 'partition.bin'
    padded.write_bytes(m.path.read_bytes() + b'\xff' * 5000)
    assert extent(fw, padded, size + 5000) == ('LLM_OK', size)
    # The extent is what llm_model_open accepts: exactly the file for a
    # llama2.c checkpoint.
    assert fw.model(m.path).ok


def test_extent_bad_contents(fw, tmp_path):
    def f(name, data):
        p = tmp_path / name
        p.write_bytes(data)
        return p
    assert extent(fw, f('erased', b'\xff' * 4096), 4096)[0] == 'LLM_ERR_MAGIC'
    assert extent(fw, f('ascii', b'ak42' + bytes(300)), 4096)[0] == 'LLM_ERR_MAGIC'
    assert extent(fw, f('zeros', bytes(4096)), 4096)[0] == 'LLM_ERR_DIMS'
    hdr = np.array([64, 172, 5, 8, 4, 512, 512], '<i4')
    bad = hdr.copy()
    bad[3] = 7  # heads do not divide dim
    assert extent(fw, f('dims', bad.tobytes() + bytes(100)), 1 << 20)[0] == 'LLM_ERR_DIMS'
    c = Config(dim=8, hidden_dim=8, n_layers=1, n_heads=2, n_kv_heads=1, vocab_size=16, seq_len=4)
    w = write_model(tmp_path, c, seed=1).path.read_bytes()
    size = len(w)
    odd = bytearray(w)
    odd[56:60] = (size + 8).to_bytes(4, 'little')  # total_size not a multiple of 16
    assert extent(fw, f('odd', bytes(odd)), 1 << 20)[0] == 'LLM_ERR_BOUNDS'
    assert extent(fw, f('blob', w), size - 16)[0] == 'LLM_ERR_TRUNCATED'
    assert blobmod.parse_header(w)['total_size'] == size


@pytest.mark.parametrize('elem, lanes', [(4, 4), (1, 16)], ids=['f32', 's8'])
def test_row_cuts(fw, elem, lanes):
    """The fast-path body starts where row and input are both 16-byte aligned,
    has a multiple of lanes elements and is as long as possible; head and tail
    are shorter than one alignment step / one lane block."""
    for w_mis in range(0, 16, elem):
        for x_mis in range(0, 16, elem):
            for n in list(range(0, 40)) + [64, 172, 255]:
                r = plan(fw, f'cut {w_mis} {x_mis} {n} {elem} {lanes}')
                head, body, tail = r.int('head'), r.int('body'), r.int('tail')
                assert head + body + tail == n
                same = (w_mis - x_mis) % 16 == 0
                skip = ((16 - w_mis) % 16) // elem
                if body:
                    assert same and (w_mis + head * elem) % 16 == 0 and body % lanes == 0, r
                    assert head == skip and tail < lanes, r
                else:
                    assert head == 0 and tail == n, r
                    assert not same or n - skip < lanes, f'{w_mis} {x_mis} {n}: fast path missed'


ESP32S3_FIRMWARE = pytest.mark.llm_targets('esp32s3-qemu', 'serial')


@ESP32S3_FIRMWARE
def test_matvec_stays_on_the_fast_path(fw):
    """ESP32-S3 backend only: dsps_dotprod_f32 is only ever called with
    16-byte-aligned inputs and lengths that are multiples of 4, once for
    each row that can be aligned with x."""
    assert fw.backend == 'esp32s3', f'{fw.backend}: not the ESP32-S3 test firmware'
    r = plan(fw, 'dotcalls')
    assert r.ok, r
    for d, n in [(1, 4), (7, 64), (5, 6), (9, 3), (8, 172), (3, 17), (64, 5)]:
        out = fw.kernel('matvec_f32', (d, n), 1.0, 7)
        assert out['k'].shape == (d,)
        r = plan(fw, 'dotcalls')
        # Row i starts 4 * i * n bytes after the 16-byte-aligned matrix; x is aligned.
        expect = sum(1 for i in range(d) if (4 * i * n) % 16 == 0 and n >= 4)
        assert r.int('slow') == 0, f'{d}x{n}: {r}'
        assert r.int('fast') == expect, f'{d}x{n}: {r}'


# ----------------------------------------------------------------- files over a serial line

def serial_link(fw) -> SerialFirmware:
    link = fw.dut.proc
    assert isinstance(link, SerialFirmware), f'{type(link).__name__}: files do not go over a serial line'
    return link


@ESP32S3_FIRMWARE
def test_file_sent_as_its_differences(fw, tmp_path):
    """The board checks each file's CRC-32 when its last byte arrives, so a
    file rebuilt wrongly from its base fails the upload."""
    link = serial_link(fw)
    rng = random.Random(os.getpid())  # contents the board cannot hold yet
    data = rng.randbytes(5000)
    first, second = tmp_path / 'first.bin', tmp_path / 'second.bin'
    first.write_bytes(data)
    assert link.upload(str(first)) == len(data)
    assert link.upload(str(first)) == 0, 'held: not sent again'
    near = bytearray(data)
    near[17] ^= 1
    near[4321] ^= 0x80
    first.write_bytes(bytes(near))  # the same name, from its own old contents
    assert 0 < link.upload(str(first)) <= 2 * 64
    second.write_bytes(bytes(near[:3000]))  # another name, a prefix: all kept
    assert link.upload(str(second)) == 0
    second.write_bytes(bytes(near[:3000]) + b'tail')  # longer than its base
    assert link.upload(str(second)) == 4
    r = fw.model(first)  # held under its name, whole (random bytes: not a model)
    assert r.status != 'LLM_OK' and r.int('size') == len(near), r


@pytest.mark.parametrize('lines, why', [
    ([b'@skip 5'], 'past_base'),      # no base: nothing to keep
    ([b'@data QUJD', b'@skip 1'], 'past_base'),
    ([b'@data QUJDREVGR0g='], 'too_long'),
    ([b'@skip 99'], 'too_long'),
    ([b'@data QUJ!'], 'bad_base64'),
    ([b'@data QUJ'], 'bad_base64'),
    ([b'@skip x'], 'too_long'),       # an unreadable count
    ([b'@data QUJD', b'@data REVG'], 'crc'),
])
@ESP32S3_FIRMWARE
def test_malformed_file_lines_refused(fw, lines, why):
    link = serial_link(fw)
    crc = zlib.crc32(b'ABCDEX')  # not the 6 bytes sent
    link._send(b'@file bad.bin 6 %08x nosuch.bin\n' % crc, answered=True)
    link._expect(rb'^@ready bad\.bin 0\b')
    with pytest.raises(UploadError, match=f'@error bad.bin {why}'):
        for line in lines:
            link._send(line + b'\n', answered=True)
            link._expect(rb'^@ok \d+')
    with pytest.raises(FirmwareError, match='fw_error=cannot_open'):
        fw.model('bad.bin')  # a refused file is not kept


@ESP32S3_FIRMWARE
def test_half_sent_file_dropped_by_the_next(fw, tmp_path):
    """A file the host stopped sending is gone once another begins, even one
    the board stores at once (same contents held): later @data lines have no
    file to go to."""
    link = serial_link(fw)
    held = tmp_path / 'held.bin'
    held.write_bytes(random.Random(os.getpid() + 1).randbytes(300))
    link.upload(str(held))
    link._send(b'@file half.bin 6 %08x\n' % zlib.crc32(b'ABCDEF'), answered=True)
    link._expect(rb'^@ready half\.bin 0\b')
    link._send(b'@data QUJD\n', answered=True)  # ABC
    link._expect(rb'^@ok 3\b')
    again = tmp_path / 'again.bin'
    again.write_bytes(held.read_bytes())
    assert link.upload(str(again)) == 0  # stored at once, from held.bin
    with pytest.raises(UploadError, match='@error - no_file'):
        link._send(b'@data REVG\n', answered=True)  # DEF
        link._expect(rb'^@stored half\.bin')
    with pytest.raises(FirmwareError, match='fw_error=cannot_open'):
        fw.model('half.bin')
