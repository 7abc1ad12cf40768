"""Text tokenizers: a registered name ("qwen2", "cl100k_base") or a local tokenizer.json.

    from mmtok.text import get_tokenizer
    tok = get_tokenizer("qwen2")
    tok.encode("Hello, world!")                                # [9707, 11, 1879, 0]
    tok.encode("<|im_start|>user", allowed_special="all")      # [151644, 872]

Every tokenizer follows tiktoken's special-token policy (see base.py). A named encoding is one module
that registers a loader with `@ENCODINGS.register(name)`, as tiktoken's `tiktoken_ext` plugins do;
the modules are imported on the first lookup, so importing mmtok.text loads no vocabulary.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from ..errors import UnknownNameError, VocabFileError
from ..registry import Registry
from .base import TextTokenizer

__all__ = ["ENCODINGS", "TextTokenizer", "get_tokenizer", "tokenizer_names"]

ENCODINGS: Registry[TextTokenizer] = Registry("text tokenizer", modules=("mmtok.text.qwen2", "mmtok.text.cl100k", "mmtok.text.qwen_vl"))


def tokenizer_names() -> list[str]:
    """The registered tokenizer names."""
    return ENCODINGS.names()


@cache
def _registered(name: str) -> TextTokenizer:
    # One instance per process: loading a vocabulary takes ~0.2 s, and tokenizers are immutable.
    return ENCODINGS.get(name)


def get_tokenizer(name_or_path: str | os.PathLike) -> TextTokenizer:
    """The tokenizer registered as `name_or_path` (case-insensitive), else the tokenizer.json at that
    path (or inside that directory). A name takes precedence over a file of the same name."""
    if isinstance(name_or_path, str) and name_or_path in ENCODINGS:
        return _registered(ENCODINGS.canonical(name_or_path))
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise VocabFileError(str(path), "is a directory without a tokenizer.json; pass the tokenizer.json file")
        path = path / "tokenizer.json"
    if path.is_file():
        from .tokenizer_json import TokenizerJson

        return TokenizerJson.from_file(path)
    error = UnknownNameError("text tokenizer", str(name_or_path), ENCODINGS.names())
    error.args = (f"{error.args[0]}; or pass the path of a tokenizer.json file (there is no file {str(path)!r})",)
    raise error
