"""Fixtures for the host tests of the Python tools (extra_scripts/llmtools).

Trained model files come from the directory in $LLM_MODELS_DIR; a test that
needs one fails (not skips) when it is unset, so CI cannot pass by accident.
"""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "extra_scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from llmtools import testmodels  # noqa: E402


def _models_dir() -> Path:
    d = os.environ.get("LLM_MODELS_DIR")
    if not d:
        pytest.fail("LLM_MODELS_DIR is not set: point it at the directory holding "
                    "stories260K.bin, tok512.bin and tokenizer32k.bin "
                    "(e.g. LLM_MODELS_DIR=/work/shared/models)", pytrace=False)
    return Path(d)


@pytest.fixture(scope="session")
def model_file():
    """model_file('stories260K.bin') -> Path inside $LLM_MODELS_DIR (fails if absent)."""
    d = _models_dir()  # now: tests may unset LLM_MODELS_DIR later

    def get(name: str) -> Path:
        p = d / name
        if not p.is_file():
            pytest.fail(f"{name} not found in LLM_MODELS_DIR={p.parent}", pytrace=False)
        return p
    return get


@pytest.fixture(scope="session")
def stories260k(model_file):
    """(config, weights) of stories260K.bin."""
    from llmtools.llama2c import read_checkpoint
    return read_checkpoint(model_file("stories260K.bin").read_bytes())


@pytest.fixture(scope="session")
def tok512(model_file):
    from llmtools.tokenizer import Tokenizer
    return Tokenizer.from_file(model_file("tok512.bin"), 512)


@pytest.fixture
def tiny():
    """A small random untied GQA model with a synthetic tokenizer: (config, weights, tok_bytes)."""
    c = testmodels.tiny_config()
    return c, testmodels.random_model(c, seed=1, tied=False), testmodels.synthetic_tokenizer(c.vocab_size, seed=1)


def run_cli(*args, env=None):
    """Run `python -m llmtools ...` in a subprocess; returns CompletedProcess (text)."""
    import subprocess
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(SCRIPTS) + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "llmtools", *map(str, args)],
                          capture_output=True, text=True, env=e, timeout=300)


@pytest.fixture(scope="session")
def cli():
    """cli('convert', 'in.bin', '-o', 'out') runs `python -m llmtools` in a subprocess."""
    return run_cli
