"""What a vocabulary token is made of: digits, CJK, Latin words, code/punctuation, whitespace, raw bytes.

Used by `mmtok lineage` to describe the tokens one vocabulary has and the other lacks (e.g. Qwen's
qwen.tiktoken dropped cl100k_base's 1,100 digit-bearing tokens: its regex splits numbers digit by
digit, so multi-digit tokens could never be produced). The categories follow the spirit of the token
classes of "Fishing for Magikarp" (Land & Bartolo, EMNLP 2024; cohere-ai/magikarp `tokenization.py`),
where a token that is not valid UTF-8 on its own is a separate class.

A token gets the first kind that fits, in this order:

* ``bytes``: not valid UTF-8 by itself (a piece of a multi-byte character);
* ``whitespace``: only whitespace;
* ``digits``: holds a digit (any script's ``\\p{N}``), whatever else it holds;
* ``CJK``: holds a Han, Hiragana, Katakana, Bopomofo or Hangul character;
* ``Latin words``: Latin letters only, with optional leading whitespace (`` the``, ``ing``);
* ``code/punctuation``: ASCII with at least one punctuation or symbol character (``();``, ``.get``);
* ``other scripts``: everything else (Cyrillic, Arabic, Thai, emoji, mixed scripts, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import regex

KINDS = ("digits", "CJK", "Latin words", "code/punctuation", "whitespace", "bytes", "other scripts")

_WHITESPACE = regex.compile(r"\s+")
_DIGIT = regex.compile(r"\p{N}")
_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\p{Hangul}]")
_LATIN_WORD = regex.compile(r"\s*\p{Latin}+")
_ASCII_CODE = regex.compile(r"[\x00-\x7f]*[^\s\p{L}\p{N}][\x00-\x7f]*")


def token_kind(token: bytes) -> str:
    """The kind (one of KINDS) of one token's bytes."""
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes"
    if _WHITESPACE.fullmatch(text):
        return "whitespace"
    if _DIGIT.search(text):
        return "digits"
    if _CJK.search(text):
        return "CJK"
    if _LATIN_WORD.fullmatch(text):
        return "Latin words"
    if text.isascii() and _ASCII_CODE.fullmatch(text):
        return "code/punctuation"
    return "other scripts"


def count_kinds(tokens: Iterable[bytes]) -> dict[str, int]:
    """How many of `tokens` are of each kind, in the order of KINDS (kinds with no token left out)."""
    counts = Counter(token_kind(t) for t in tokens)
    return {kind: counts[kind] for kind in KINDS if counts[kind]}


def group_by_kind(tokens: Iterable[bytes]) -> dict[str, list[bytes]]:
    """`tokens` grouped by kind, in the order of KINDS, each group in the order given."""
    groups: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
    for token in tokens:
        groups[token_kind(token)].append(token)
    return {kind: group for kind, group in groups.items() if group}
