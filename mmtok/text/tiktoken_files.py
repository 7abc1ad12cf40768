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

from ..errors import VocabFileError


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
