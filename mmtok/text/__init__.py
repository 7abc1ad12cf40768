"""Text tokenizers: a registered name ("qwen2", "cl100k_base") or a local vocabulary file (tokenizer.json,
vocab.json + merges.txt, SentencePiece .model, .tiktoken).

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

from ..errors import InvalidOptionError, UnknownNameError, VocabFileError
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


def get_tokenizer(
    name_or_path: str | os.PathLike, *, pattern: str | None = None, special_tokens: dict | list | None = None
) -> TextTokenizer:
    """The tokenizer registered as `name_or_path` (case-insensitive), else the vocabulary file at that
    path. A name takes precedence over a file of the same name. Files:

    * a tokenizer.json (any name that is none of the below), run by the `tokenizers` library;
    * a GPT-2-style vocab.json or merges.txt (the other beside it);
    * a SentencePiece `.model` (needs the optional `sentencepiece` package);
    * a `.tiktoken` rank file, run by tiktoken with the pre-tokenizer regex `pattern` (a name from
      mmtok.text.patterns or a regex; default cl100k's, since a rank file records none);
    * a folder holding tokenizer.json, else vocab.json + merges.txt, else one .model file.

    `pattern` (vocab.json/merges.txt: default GPT-2's) and `special_tokens` (.tiktoken: spelling -> id;
    vocab.json: spellings) apply to the files that do not record them.
    """
    options = pattern is not None or special_tokens is not None
    if isinstance(name_or_path, str) and name_or_path in ENCODINGS:
        if options:
            raise InvalidOptionError(_RECORDED.format(name_or_path))
        return _registered(ENCODINGS.canonical(name_or_path))
    path = Path(name_or_path)
    if path.is_dir():
        path = _file_in_folder(path)
    if path.is_file():
        from .bpe_files import find_bpe_files

        suffix = path.suffix.lower()
        if suffix == ".tiktoken":
            from .tiktoken_files import load_tiktoken_file

            return load_tiktoken_file(path, pattern=pattern or "cl100k", special_tokens=special_tokens)
        if suffix == ".model":
            from .sentencepiece_model import SentencePieceTokenizer

            if options:
                raise InvalidOptionError(_RECORDED.format(path))
            return SentencePieceTokenizer.from_file(path)
        pair = find_bpe_files(path)
        if pair is not None or path.name in ("vocab.json", "merges.txt"):
            from .bpe_files import load_bpe_files

            pair = pair or (path.parent / "vocab.json", path.parent / "merges.txt")  # a missing one is named
            return load_bpe_files(*pair, pattern=pattern or "gpt2", special_tokens=special_tokens)
        from .tokenizer_json import TokenizerJson

        if options:
            raise InvalidOptionError(_RECORDED.format(path))
        return TokenizerJson.from_file(path)
    error = UnknownNameError("text tokenizer", str(name_or_path), ENCODINGS.names())
    error.args = (
        f"{error.args[0]}; or pass the path of a tokenizer.json, vocab.json + merges.txt, SentencePiece .model "
        f"or .tiktoken file (there is no file {str(path)!r})",
    )
    raise error


_RECORDED = (
    "{}: pattern and special_tokens apply only to .tiktoken and vocab.json + merges.txt files; this tokenizer "
    "records its own, so drop them"
)


def _file_in_folder(folder: Path) -> Path:
    """The vocabulary file in a checkpoint folder: tokenizer.json, else vocab.json, else one *.model."""
    if (folder / "tokenizer.json").is_file():
        return folder / "tokenizer.json"
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return folder / "vocab.json"
    models = sorted(folder.glob("*.model"))
    if len(models) == 1:
        return models[0]
    raise VocabFileError(
        str(folder),
        "is a directory without a tokenizer.json, vocab.json + merges.txt or a single SentencePiece .model; "
        "pass the vocabulary file itself",
    )
