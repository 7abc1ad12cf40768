"""Any local Hugging Face `tokenizer.json`, run by the `tokenizers` library, under tiktoken's policy.

The ids are the `tokenizers` library's own (`Tokenizer.encode(text, add_special_tokens=False)`,
which is also what transformers' PreTrainedTokenizerFast returns): mmtok only adds the special-token
policy of `base.py`. The special tokens are the added tokens marked `special`.

The library matches every added token wherever its spelling appears. To keep special spellings as
ordinary text (`disallowed_special=()`), mmtok encodes with a second copy of the tokenizer whose
`encode_special_tokens` flag is set: the library then skips its special tokens when splitting, so
the normaliser, pre-tokenizer and model see the spelling as plain text. (Removing the tokens from
the JSON instead would renumber the added tokens after them: the library assigns added-token ids in
order on load and ignores the "id" field.) When only some special tokens are allowed and the text
also holds others, mmtok splits the text at the allowed spellings itself, honouring their
lstrip/rstrip flags, and encodes the pieces in between with that copy. Added tokens that are not
special are always matched, as in transformers. mmtok looks for special spellings in the raw text
(as the library does for tokens with normalized=False, which is how special tokens are saved).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import VocabFileError
from .base import NONE, SpecialPolicy, TextTokenizer, special_pattern

# Rust's char::is_whitespace (Unicode White_Space), which the library's lstrip/rstrip use
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map, in which byte-level BPE vocabularies spell tokens."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


class TokenizerJson(TextTokenizer):
    """A tokenizer.json. Use `TokenizerJson.from_file(path)` (or `mmtok.text.get_tokenizer(path)`)."""

    def __init__(self, json_text: str, name: str):
        from tokenizers import Tokenizer

        try:
            spec = json.loads(json_text)
        except json.JSONDecodeError as e:
            raise VocabFileError(
                name, f"is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); pass a tokenizer.json file"
            ) from None
        if not isinstance(spec, dict) or "model" not in spec:
            raise VocabFileError(
                name, "is JSON but not a tokenizer.json (it has no 'model'); pass a tokenizer.json file"
            )
        try:
            full = Tokenizer.from_str(json_text)
        except Exception as e:  # the library raises a bare Exception carrying serde's message
            raise VocabFileError(
                name, f"the tokenizers library cannot load it ({e}); pass a valid tokenizer.json"
            ) from None
        self._prepare(full)
        added = full.get_added_tokens_decoder()
        super().__init__(name, {t.content: i for i, t in sorted(added.items()) if t.special})
        self._json_text = json_text
        self._full = full
        self._added_ids = {t.content: i for i, t in added.items()}
        self._added_id_set = frozenset(added)
        self._strip = {t.content: (t.lstrip, t.rstrip) for t in added.values() if t.special}
        self._plain_tokenizer = None
        self.n_vocab = full.get_vocab_size(with_added_tokens=True)
        self._id_limit = max([self.n_vocab - 1, *added]) + 1
        decoder = spec.get("decoder") or {}
        model = spec["model"] if isinstance(spec["model"], dict) else {}
        byte_level = decoder.get("type") == "ByteLevel" and model.get("type") in ("BPE", "Unigram")
        if byte_level:
            self._to_unicode = bytes_to_unicode()
            self._to_byte = {c: b for b, c in self._to_unicode.items()}
        else:
            self._to_unicode = self._to_byte = None

    @classmethod
    def from_file(cls, path: str | Path) -> TokenizerJson:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise VocabFileError(
                str(path), "is not UTF-8 text, so not a tokenizer.json; pass a tokenizer.json file"
            ) from None
        except OSError as e:
            raise VocabFileError(str(path), f"cannot be read ({e.strerror or e})") from None
        return cls(text, str(path))

    def __reduce__(self):
        return TokenizerJson, (self._json_text, self.name)

    @staticmethod
    def _prepare(tokenizer) -> None:
        # A tokenizer.json may carry truncation or padding settings; encode returns every token.
        tokenizer.no_truncation()
        tokenizer.no_padding()

    @property
    def _plain(self):
        """A copy of the tokenizer that takes special-token spellings as ordinary text (built on first use)."""
        if self._plain_tokenizer is None:
            from tokenizers import Tokenizer

            plain = Tokenizer.from_str(self._json_text)
            self._prepare(plain)
            plain.encode_special_tokens = True
            self._plain_tokenizer = plain
        return self._plain_tokenizer

    # --- encoding ---------------------------------------------------------------------------------

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
    ) -> list[int]:
        allowed = self._allowed_specials(text, allowed_special, disallowed_special)
        ordinary = self._special_set - allowed
        if not ordinary or not special_pattern(ordinary).search(text):
            # no spelling to keep as text: the library's own matching gives the answer
            return self._full.encode(text, add_special_tokens=False).ids
        if not allowed:
            return self._plain.encode(text, add_special_tokens=False).ids
        return self._encode_mixed(text, allowed)

    def _encode_mixed(self, text: str, allowed: frozenset[str]) -> list[int]:
        """Allowed spellings become control tokens, other special spellings stay text."""
        encode = self._plain.encode
        ids: list[int] = []
        start = 0
        for found in special_pattern(allowed).finditer(text):
            token = found.group()
            lstrip, rstrip = self._strip[token]
            before = text[start : found.start()]
            if lstrip:
                before = before.rstrip(_WHITESPACE)
            if before:
                ids += encode(before, add_special_tokens=False).ids
            ids.append(self.special_tokens[token])
            start = found.end()
            if rstrip:
                while start < len(text) and text[start] in _WHITESPACE:
                    start += 1
        if start < len(text):
            ids += encode(text[start:], add_special_tokens=False).ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encode(text, disallowed_special=NONE)

    # --- decoding ---------------------------------------------------------------------------------

    def _check_ids(self, ids: Sequence[int]) -> list[int]:
        if not isinstance(ids, list):
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)  # numpy / torch arrays
        # tokenizers skips unknown ids silently; mmtok names them, as for tiktoken.
        if ids and (min(ids) < 0 or max(ids) >= self._id_limit):
            raise self._bad_id(ids)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._full.decode(self._check_ids(ids), skip_special_tokens=False)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """Exact bytes for a byte-level BPE (the GPT-2 / Qwen kind); otherwise `decode(ids)` as UTF-8."""
        ids = self._check_ids(ids)
        if self._to_byte is None:
            return self.decode(ids).encode("utf-8")
        to_byte = self._to_byte
        out = bytearray()
        for i in ids:
            if i in self._added_id_set:  # the library decodes an added token by itself, not byte by byte
                out += self._full.decode([i], skip_special_tokens=False).encode("utf-8")
            else:
                token = self._full.id_to_token(i)
                if token is None:
                    raise self._bad_id([i])
                for c in token:
                    b = to_byte.get(c)
                    out += c.encode("utf-8") if b is None else bytes((b,))
        return bytes(out)

    def _token_bytes(self, token_id: int) -> bytes | None:
        if not isinstance(token_id, int) or not 0 <= token_id < self._id_limit:
            return None
        if self._full.id_to_token(token_id) is None:
            return None
        return self.decode_bytes([token_id])

    def _regular_token_id(self, token: bytes) -> int | None:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and text in self._added_ids:
            return self._added_ids[text]
        if self._to_unicode is not None:
            return self._full.token_to_id("".join(self._to_unicode[b] for b in token))
        return None if text is None else self._full.token_to_id(text)
