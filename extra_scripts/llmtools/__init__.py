"""Python tooling for the llm library: blob format, llama2.c checkpoints,
tokenizer, sampler and a NumPy reference model (the oracle tests compare
the C library against)."""

__version__ = "0.1.0"
