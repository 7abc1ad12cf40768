"""The interface every text tokenizer offers, and tiktoken's special-token policy, written once.

The policy is tiktoken's (`tiktoken/core.py`, `Encoding.encode`): text that spells a special token is
an error unless the caller says what it means. `allowed_special` names the spellings that become
control tokens ("all" for every one); `disallowed_special` names the spellings that raise ("all", the
default, means every special token not allowed); a spelling in neither set is encoded as ordinary
text, so `disallowed_special=()` turns the check off. Backends call `_allowed_specials` first and then
only have to encode with a known set of allowed spellings.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Literal

from ..errors import InvalidOptionError, SpecialTokenError, TokenIdError, UnknownNameError

#: what `allowed_special` / `disallowed_special` accept: "all", or a collection of spellings
SpecialPolicy = Literal["all"] | Collection[str]

NONE: frozenset[str] = frozenset()


@lru_cache(maxsize=64)
def special_pattern(spellings: frozenset[str]) -> re.Pattern[str]:
    """A regex matching any of `spellings`, longest first so that no spelling shadows a longer one."""
    return re.compile("|".join(re.escape(s) for s in sorted(spellings, key=lambda s: (-len(s), s))))


def _as_set(value: SpecialPolicy, option: str) -> frozenset[str]:
    if isinstance(value, str):
        # frozenset("<|im_end|>") would be a set of characters; tiktoken takes only the word "all".
        raise InvalidOptionError(
            f"{option} must be 'all' or a collection of special-token spellings; got the string {value!r}"
            f" (did you mean {option}={{{value!r}}}?)"
        )
    return value if isinstance(value, frozenset) else frozenset(value)


class TextTokenizer(ABC):
    """Text <-> token ids. Subclasses wrap one engine (tiktoken, the `tokenizers` library).

    `special_tokens` maps each special-token spelling to its id; `n_vocab` counts the regular tokens
    plus the special ones (ids need not be contiguous: cl100k_base has a gap before <|endofprompt|>).
    """

    name: str
    n_vocab: int
    special_tokens: dict[str, int]

    def __init__(self, name: str, special_tokens: dict[str, int]):
        self.name = name
        self.special_tokens = dict(special_tokens)
        self._special_set = frozenset(self.special_tokens)
        self._special_by_id = {i: s for s, i in self.special_tokens.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} n_vocab={self.n_vocab}>"

    # --- the special-token policy -----------------------------------------------------------------

    def _allowed_specials(
        self, text: str, allowed_special: SpecialPolicy, disallowed_special: SpecialPolicy
    ) -> frozenset[str]:
        """The special spellings to encode as control tokens; raises SpecialTokenError as tiktoken does."""
        if allowed_special == "all":
            allowed = self._special_set
        else:
            allowed = _as_set(allowed_special, "allowed_special")
            if allowed and not allowed <= self._special_set:
                allowed &= self._special_set  # tiktoken ignores names that are not special tokens
        if disallowed_special == "all":
            disallowed = self._special_set - allowed if allowed else self._special_set
        else:
            disallowed = _as_set(disallowed_special, "disallowed_special")
        if disallowed:
            found = special_pattern(disallowed).search(text)
            if found:
                raise SpecialTokenError(found.group())
        return allowed

    # --- encoding ---------------------------------------------------------------------------------

    @abstractmethod
    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
    ) -> list[int]:
        """Token ids of `text`. A special-token spelling in `text` raises SpecialTokenError unless it
        is allowed (then it is the control token) or not disallowed (then it is ordinary text)."""

    @abstractmethod
    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of `text` with every special-token spelling taken as ordinary text."""

    def encode_batch(
        self,
        texts: Iterable[str],
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
        num_threads: int = 8,
    ) -> list[list[int]]:
        """`encode` of each text, on `num_threads` threads (the engines release the GIL while encoding)."""

        def one(text: str) -> list[int]:
            return self.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)

        texts = list(texts)
        if num_threads <= 1 or len(texts) < 2:
            return [one(t) for t in texts]
        with ThreadPoolExecutor(num_threads) as pool:
            return list(pool.map(one, texts))

    # --- decoding ---------------------------------------------------------------------------------

    @abstractmethod
    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes that `ids` stand for (which need not be valid UTF-8 when cut mid-character)."""

    def decode(self, ids: Sequence[int]) -> str:
        """The text of `ids`; bytes that are not valid UTF-8 become U+FFFD (tiktoken's errors="replace")."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def _bad_id(self, ids: Sequence[int]) -> TokenIdError:
        """The error for ids the engine rejected, naming the first one that is not in the vocabulary."""
        for i in ids:
            if not isinstance(i, int) or self._token_bytes(i) is None:
                return TokenIdError(self.name, i, self.n_vocab)
        return TokenIdError(self.name, None, self.n_vocab)

    @abstractmethod
    def _token_bytes(self, token_id: int) -> bytes | None:
        """The bytes of one id, or None if the id is not in the vocabulary."""

    # --- single tokens ----------------------------------------------------------------------------

    def token_to_id(self, token: str | bytes) -> int | None:
        """The id of a special token, or of a regular token given as its text (or bytes); None if
        `token` is neither (e.g. text that is more than one token)."""
        if isinstance(token, str) and token in self.special_tokens:
            return self.special_tokens[token]
        return self._regular_token_id(token.encode("utf-8") if isinstance(token, str) else bytes(token))

    @abstractmethod
    def _regular_token_id(self, token: bytes) -> int | None:
        """The id of the regular (non-special) token with these bytes, or None."""

    def special_id(self, token: str) -> int:
        """The id of the special token `token`; UnknownNameError (listing this tokenizer's special
        tokens) if it is not one."""
        try:
            return self.special_tokens[token]
        except (KeyError, TypeError):
            raise UnknownNameError(f"special token of {self.name}", token, list(self.special_tokens)) from None

    def is_special_id(self, token_id: int) -> bool:
        return token_id in self._special_by_id
