"""Named pre-tokenizer regexes: how byte-level BPE vocabularies cut text into pieces before merging.

Sources (copied verbatim; each is the string a public tokenizer runs):

* ``gpt2`` (also r50k_base, p50k_base): OpenAI's GPT-2 `encoder.py` and the `pat_str` of `gpt2()` in
  tiktoken's `tiktoken_ext/openai_public.py` before tiktoken 0.8; the `tokenizers` library's
  ByteLevel pre-tokenizer (use_regex=True) runs the same regex.
* ``cl100k`` (aliases ``gpt4``, ``llama3``): the `pat_str` of `cl100k_base()` in tiktoken's
  openai_public.py up to 0.7, which is also Meta's `llama/tokenizer.py` (meta-llama/llama3) `pat_str`,
  the Split pre-tokenizer of Llama 3's tokenizer.json and the default of transformers'
  `TikTokenConverter`. **Llama 3's regex is cl100k's**, so ``llama3`` is an alias.
* ``o200k`` (alias ``gpt4o``): the `pat_str` of `o200k_base()` in tiktoken 0.14's openai_public.py.
* ``qwen`` (alias ``qwen2``): `PAT_STR` of Qwen's `tokenization_qwen.py` and the Split pre-tokenizer of
  Qwen2's tokenizer.json (one digit per piece: ``\\p{N}``, not ``\\p{N}{1,3}``).

Spelling matters. tiktoken >= 0.8 spells cl100k's and GPT-2's regexes with possessive quantifiers
(``\\p{L}++``, ``\\p{N}{1,3}+``, ``\\s++$``) for speed. The `tokenizers` library runs Oniguruma with
Ruby syntax, where ``{1,3}+`` is *not* possessive but "one or more groups of 1-3 digits": tiktoken
0.14's own cl100k string turns "12345" into one piece there, instead of "123" + "45".
`tokenizers_pattern()` rewrites those two tiktoken spellings into ones Oniguruma reads the same way
(``\\p{N}{1,3}`` for ``\\p{N}{1,3}+``; the other possessive forms mean the same in Ruby syntax).
The new cl100k spelling also cuts one case differently from the old one: a whitespace run at the very
end of the text that holds a newline and then spaces is one piece (``\\s++$``) instead of two. BPE
re-splits it, so with cl100k's own vocabulary the ids agree (tested); a vocabulary trained with one
spelling can differ in such a token from one trained with the other. mmtok's ``cl100k`` is the old,
Llama 3 spelling, the one found in tokenizer.json files.
"""

from __future__ import annotations

from ..errors import UnknownNameError
from .qwen2 import QWEN_PATTERN

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

#: tiktoken 0.14's possessive spellings (openai_public.py) -> the same regexes as Oniguruma must see them
TIKTOKEN_SPELLINGS = {
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""": (  # noqa: E501
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501
    ),
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s""": (
        r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
    ),
}

#: the names of the tiktoken spellings
_TIKTOKEN_NAMES = dict(zip(TIKTOKEN_SPELLINGS, ("cl100k", "gpt2")))

PATTERNS: dict[str, str] = {
    "gpt2": GPT2_PATTERN,
    "cl100k": CL100K_PATTERN,
    "o200k": O200K_PATTERN,
    "qwen": QWEN_PATTERN,
}

ALIASES = {
    "r50k": "gpt2",
    "p50k": "gpt2",
    "gpt4": "cl100k",
    "cl100k_base": "cl100k",
    "llama3": "cl100k",
    "gpt4o": "o200k",
    "o200k_base": "o200k",
    "qwen2": "qwen",
}


def pattern_names() -> list[str]:
    """The pattern names and aliases get_pattern accepts."""
    return sorted([*PATTERNS, *ALIASES])


def get_pattern(name_or_regex: str) -> str:
    """The regex named `name_or_regex` (case-insensitive: gpt2, cl100k/gpt4/llama3, o200k, qwen); a
    string that is not a name is taken as a regex itself (it must contain a regex metacharacter)."""
    key = name_or_regex.strip().lower()
    key = ALIASES.get(key, key)
    if key in PATTERNS:
        return PATTERNS[key]
    if any(c in name_or_regex for c in "\\|[(?+*"):
        return tokenizers_pattern(name_or_regex)
    raise UnknownNameError("pre-tokenizer pattern", name_or_regex, pattern_names())


def pattern_name(regex: str) -> str | None:
    """The canonical name of `regex` (either spelling), or None for a custom regex."""
    if regex in _TIKTOKEN_NAMES:
        return _TIKTOKEN_NAMES[regex]
    return next((name for name, p in PATTERNS.items() if p == regex), None)


def tokenizers_pattern(regex: str) -> str:
    """`regex` as the `tokenizers` library (Oniguruma) must see it: tiktoken 0.14's spellings of cl100k
    and GPT-2 are rewritten to read the same in Oniguruma; other regexes are returned unchanged."""
    return TIKTOKEN_SPELLINGS.get(regex, regex)
