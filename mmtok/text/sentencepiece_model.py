"""SentencePiece `.model` files behind the text-tokenizer interface (optional extra `sentencepiece`).

Reference: google/sentencepiece (Kudo & Richardson 2018, "SentencePiece: A simple and language
independent subword tokenizer"), `SentencePieceProcessor`. The ids are sentencepiece's own
(`encode(text)` with no bos/eos added); mmtok adds only tiktoken's special-token policy (base.py):

* special tokens = the model's control symbols (e.g. <s>, </s>) and its unknown piece (<unk>), as in
  transformers' sentencepiece-based tokenizers. sentencepiece never matches them in text; under
  mmtok's policy their spelling raises SpecialTokenError by default, becomes the control id when
  allowed, and is encoded as ordinary text (sentencepiece's own behaviour) with disallowed_special=().
* user-defined symbols are matched in text wherever they appear, by sentencepiece itself, like the
  non-special added tokens of a tokenizer.json.

`decode` is sentencepiece's decode of the runs of ordinary ids, with each special id written as its
spelling (sentencepiece itself drops control ids; transformers' skip_special_tokens=False keeps them).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import MissingDependencyError, VocabFileError
from .base import NONE, SpecialPolicy, TextTokenizer, special_pattern


class SentencePieceTokenizer(TextTokenizer):
    """A SentencePiece model. Use `SentencePieceTokenizer.from_file(path)` or `get_tokenizer(path)`."""

    def __init__(self, model_proto: bytes, name: str):
        try:
            import sentencepiece as spm
        except ImportError:
            raise MissingDependencyError("sentencepiece", "loading SentencePiece .model files", "sentencepiece") from None
        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(model_proto)
        except Exception as e:  # RuntimeError / OSError with sentencepiece's message
            raise VocabFileError(name, f"is not a SentencePiece model ({e}); pass a .model file made by sentencepiece") from None
        self._sp = processor
        self._proto = model_proto
        size = processor.get_piece_size()
        specials = {
            processor.id_to_piece(i): i for i in range(size) if processor.is_control(i) or processor.is_unknown(i)
        }
        super().__init__(name, specials)
        self.n_vocab = size

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> SentencePieceTokenizer:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise VocabFileError(str(path), f"cannot be read ({e.strerror or e})") from None
        return cls(data, str(path))

    def __reduce__(self):
        return SentencePieceTokenizer, (self._proto, self.name)

    @property
    def processor(self):
        """The underlying sentencepiece.SentencePieceProcessor."""
        return self._sp

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
    ) -> list[int]:
        allowed = self._allowed_specials(text, allowed_special, disallowed_special)
        if not allowed:
            return self._sp.encode(text)
        ids: list[int] = []
        start = 0
        for found in special_pattern(allowed).finditer(text):
            if found.start() > start:
                ids += self._sp.encode(text[start : found.start()])
            ids.append(self.special_tokens[found.group()])
            start = found.end()
        if start < len(text):
            ids += self._sp.encode(text[start:])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def _check(self, ids: Sequence[int]) -> list[int]:
        if not isinstance(ids, list):
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        for i in ids:
            if not isinstance(i, int) or not 0 <= i < self.n_vocab:
                raise self._bad_id([i])
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        ids = self._check(ids)
        out, run = [], []
        for i in ids:
            if i in self._special_by_id:
                if run:
                    out.append(self._sp.decode(run))
                    run = []
                out.append(self._special_by_id[i])
            else:
                run.append(i)
        if run:
            out.append(self._sp.decode(run))
        return "".join(out)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """`decode(ids)` as UTF-8 (sentencepiece decodes byte-fallback pieces itself)."""
        return self.decode(ids).encode("utf-8")

    def _token_bytes(self, token_id: int) -> bytes | None:
        if not isinstance(token_id, int) or not 0 <= token_id < self.n_vocab:
            return None
        piece = self._sp.id_to_piece(token_id)
        if self._sp.is_byte(token_id):  # "<0xNN>"
            return bytes((int(piece[3:5], 16),))
        return piece.replace("\u2581", " ").encode("utf-8")

    def _regular_token_id(self, token: bytes) -> int | None:
        try:
            piece = token.decode("utf-8").replace(" ", "\u2581")
        except UnicodeDecodeError:
            return None
        i = self._sp.piece_to_id(piece)
        if self._sp.is_unknown(i) and piece != self._sp.id_to_piece(i):
            return None
        return None if i in self._special_by_id else i
