"""ESP-IDF partition tables (CSV) for the ESP32-S3 targets: where the model
partition is, and whether a model fits it. Target-neutral and free of
SCons, so the host tests import it (test/test_esp32s3.py) and the build
script extra_scripts/build/esp32s3_flash_model.py uses it.

The CSV rules follow ESP-IDF's gen_esp32part.py: `# comments`, columns
name, type, subtype, offset, size[, flags]; sizes and offsets in decimal,
0x hex or with a K / M suffix; an empty offset continues after the previous
partition, aligned to 64 KiB for app partitions and 4 KiB for data; the
table itself sits at 0x8000 (4 KiB), so the first free offset is 0x9000.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

TABLE_OFFSET = 0x8000
TABLE_SIZE = 0x1000
APP_ALIGN = 0x10000
DATA_ALIGN = 0x1000
# esp_partition_mmap maps whole 64 KiB MMU pages: a model partition on a
# page boundary wastes no mapping space.
MMAP_PAGE = 0x10000

TYPES = {'app': 0x00, 'data': 0x01}


class PartitionError(ValueError):
    """A malformed partition table, or a model that does not fit it."""


@dataclass(frozen=True)
class Partition:
    name: str
    type: str       # 'app', 'data' or a number as written
    subtype: str
    offset: int
    size: int
    flags: str = ''

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def is_app(self) -> bool:
        return self.type in ('app', '0', '0x0', '0x00')


def parse_size(text: str) -> int:
    """'0x10000', '65536', '64K', '1M' -> bytes."""
    t = text.strip()
    try:
        if t[-1:].upper() in ('K', 'M'):
            return int(t[:-1], 0) * (1024 if t[-1].upper() == 'K' else 1024 * 1024)
        return int(t, 0)
    except ValueError:
        raise PartitionError(f'not a size or offset: {text!r}') from None


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def parse_partitions(text: str, source: str = '<csv>', table_offset: int = TABLE_OFFSET) -> list[Partition]:
    """All partitions of a CSV table, offsets resolved, checked for overlap."""
    parts: list[Partition] = []
    next_free = table_offset + TABLE_SIZE
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        cols = [c.strip() for c in line.split(',')]
        if len(cols) < 5:
            raise PartitionError(f'{source}:{lineno}: expected name, type, subtype, offset, size')
        name, ptype, subtype, off_text, size_text = cols[:5]
        flags = cols[5] if len(cols) > 5 else ''
        if not name:
            raise PartitionError(f'{source}:{lineno}: empty partition name')
        is_app = ptype in ('app', '0', '0x0', '0x00')
        align = APP_ALIGN if is_app else DATA_ALIGN
        offset = parse_size(off_text) if off_text else _align(next_free, align)
        size = parse_size(size_text)
        if size <= 0:
            raise PartitionError(f'{source}:{lineno}: partition {name!r} has size {size}')
        if offset % align:
            raise PartitionError(f'{source}:{lineno}: partition {name!r} at {offset:#x} is not '
                                 f'{align:#x}-aligned')
        if offset < next_free:
            raise PartitionError(f'{source}:{lineno}: partition {name!r} at {offset:#x} overlaps '
                                 f'what comes before it (free from {next_free:#x})')
        if any(p.name == name for p in parts):
            raise PartitionError(f'{source}:{lineno}: duplicate partition name {name!r}')
        parts.append(Partition(name, ptype, subtype, offset, size, flags))
        next_free = offset + size
    if not parts:
        raise PartitionError(f'{source}: no partitions')
    return parts


def read_partitions(path, table_offset: int = TABLE_OFFSET) -> list[Partition]:
    p = Path(path)
    try:
        text = p.read_text(encoding='utf-8')
    except OSError as e:
        raise PartitionError(f'cannot read partition table {p}: {e.strerror}') from None
    return parse_partitions(text, str(p), table_offset)


def find(parts: list[Partition], name: str) -> Partition:
    for p in parts:
        if p.name == name:
            return p
    raise PartitionError(f'no partition named {name!r} (have: {", ".join(p.name for p in parts)})')


def model_partition(parts: list[Partition], model_bytes: int, name: str = 'model',
                    flash_size: int | None = None) -> Partition:
    """The data partition that will hold a model of model_bytes bytes:
    present, of type data, on a 64 KiB page, large enough, inside the flash."""
    p = find(parts, name)
    if p.is_app:
        raise PartitionError(f'partition {name!r} is an app partition; the model needs a data one')
    if p.offset % MMAP_PAGE:
        raise PartitionError(f'partition {name!r} at {p.offset:#x} does not start on a 64 KiB page')
    if flash_size is not None and p.end > flash_size:
        raise PartitionError(f'partition {name!r} ends at {p.end:#x}, past the {flash_size >> 20} MB flash')
    if model_bytes > p.size:
        raise PartitionError(f'the model has {model_bytes} bytes but partition {name!r} holds '
                             f'{p.size} ({p.size / 2**20:.2f} MiB): use a smaller (quantized) model '
                             'or a partition table with a larger model partition')
    return p


def esptool_command(offset: int, image: str, port: str = 'PORT', baud: int = 921600,
                    chip: str = 'esp32s3') -> str:
    """The esptool command that writes one image (e.g. a new model) alone."""
    return ' '.join(shlex.quote(a) for a in [
        'esptool.py', '--chip', chip, '--port', port, '--baud', str(baud),
        'write_flash', f'{offset:#x}', image])
