"""Any loadable tokenizer as a plain vocabulary: regular tokens id -> bytes, special tokens name -> id,
BPE merges when the model has them, and the pre-tokenizer regex and normaliser when they are known.

This is feature 1 of the lineage brief (../shared/research/discrete.md, section B6): canonicalise every
vocabulary to bytes before comparing, so that a tiktoken rank file, a byte-level tokenizer.json and a
SentencePiece model can be set side by side.

* tiktoken ranks (registered names such as "qwen2" and "cl100k_base", or a `.tiktoken` file): the
  ranks are the ids and the keys are the bytes. Merges are not stored; they are recovered as
  karpathy/minbpe's `gpt4.py` `recover_merges` does (for each token, in rank order, run BPE on its
  bytes with only the lower ranks; the two parts left are the merge), lazily and only for the first
  `k` merges asked for.
* tokenizer.json (the Hugging Face `tokenizers` format): a byte-level model's tokens are spelt in
  GPT-2's `bytes_to_unicode` alphabet, undone here; a SentencePiece-style model's "▁" is a space and
  `<0xNN>` is the byte NN. Added tokens (special or not) are the special tokens; the rest of the
  model's vocabulary is regular. BPE merges come from the file. WordPiece tokens are kept as spelt.
* a SentencePiece `.model` file (needs the `sentencepiece` package): control and unknown pieces are
  special, byte pieces `<0xNN>` are bytes, "▁" is a space.
* any other tokenizer `mmtok.text.get_tokenizer` returns: every id's bytes through the interface.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MissingDependencyError, UnknownNameError, VocabFileError

__all__ = ["Vocabulary", "load_vocabulary", "recover_merges"]

#: GPT-2's pre-tokenizer regex: what a ByteLevel pre-tokenizer with use_regex=True splits on
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@dataclass
class Vocabulary:
    """One tokenizer's vocabulary, in bytes. `tokens` lists the regular tokens in id order and `ids`
    their ids (ascending; not always 0..n-1: a tokenizer.json may put special tokens first)."""

    name: str
    source: str  # "tiktoken", "tokenizer.json", "sentencepiece", or the tokenizer class
    tokens: list[bytes]
    ids: list[int]
    specials: dict[str, int]
    model: str = "BPE"
    pattern: str | None = None
    normalizer: str | None = None
    explicit_merges: list[tuple[bytes, bytes]] | None = None
    _ranks: dict[bytes, int] | None = field(default=None, repr=False)
    _merge_cache: list = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def byte_order(self) -> str | None:
        """How the first 256 tokens number the 256 single bytes: "identity" (id order = byte value),
        "GPT-2" (the order of GPT-2's bytes_to_unicode characters, as in tiktoken files and the
        `tokenizers` byte-level trainer), "other"; None if the first 256 tokens are not the bytes."""
        first = self.tokens[:256]
        if len(first) < 256 or any(len(t) != 1 for t in first) or len(set(first)) != 256:
            return None
        values = [t[0] for t in first]
        if values == list(range(256)):
            return "identity"
        from .tokenizer_json import bytes_to_unicode

        chars = bytes_to_unicode()
        return "GPT-2" if values == sorted(range(256), key=chars.__getitem__) else "other"

    @property
    def has_merges(self) -> bool:
        return self.explicit_merges is not None or self._ranks is not None

    def merges(self, limit: int | None = None) -> list[tuple[bytes, bytes] | None] | None:
        """The first `limit` merges (all if None), as byte pairs; None if the model has no merge list.
        A merge recovered from ranks is None where the ranks are not a BPE (the token's bytes do not
        end in exactly two parts)."""
        if self.explicit_merges is not None:
            return self.explicit_merges[:limit]
        if self._ranks is None:
            return None
        want = len(self.tokens) if limit is None else limit
        if len(self._merge_cache) < want:
            self._merge_cache = recover_merges(self._ranks, self.tokens, want)
        return self._merge_cache[:want]


def recover_merges(ranks: dict[bytes, int], ordered: list[bytes], limit: int) -> list[tuple[bytes, bytes] | None]:
    """The first `limit` merges implied by tiktoken `ranks` (karpathy/minbpe gpt4.py `recover_merges`):
    for each multi-byte token of `ordered` (the tokens in rank order), BPE on its bytes with only the
    ranks below its own; the two parts left are its merge (None if not exactly two are left)."""
    get = ranks.get
    merges: list[tuple[bytes, bytes] | None] = []
    for token in ordered:
        if len(merges) >= limit:
            break
        if len(token) < 2:
            continue
        max_rank = ranks[token]
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best_rank, best = max_rank, -1
            for i in range(len(parts) - 1):
                rank = get(parts[i] + parts[i + 1])
                if rank is not None and rank < best_rank:
                    best_rank, best = rank, i
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        merges.append((parts[0], parts[1]) if len(parts) == 2 else None)
    return merges


def load_vocabulary(name_or_path: str | os.PathLike) -> Vocabulary:
    """The vocabulary of a registered tokenizer name, or of any file `mmtok.text.get_tokenizer` loads:
    a tokenizer.json (or a folder holding one), a `.tiktoken` rank file, a SentencePiece `.model`
    file, a GPT-2 vocab.json + merges.txt."""
    from . import ENCODINGS, get_tokenizer

    if isinstance(name_or_path, str) and name_or_path in ENCODINGS:
        return from_tokenizer(get_tokenizer(name_or_path))
    path = Path(name_or_path)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        path = path / "tokenizer.json"
    if path.is_file() and path.suffix == ".tiktoken":
        return from_tiktoken_file(path)
    if path.is_file() and path.suffix == ".model":
        return from_sentencepiece(path)
    if path.is_file() and path.suffix == ".json" and path.name != "vocab.json":
        # a tokenizer.json: read the vocabulary from the JSON itself (building the library's tokenizer
        # would take longer than the whole comparison); anything unexpected goes the checked way below
        try:
            text = path.read_text(encoding="utf-8")
            spec = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError):
            spec = None
        if isinstance(spec, dict) and isinstance(spec.get("model"), dict):
            return from_tokenizer_json(text, str(name_or_path))
    if not path.exists():
        error = UnknownNameError("text tokenizer", str(name_or_path), ENCODINGS.names())
        error.args = (
            f"{error.args[0]}; or pass the path of a tokenizer.json (or its folder), a .tiktoken rank file, a "
            f"SentencePiece .model file or a vocab.json + merges.txt (there is no file {str(path)!r})",
        )
        raise error
    return from_tokenizer(get_tokenizer(name_or_path))


def from_tiktoken_file(path: str | Path) -> Vocabulary:
    """A bare `.tiktoken` rank file (no special tokens, no regex: the file holds neither)."""
    from .tiktoken_files import read_tiktoken_ranks

    ranks = read_tiktoken_ranks(path, sha256=None, fix="pass a tiktoken rank file ('base64-token rank' per line)")
    return _from_ranks(Path(path).name, "tiktoken", ranks, {}, None, None)


def _from_ranks(name, source, ranks, specials, pattern, normalizer) -> Vocabulary:
    ordered = sorted(ranks.items(), key=lambda kv: kv[1])
    return Vocabulary(
        name,
        source,
        tokens=[t for t, _ in ordered],
        ids=[i for _, i in ordered],
        specials=dict(specials),
        pattern=pattern,
        normalizer=normalizer,
        _ranks=ranks,
    )


def from_tokenizer(tokenizer) -> Vocabulary:
    """The vocabulary of a `TextTokenizer` (as `mmtok.text.get_tokenizer` returns)."""
    from .tiktoken_tokenizer import TiktokenTokenizer
    from .tokenizer_json import TokenizerJson

    if isinstance(tokenizer, TiktokenTokenizer):
        ranks = tokenizer._ranks  # the rank dict the tokenizer was built from (read-only here)
        normalizer = "NFC" if tokenizer.nfc else None
        return _from_ranks(tokenizer.name, "tiktoken", ranks, tokenizer.special_tokens, tokenizer.pattern, normalizer)
    if isinstance(tokenizer, TokenizerJson):
        return from_tokenizer_json(tokenizer._json_text, tokenizer.name)
    # Any other tokenizer: ask it for each id's bytes.
    special_ids = set(tokenizer.special_tokens.values())
    ids, tokens = [], []
    for i in range(tokenizer.n_vocab + len(special_ids)):
        if i in special_ids:
            continue
        token = tokenizer._token_bytes(i)
        if token is not None:
            ids.append(i)
            tokens.append(token)
    return Vocabulary(tokenizer.name, type(tokenizer).__name__, tokens, ids, dict(tokenizer.special_tokens), model="?")


def from_tokenizer_json(json_text: str, name: str) -> Vocabulary:
    """The vocabulary of a tokenizer.json's text."""
    spec = json.loads(json_text)
    model = spec["model"]
    kind = model.get("type") or ("BPE" if "merges" in model else "?")
    added = {t["content"]: t["id"] for t in spec.get("added_tokens") or []}
    added_ids = set(added.values())
    vocab = model.get("vocab") or {}
    pieces = [(p[0], i) for i, p in enumerate(vocab)] if isinstance(vocab, list) else list(vocab.items())
    byte_level = _has_type(spec.get("pre_tokenizer"), "ByteLevel") or _has_type(spec.get("decoder"), "ByteLevel")
    if byte_level:
        from .tokenizer_json import bytes_to_unicode

        to_byte = {c: b for b, c in bytes_to_unicode().items()}

        def to_bytes(piece: str) -> bytes:
            return b"".join(bytes((to_byte[c],)) if c in to_byte else c.encode("utf-8") for c in piece)
    else:

        def to_bytes(piece: str) -> bytes:
            found = _BYTE_PIECE.fullmatch(piece)
            if found:
                return bytes((int(found.group(1), 16),))
            return piece.replace("\u2581", " ").encode("utf-8")

    regular = sorted((i, to_bytes(p)) for p, i in pieces if i not in added_ids)
    merges = None
    if kind == "BPE" and "merges" in model:
        merges = []
        for m in model["merges"]:
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            merges.append((to_bytes(a), to_bytes(b)))
    return Vocabulary(
        name,
        "tokenizer.json",
        tokens=[t for _, t in regular],
        ids=[i for i, _ in regular],
        specials=added,
        model=kind,
        pattern=_pattern(spec.get("pre_tokenizer")),
        normalizer=_normalizer(spec.get("normalizer")),
        explicit_merges=merges,
    )


def _parts(node) -> list[dict]:
    """A tokenizer.json component and, for a Sequence, its members (flattened)."""
    if not isinstance(node, dict):
        return []
    members = node.get("pretokenizers") or node.get("normalizers") or node.get("decoders")
    if node.get("type") == "Sequence" and isinstance(members, list):
        return [p for m in members for p in _parts(m)]
    return [node]


def _has_type(node, kind: str) -> bool:
    return any(p.get("type") == kind for p in _parts(node))


def _pattern(pre_tokenizer) -> str | None:
    for part in _parts(pre_tokenizer):
        if part.get("type") == "Split":
            pattern = part.get("pattern") or {}
            return pattern.get("Regex") or (re.escape(pattern["String"]) if "String" in pattern else None)
        if part.get("type") == "ByteLevel" and part.get("use_regex", True):
            return GPT2_PATTERN
        if part.get("type") == "Metaspace":
            return "Metaspace"
    return None


def _normalizer(normalizer) -> str | None:
    names = [p.get("type", "?") for p in _parts(normalizer)]
    return "+".join(names) if names else None


def from_sentencepiece(path: str | Path) -> Vocabulary:
    """A SentencePiece `.model` file: control/unknown pieces are special, `<0xNN>` pieces are bytes."""
    try:
        import sentencepiece
    except ImportError:
        raise MissingDependencyError("sentencepiece", "reading a SentencePiece .model file", "sentencepiece") from None
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.Load(str(path))
    except (OSError, RuntimeError) as e:
        raise VocabFileError(str(path), f"sentencepiece cannot load it ({e}); pass a SentencePiece .model file") from None
    specials, ids, tokens = {}, [], []
    for i in range(processor.GetPieceSize()):
        piece = processor.IdToPiece(i)
        if processor.IsControl(i) or processor.IsUnknown(i):
            specials[piece] = i
            continue
        found = _BYTE_PIECE.fullmatch(piece) if processor.IsByte(i) else None
        ids.append(i)
        tokens.append(bytes((int(found.group(1), 16),)) if found else piece.replace("\u2581", " ").encode("utf-8"))
    return Vocabulary(Path(path).name, "sentencepiece", tokens, ids, specials, model="sentencepiece")
