"""Reading `.tiktoken` vocabulary files: one "base64(token bytes) rank" pair per line.

The format is tiktoken's (`tiktoken/load.py`, `load_tiktoken_bpe`). mmtok reads the file itself rather
than through `load_tiktoken_bpe`, because that function copies even a local file into a cache
directory under the system temp dir, and because a damaged file should name itself and the fix.
Every file mmtok ships or uses has a known sha256, checked before the file is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path

from ..errors import InvalidOptionError, VocabFileError


def read_tiktoken_ranks(path: str | Path, *, sha256: str | None, fix: str) -> dict[bytes, int]:
    """token bytes -> rank, from the `.tiktoken` file at `path`.

    `sha256` is the file's expected hash (None skips the check); `fix` tells the user what to do if
    the file is missing or damaged (e.g. "reinstall mmtok").
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise VocabFileError(str(path), f"cannot read the vocabulary file ({e.strerror or e}); {fix}") from None
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise VocabFileError(
                str(path),
                f"the vocabulary file is damaged or not the expected one: sha256 {actual}, expected {sha256}; {fix}",
            )
    ranks: dict[bytes, int] = {}
    b64decode = base64.b64decode
    for lineno, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise VocabFileError(
                str(path), f"line {lineno} is not 'base64-token rank' ({line[:60]!r}); {fix}"
            ) from None
    return ranks


def load_tiktoken_file(
    path: str | Path,
    *,
    pattern: str = "cl100k",
    special_tokens: dict[str, int] | None = None,
    nfc: bool = False,
):
    """A TiktokenTokenizer over any `.tiktoken` rank file. A rank file holds no pre-tokenizer regex,
    so `pattern` says which one (a name from mmtok.text.patterns or a regex); the default is
    cl100k_base's, right for cl100k-era vocabularies (Llama 3 uses the same), wrong for Qwen
    ("qwen") or o200k ("o200k"). `special_tokens` (spelling -> id) default to none."""
    from .patterns import get_pattern
    from .tiktoken_tokenizer import TiktokenTokenizer

    ranks = read_tiktoken_ranks(path, sha256=None, fix="pass a .tiktoken file (one 'base64-token rank' per line)")
    if not ranks:
        raise VocabFileError(str(path), "holds no ranks; pass a .tiktoken file (one 'base64-token rank' per line)")
    specials = dict(special_tokens or {})
    clash = sorted(set(specials.values()) & set(ranks.values()))
    if clash:
        raise VocabFileError(str(path), f"special-token ids {clash[:5]} are ranks of regular tokens; give ids from {len(ranks)} on")
    regex = get_pattern(pattern)
    try:
        return TiktokenTokenizer(Path(path).name, pattern=regex, ranks=ranks, special_tokens=specials, nfc=nfc)
    except ValueError as e:  # tiktoken's regex engine rejects the pattern
        raise InvalidOptionError(f"pattern {regex!r} is not a regex tiktoken accepts ({e})") from None
