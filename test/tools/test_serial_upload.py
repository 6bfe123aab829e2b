"""How test/serial_target.py sends a file the board can build from one it
holds (@file ... <base>, then @skip/@data lines): the lines rebuild the file
exactly, fit one emulated-UART piece, and send little for small changes."""
import base64
import random

import pytest

from serial_target import closest_base, upload_steps

CHUNK = 90  # the emulated UART target's
LINE_MAX = 127


def board_builds(steps, kept: bytes, size: int) -> bytes:
    """What the firmware's data_chunk does with the lines, with its checks."""
    out = bytearray()
    for line, end in steps:
        assert line.endswith(b'\n') and len(line) <= LINE_MAX, line
        word, arg = line[:-1].split(b' ', 1)
        if word == b'@skip':
            n = int(arg)
            assert len(out) + n <= len(kept), 'past_base'
            out += kept[len(out):len(out) + n]
        else:
            assert word == b'@data'
            chunk = base64.b64decode(arg, validate=True)
            assert 0 < len(chunk) <= CHUNK
            out += chunk
        assert len(out) == end <= size
    return bytes(out)


def changed(data: bytes, rng: random.Random, n: int) -> bytes:
    out = bytearray(data)
    for _ in range(n):
        out[rng.randrange(len(out))] ^= 1 + rng.randrange(255)
    return bytes(out)


@pytest.mark.parametrize('seed', range(40))
def test_steps_rebuild_the_file(seed):
    rng = random.Random(seed)
    base = rng.randbytes(rng.choice([0, 1, 89, 90, 91, 500, 5000]))
    how = seed % 4
    if how == 0:    # a few bytes changed
        data = changed(base, rng, rng.randint(1, 5)) if base else b''
    elif how == 1:  # truncated
        data = base[:rng.randint(0, len(base))]
    elif how == 2:  # longer, and changed
        data = (changed(base, rng, 2) if base else b'') + rng.randbytes(rng.randint(0, 300))
    else:           # unrelated
        data = rng.randbytes(rng.randint(0, 400))
    kept = base[:len(data)]
    steps = upload_steps(data, kept, CHUNK)
    assert board_builds(steps, kept, len(data)) == data
    assert steps[-1][1] == len(data)


def test_few_changes_send_few_bytes():
    rng = random.Random(7)
    base = rng.randbytes(100_000)
    data = bytearray(base)
    for pos in (10, 11, 5000, 99_999):
        data[pos] ^= 0xFF
    steps = upload_steps(bytes(data), base, CHUNK)
    assert board_builds(steps, base, len(data)) == data
    assert len(steps) <= 7  # skip, data, skip, data, skip, data
    assert sum(len(line) for line, _ in steps) < 200


def test_truncated_file_is_one_skip():
    base = bytes(range(256)) * 40
    assert upload_steps(base[:1234], base[:1234], CHUNK) == [(b'@skip 1234\n', 1234)]


def test_empty_file_still_gets_a_line():
    # The board finishes a file on its last line; an empty one needs one too.
    assert upload_steps(b'', b'', CHUNK) == [(b'@skip 0\n', 0)]


def test_closest_base_picks_the_nearest_or_none():
    rng = random.Random(3)
    a, b = rng.randbytes(4000), rng.randbytes(4000)
    held = {'a': a, 'b': b, 'short': a[:100]}
    assert closest_base(held, changed(b, rng, 3)) == 'b'
    assert closest_base(held, a[:3000]) == 'a'
    assert closest_base(held, rng.randbytes(4000)) is None  # nothing in common
    assert closest_base(held, a[:100] + rng.randbytes(3900)) is None  # under half shared
    assert closest_base({}, a) is None
