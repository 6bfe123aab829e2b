"""The packed library, made once per session from this checkout."""
from pathlib import Path

import pytest

from helpers.package import pack


@pytest.fixture(scope='session')
def packed_library(tmp_path_factory) -> Path:
    """Path of llm-mcu-<version>.tar.gz (python extra_scripts/build/pio_pack.py)."""
    return pack(tmp_path_factory.mktemp('pack'))
