"""Files over the console, for boards without a file system the host can
reach (test/firmware/fw_port_esp32s3.c): the lines the host sends.

    @file <name> <size> <crc32 hex>      then the firmware: @ready <name>
    @data <hex of up to CHUNK bytes>     ...                @ok <bytes so far>
                                                            @stored <name> <size>
                                                            (or @error <name> <why>)
An empty file is one `@data -` line.
"""
from __future__ import annotations

import re
import zlib

CHUNK = 4096  # bytes per @data line (8 KiB of hex): fits the firmware's line
FILE_CMD = re.compile(r'^(model|tok) (\S+)')


class UploadError(RuntimeError):
    """The firmware refused or lost a file sent over the line."""


def upload_lines(path: str) -> tuple[tuple[int, int], list[bytes]]:
    """((size, crc32), the lines that send the file at path)."""
    data = open(path, 'rb').read()
    key = (len(data), zlib.crc32(data))
    lines = [f'@file {path} {len(data)} {key[1]:08x}\n'.encode()]
    lines += [b'@data ' + data[o:o + CHUNK].hex().encode() + b'\n' for o in range(0, len(data), CHUNK)]
    if not data:
        lines.append(b'@data -\n')
    return key, lines
