"""Model files for the device tests: small generated models written to a
temporary directory (our blob or llama2.c's legacy format), and the trained
stories260K from LLM_MODELS_DIR, each with its Python oracle."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from llmtools import blob, llama2c, oracle, testmodels
from llmtools.blob import Config
from llmtools.tokenizer import Tokenizer


@dataclass
class ModelFile:
    path: Path
    config: Config
    weights: dict
    tokenizer: bytes | None = None

    def oracle(self) -> oracle.Model:
        return oracle.Model(self.config, self.weights)

    @property
    def tied(self) -> bool:
        return self.weights.get('cls') is None


def write_model(directory: Path, config: Config, seed: int = 1, tied: bool = True,
                fmt: str = 'blob', tokenizer: bytes | None = None, weights: dict | None = None,
                name: str | None = None) -> ModelFile:
    """A random model (or the given weights) written in fmt ('blob' or 'legacy');
    tokenizer bytes are embedded (blob only)."""
    w = weights if weights is not None else testmodels.random_model(config, seed, tied)
    if fmt == 'blob':
        data = blob.write_blob(config, w, tokenizer=tokenizer)
    elif fmt == 'legacy':
        assert tokenizer is None, 'llama2.c checkpoints carry no tokenizer'
        data = llama2c.write_legacy(config, w)
    else:
        raise ValueError(fmt)
    path = Path(directory) / (name or f'model_{fmt}_{seed}_{"tied" if tied else "untied"}.bin')
    path.write_bytes(data)
    return ModelFile(path, config, w, tokenizer)


class Stories:
    """stories260K.bin + tok512.bin, loaded lazily."""

    def __init__(self, models_dir: Path):
        self.model_path = Path(models_dir) / 'stories260K.bin'
        self.tok_path = Path(models_dir) / 'tok512.bin'

    @cached_property
    def checkpoint(self):
        return llama2c.read_checkpoint(self.model_path.read_bytes())

    @property
    def config(self) -> Config:
        return self.checkpoint[0]

    @property
    def weights(self) -> dict:
        return self.checkpoint[1]

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.tok_path.read_bytes(), self.config.vocab_size)

    def oracle(self) -> oracle.Model:
        return oracle.Model(self.config, self.weights)
