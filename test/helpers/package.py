"""The library packed as a user gets it, and a fresh PlatformIO project
that depends on it (test/examples/test_package.py, test_consumer.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / 'README.md'
ARM_PLATFORM = ROOT / 'extra_scripts' / 'platforms' / 'arm_baremetal'


def pack(out: Path) -> Path:
    """python extra_scripts/build/pio_pack.py -o out; the tarball's path."""
    r = subprocess.run([sys.executable, str(ROOT / 'extra_scripts' / 'build' / 'pio_pack.py'), '-o', str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    tarballs = list(out.glob('llm-mcu-*.tar.gz'))
    assert len(tarballs) == 1, r.stdout + r.stderr
    return tarballs[0]


def tar_names(path: Path) -> set:
    with tarfile.open(path) as tar:
        return {m.name for m in tar.getmembers() if m.isfile()}


def readme_block(heading: str, lang: str) -> str:
    """The first ```lang block after the line `heading` of the README."""
    text = README.read_text(encoding='utf-8')
    start = text.index('\n' + heading + '\n')
    m = re.compile(r'^```' + re.escape(lang) + r'\n(.*?)^```$', re.S | re.M).search(text, start)
    assert m, f'no ```{lang} block after {heading!r} in {README}'
    return m.group(1)


def readme_model_options(ini: str) -> list[str]:
    """The custom_llm_* lines the README's platformio.ini sets (comments cut)."""
    lines = [ln.split(';', 1)[0].strip() for ln in ini.splitlines()]
    return [ln for ln in lines if ln.startswith('custom_llm_')]


def pio(project: Path, *args, models_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LLM_MODELS_DIR=str(models_dir), PLATFORMIO_NO_ANSI='1')
    return subprocess.run([sys.executable, '-m', 'platformio', 'run', *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
