"""A text tokenizer whose BPE engine is tiktoken, with optional NFC normalisation (Qwen2 needs it).

`encode` is a thin layer over `tiktoken.Encoding.encode`: the special-token check (which tiktoken
would do itself, at the same cost), one `nfc.to_nfc` call when NFC is on, and then tiktoken with its
own check turned off. `to_nfc` returns the very same object when the text is already NFC: ASCII at
once, and long text that CPython's quick check cannot decide (the Devanagari nukta, the Tamil vowel
sign AA: CPython would normalise it in full, about a third of tiktoken's encode time) through an
exact table test of where a composition could happen (see nfc.py).

NFC follows the Hugging Face pipeline of Qwen2's tokenizer.json: special tokens are matched in the
raw text first and the NFC normalizer runs on the text between them, never across a special token.
That matters: NFC turns ">" + U+0338 into "≯", so normalising "<|im_end|>\u0338" as a whole would
destroy the control token. When the text is already NFC (the common case), every piece between
special spellings is NFC too, so tiktoken can split and encode the whole text in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

import tiktoken

from .base import NONE, SpecialPolicy, TextTokenizer, special_pattern
from .nfc import to_nfc


class TiktokenTokenizer(TextTokenizer):
    """`ranks` (token bytes -> id) and `special_tokens` (spelling -> id) run by tiktoken with `pattern`
    as the pre-tokenizer regex; `nfc=True` normalises text to NFC before BPE."""

    def __init__(
        self,
        name: str,
        *,
        pattern: str,
        ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        nfc: bool = False,
        registered: bool = False,
    ):
        super().__init__(name, special_tokens)
        self.pattern = pattern
        self.nfc = nfc
        self.n_vocab = len(ranks) + len(special_tokens)
        self._ranks = ranks
        self._registered = registered
        self._encoding = tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special_tokens)

    def __reduce__(self):
        # A registered tokenizer travels to worker processes by name (its vocabulary ships with mmtok).
        if self._registered:
            from . import get_tokenizer

            return get_tokenizer, (self.name,)
        return _rebuild, (self.name, self.pattern, self._ranks, self.special_tokens, self.nfc)

    @property
    def encoding(self) -> tiktoken.Encoding:
        """The underlying tiktoken Encoding (it does no NFC; use `encode` for Qwen2's exact ids)."""
        return self._encoding

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
    ) -> list[int]:
        allowed = self._allowed_specials(text, allowed_special, disallowed_special)
        if self.nfc:
            normalized = to_nfc(text)
            if normalized is not text and normalized != text:
                if not allowed:
                    return self._encoding.encode_ordinary(normalized)
                return self._encode_normalising(text, allowed)
        # Our check has run; tiktoken's (the same regex search) is turned off with disallowed_special=().
        return self._encoding.encode(text, allowed_special=allowed, disallowed_special=())

    def _encode_normalising(self, text: str, allowed: frozenset[str]) -> list[int]:
        """Text that is not NFC: normalise the pieces between allowed special spellings, one by one."""
        encode = self._encoding.encode_ordinary
        ids: list[int] = []
        start = 0
        for found in special_pattern(allowed).finditer(text):
            if found.start() > start:
                ids += encode(to_nfc(text[start : found.start()]))
            ids.append(self.special_tokens[found.group()])
            start = found.end()
        if start < len(text):
            ids += encode(to_nfc(text[start:]))
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        return self._encoding.encode_ordinary(to_nfc(text) if self.nfc else text)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        if not isinstance(ids, list):
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)  # numpy / torch arrays
        try:
            return self._encoding.decode_bytes(ids)
        except (KeyError, OverflowError, TypeError):
            raise self._bad_id(ids) from None

    def _token_bytes(self, token_id: int) -> bytes | None:
        try:
            return self._encoding.decode_single_token_bytes(token_id)
        except (KeyError, OverflowError, TypeError):
            return None

    def _regular_token_id(self, token: bytes) -> int | None:
        return self._ranks.get(token)


def _rebuild(name, pattern, ranks, special_tokens, nfc) -> TiktokenTokenizer:
    return TiktokenTokenizer(name, pattern=pattern, ranks=ranks, special_tokens=special_tokens, nfc=nfc)
