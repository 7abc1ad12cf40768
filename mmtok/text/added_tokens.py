"""Adding multimodal special tokens (<image>, </image>, <video>, <audio>, region tokens <r0>...) to an
existing text tokenizer, as LLaVA (Liu et al. 2023) adds <image> and Kosmos-2 (Peng et al. 2023) adds
its location tokens <loc_0>...: each new spelling becomes one atomic special token with a new id.

Rules:

* New ids are appended after the tokenizer's current largest id (regular or special), in the order
  given, so they never collide with an existing id and existing ids never move.
* A spelling that is already a token (special, added, or a regular vocabulary entry spelled exactly
  so) keeps its id and is reported as existing. In a tokenizer.json an existing regular token also
  becomes special (atomic); tiktoken cannot give one id two roles, so there it stays a regular token.
* tokenizer.json tokenizers (trained by mmtok, or any checkpoint's) get a new tokenizer.json, written
  through the `tokenizers` library's own add_special_tokens and checked after a reload. transformers
  loads it with the same ids.
* tiktoken tokenizers (qwen2, a .tiktoken file) get a new in-memory TiktokenTokenizer; with `out`,
  mmtok also writes the equivalent tokenizer.json (ranks converted as in bpe_files.py), which needs
  ranks 0..n-1 and special ids in a row (qwen2: yes; cl100k_base: no, it has a gap).
* SentencePiece models are not edited (their .model protobuf has no "added token" notion): convert
  the model to a tokenizer.json first (transformers' convert_slow_tokenizer), then add tokens.

What the model then needs (the tokenizer change alone is not enough): the input embedding matrix (and
an untied output head) must get one new row per new id, up to the largest new id + 1, e.g.
`model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)` in transformers (a multiple of
64 or 128 keeps matrix shapes fast on GPUs; the padding rows are never produced by the tokenizer).
Initialise the new rows to the mean of the existing rows (transformers >= 4.46 does this by default,
with a small covariance-matched noise) rather than at random, so the untrained tokens start near the
average embedding and do not dominate the first steps; then train them (the embeddings at least).
Checkpoints often already have spare rows (Qwen2-VL-2B's embedding has 151,936 rows, 7B's 152,064,
for at most 151,665 tokenizer ids): an id below the embedding size needs no resize, but its row is
untrained, so initialise it the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidOptionError
from .base import TextTokenizer

#: the multimodal markers most vision/audio-language models use; region tokens are made by region_tokens()
MULTIMODAL_TOKENS = ("<image>", "</image>", "<video>", "</video>", "<audio>", "</audio>")


def region_tokens(n: int, template: str = "<r{}>") -> list[str]:
    """Region/location token spellings: <r0>, <r1>, ... <r{n-1}> (Kosmos-2 style)."""
    if n < 0:
        raise InvalidOptionError(f"the number of region tokens must be >= 0; got {n}")
    return [template.format(i) for i in range(n)]


@dataclass
class AddedTokens:
    """What add_special_tokens did: `ids` (every requested spelling -> its id), which were `new` and
    which `existing`, the extended `tokenizer`, and the written `path` (or None)."""

    tokenizer: TextTokenizer
    ids: dict[str, int]
    new: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    path: Path | None = None

    def to_dict(self) -> dict:
        return {
            "tokenizer": self.tokenizer.name,
            "ids": self.ids,
            "new": self.new,
            "existing": self.existing,
            "n_vocab": self.tokenizer.n_vocab,
            "max_id": max_id(self.tokenizer),
            "path": str(self.path) if self.path is not None else None,
        }


def max_id(tokenizer: TextTokenizer) -> int:
    """The largest id `tokenizer` can produce."""
    from .tiktoken_tokenizer import TiktokenTokenizer
    from .tokenizer_json import TokenizerJson

    if isinstance(tokenizer, TokenizerJson):
        return tokenizer._id_limit - 1
    if isinstance(tokenizer, TiktokenTokenizer):
        return max([max(tokenizer._ranks.values()), *tokenizer.special_tokens.values()])
    return tokenizer.n_vocab - 1


def _check_tokens(tokens: Sequence[str]) -> list[str]:
    if isinstance(tokens, str):
        tokens = [tokens]
    tokens = list(dict.fromkeys(tokens))
    if not tokens:
        raise InvalidOptionError("no tokens to add; pass at least one spelling, e.g. '<image>'")
    for token in tokens:
        if not isinstance(token, str) or not token or token != token.strip():
            raise InvalidOptionError(
                f"cannot add the token {token!r}: a special token must be a non-empty string without leading or "
                "trailing whitespace"
            )
    return tokens


def add_special_tokens(
    tokenizer: TextTokenizer | str | os.PathLike, tokens: Sequence[str], *, out: str | os.PathLike | None = None
) -> AddedTokens:
    """Add `tokens` as special tokens to `tokenizer` (an mmtok tokenizer, a registered name or a
    vocabulary path); with `out`, write the result as a tokenizer.json. See the module docstring for
    the id rules and what the model's embedding matrix then needs."""
    from . import get_tokenizer
    from .sentencepiece_model import SentencePieceTokenizer
    from .tiktoken_tokenizer import TiktokenTokenizer
    from .tokenizer_json import TokenizerJson

    if not isinstance(tokenizer, TextTokenizer):
        tokenizer = get_tokenizer(tokenizer)
    tokens = _check_tokens(tokens)
    if isinstance(tokenizer, TokenizerJson):
        return _add_to_json(tokenizer, tokens, out)
    if isinstance(tokenizer, TiktokenTokenizer):
        return _add_to_tiktoken(tokenizer, tokens, out)
    if isinstance(tokenizer, SentencePieceTokenizer):
        raise InvalidOptionError(
            f"{tokenizer.name}: mmtok does not edit SentencePiece .model files; convert it to a tokenizer.json "
            "(transformers: AutoTokenizer.from_pretrained(...).save_pretrained(dir)) and add the tokens to that"
        )
    raise InvalidOptionError(f"{tokenizer.name}: adding tokens to a {type(tokenizer).__name__} is not supported")


def _add_to_json(tokenizer, tokens: list[str], out) -> AddedTokens:
    from tokenizers import AddedToken, Tokenizer

    from .tokenizer_json import TokenizerJson

    engine = Tokenizer.from_str(tokenizer._json_text)
    existing = {t: engine.token_to_id(t) for t in tokens if engine.token_to_id(t) is not None}
    new = [t for t in tokens if t not in existing]
    next_id = max_id(tokenizer) + 1
    fresh = {t: next_id + k for k, t in enumerate(new)}
    expected = {t: existing[t] if t in existing else fresh[t] for t in tokens}
    engine.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tokens])
    json_text = engine.to_str(pretty=True)
    name = str(out) if out is not None else tokenizer.name
    result = TokenizerJson(json_text, name)  # reloaded: the ids below are what a reader of the file gets
    got = {t: result.token_to_id(t) for t in tokens}
    if got != expected:
        raise InvalidOptionError(
            f"{tokenizer.name}: the tokenizers library gave the new tokens ids {got}, not the expected {expected}; "
            "the tokenizer.json has added tokens out of id order, so new ids cannot be appended safely"
        )
    path = None
    if out is not None:
        path = Path(out)
        path.write_text(json_text, encoding="utf-8")
    return AddedTokens(result, expected, new, list(existing), path)


def _add_to_tiktoken(tokenizer, tokens: list[str], out) -> AddedTokens:
    from .bpe_files import tiktoken_to_tokenizer_json
    from .tiktoken_tokenizer import TiktokenTokenizer

    specials = dict(tokenizer.special_tokens)
    existing = {}
    for t in tokens:
        i = tokenizer.token_to_id(t)
        if i is not None:
            existing[t] = i
    new = [t for t in tokens if t not in existing]
    next_id = max_id(tokenizer) + 1
    fresh = {t: next_id + k for k, t in enumerate(new)}
    ids = {t: existing[t] if t in existing else fresh[t] for t in tokens}
    ranks = tokenizer._ranks
    # a spelling that is a regular token keeps its rank; tiktoken cannot have one id twice, so it stays regular
    specials.update({t: i for t, i in ids.items() if t in new or t in specials})
    extended = TiktokenTokenizer(
        f"{tokenizer.name}+{len(new)}", pattern=tokenizer.pattern, ranks=ranks, special_tokens=specials, nfc=tokenizer.nfc
    )
    path = None
    if out is not None:
        from .tokenizer_json import TokenizerJson

        json_text = tiktoken_to_tokenizer_json(ranks, tokenizer.pattern, specials, nfc=tokenizer.nfc, name=tokenizer.name)
        path = Path(out)
        path.write_text(json_text, encoding="utf-8")
        extended = TokenizerJson(json_text, str(path))
    return AddedTokens(extended, ids, new, list(existing), path)
