"""Token counts of text files for several tokenizers at once, reading large files a block at a time.

A file is read in binary blocks, decoded as strict UTF-8 (line endings and a byte-order mark kept as
they are: the count is of the file's own text) and encoded in chunks cut only at *safe cuts*: after a
"\\n" that follows a non-space character and precedes a letter or digit. Encoding chunk by chunk then
gives exactly the ids of the whole text for a tiktoken-run tokenizer with one of the known
pre-tokenizer regexes (Qwen, cl100k_base, o200k_base, GPT-2: patterns.py). tiktoken cuts text into
pieces with the regex and merges bytes only within a piece; in those regexes no piece runs from a
"\\n" into a following letter or digit (a piece may start with one non-letter before its letters,
but never with "\\n"; o200k's punctuation pieces may end in "\\n/", hence not any non-space), and
the piece that ends at the "\\n" is the same whether the text goes on or ends there (after
whitespace a GPT-2 piece `\\s+(?!\\S)` could end differently, hence a non-space before the "\\n").
NFC (Qwen2) gives the same on both sides too: nothing composes with "\\n" or is reordered across it.
tests/text/test_counting.py checks chunked counts against whole-text counts on many-script text cut
every few bytes. Memory is then one block plus the longest stretch without a safe cut (a file with
no line starting with a letter or digit is read whole).

Other tokenizers may pre-tokenize in any way (a tokenizer.json, a SentencePiece model, a tiktoken
file with a custom regex), and with special tokens allowed a Qwen-VL image span may hold a newline;
then the whole file is decoded and encoded at once (memory: the text, plus about 36 bytes per token
for the ids).
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import MmtokError, TextFileError
from .base import TextTokenizer
from .tiktoken_tokenizer import TiktokenTokenizer
from .views import count_kinds, merge_kind_summaries

#: bytes read per block
BLOCK_BYTES = 1 << 20
#: bytes read to decide whether a file found in a folder is text
SNIFF_BYTES = 8192


@dataclass
class FileCount:
    """The counts of one file (or the total of several): `tokens` per tokenizer name; `error` set
    (and the counts empty) if the file could not be counted."""

    path: str
    chars: int = 0
    bytes: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict] | None = None  # tokenizer name -> kind summary (views.kind_summary)
    error: str | None = None
    files: int = 1

    def chars_per_token(self, name: str) -> float | None:
        n = self.tokens.get(name)
        return round(self.chars / n, 3) if n else None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out = {"path": self.path, "chars": self.chars, "bytes": self.bytes, "tokens": dict(self.tokens)}
        out["chars_per_token"] = {name: self.chars_per_token(name) for name in self.tokens}
        if self.by_kind is not None:
            out["by_kind"] = self.by_kind
        return out


def is_safe_cut(text: str, k: int) -> bool:
    """Whether encoding text[:k] and text[k:] apart gives the ids of `text` (see the module docstring)."""
    return (
        2 <= k < len(text)
        and text[k - 1] == "\n"
        and not text[k - 2].isspace()
        and text[k].isalnum()
    )


def last_safe_cut(text: str, before: int | None = None) -> int:
    """The largest safe cut k <= `before` (default: the end) in `text`, or 0 if there is none."""
    end = len(text) if before is None else before
    k = text.rfind("\n", 0, end)
    while k >= 1:
        if is_safe_cut(text, k + 1):
            return k + 1
        k = text.rfind("\n", 0, k)
    return 0


def _decode_error(path: str, error: UnicodeDecodeError, offset: int) -> TextFileError:
    bad = error.object[error.start : error.start + 1].hex()
    return TextFileError(
        path,
        f"is not UTF-8 text (byte 0x{bad} at offset {offset + error.start:,}); convert it to UTF-8 "
        "(e.g. iconv -f LATIN1 -t UTF-8) or leave it out",
    )


def iter_chunks(path: str, *, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[str, int]]:
    """(text, raw byte count) chunks of the UTF-8 file `path`, cut at safe cuts only; their texts
    concatenate to the file's text. Raises TextFileError if it cannot be read or is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    carry, carry_bytes, offset = "", 0, 0
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(block_bytes)
                final = not block
                buffered = len(decoder.getstate()[0])  # bytes of a character cut by the previous block
                try:
                    text = decoder.decode(block, final=final)
                except UnicodeDecodeError as e:
                    raise _decode_error(path, e, offset - buffered) from None
                offset += len(block)
                carry += text
                carry_bytes += len(block)
                if final:
                    break
                cut = last_safe_cut(carry)
                if cut:
                    head = carry[:cut]
                    head_bytes = len(head.encode("utf-8"))
                    yield head, head_bytes
                    carry, carry_bytes = carry[cut:], carry_bytes - head_bytes
    except OSError as e:
        raise TextFileError(path, f"cannot be read ({e.strerror or e})") from None
    if carry or carry_bytes:
        yield carry, carry_bytes


def read_text(path: str) -> tuple[str, int]:
    """The whole text of a UTF-8 file and its size in bytes; TextFileError otherwise."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TextFileError(path, f"cannot be read ({e.strerror or e})") from None
    try:
        return raw.decode("utf-8"), len(raw)
    except UnicodeDecodeError as e:
        raise _decode_error(path, e, 0) from None


def streams_safely(tokenizer: TextTokenizer, allow_special: bool = False) -> bool:
    """Whether counting chunk by chunk gives the whole-text count for this tokenizer."""
    from .patterns import pattern_name

    return isinstance(tokenizer, TiktokenTokenizer) and pattern_name(tokenizer.pattern) is not None and not allow_special


def _encode(tokenizer: TextTokenizer, text: str, allow_special: bool) -> list[int]:
    if allow_special:
        return tokenizer.encode(text, allowed_special="all")
    return tokenizer.encode_ordinary(text)


def count_text(
    text: str, tokenizers: Sequence[TextTokenizer], *, allow_special: bool = False, by_kind: bool = False, path: str = "<text>"
) -> FileCount:
    """The counts of one text. Special-token spellings are ordinary text unless `allow_special`."""
    result = FileCount(path, chars=len(text), bytes=len(text.encode("utf-8", "surrogatepass")))
    result.by_kind = {} if by_kind else None
    for tok in tokenizers:
        ids = _encode(tok, text, allow_special)
        result.tokens[tok.name] = len(ids)
        if by_kind:
            result.by_kind[tok.name] = count_kinds(tok, text, ids)
    return result


def count_file(
    path: str,
    tokenizers: Sequence[TextTokenizer],
    *,
    allow_special: bool = False,
    by_kind: bool = False,
    block_bytes: int = BLOCK_BYTES,
) -> FileCount:
    """The counts of one UTF-8 text file (streamed when every tokenizer allows it); TextFileError if
    it cannot be read or decoded."""
    path = str(path)
    if not all(streams_safely(t, allow_special) for t in tokenizers):
        text, size = read_text(path)
        result = count_text(text, tokenizers, allow_special=allow_special, by_kind=by_kind, path=path)
        result.bytes = size
        return result
    result = FileCount(path, tokens={t.name: 0 for t in tokenizers})
    kinds: dict[str, list[dict]] = {t.name: [] for t in tokenizers}
    for chunk, size in iter_chunks(path, block_bytes=block_bytes):
        part = count_text(chunk, tokenizers, allow_special=allow_special, by_kind=by_kind, path=path)
        result.chars += part.chars
        result.bytes += size
        for name, n in part.tokens.items():
            result.tokens[name] += n
            if by_kind:
                kinds[name].append(part.by_kind[name])
    if by_kind:
        result.by_kind = {name: merge_kind_summaries(summaries) for name, summaries in kinds.items()}
    return result


def looks_like_text(path: str) -> bool:
    """Whether a file found in a folder is worth counting: its first bytes hold no NUL and are UTF-8."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return True  # let count_file report why it cannot be read
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)  # a cut character is fine
    except UnicodeDecodeError:
        return False
    return True


def iter_text_files(paths: Iterable[str], skipped: list[str] | None = None) -> Iterator[str]:
    """Files as given, and the text files inside folders (recursive, sorted; folders whose name
    starts with "." are not entered). Files in folders that are not text are appended to `skipped`."""
    for path in paths:
        path = str(path)
        if not os.path.isdir(path):
            yield path
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(root, name)
                if looks_like_text(full):
                    yield full
                elif skipped is not None:
                    skipped.append(full)


def count_files(
    paths: Iterable[str],
    tokenizers: Sequence[TextTokenizer],
    *,
    allow_special: bool = False,
    by_kind: bool = False,
    skipped: list[str] | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[FileCount]:
    """FileCount of each file (folders walked as in `iter_text_files`); a file that cannot be
    counted gives a FileCount with `error` set, and the rest are still counted."""
    for path in iter_text_files(paths, skipped):
        try:
            yield count_file(path, tokenizers, allow_special=allow_special, by_kind=by_kind, block_bytes=block_bytes)
        except TextFileError as e:
            yield FileCount(path, error=str(e))


def total(counts: Iterable[FileCount], names: Sequence[str]) -> FileCount:
    """The sum of the counted files (failed ones left out)."""
    out = FileCount("total", tokens={name: 0 for name in names}, files=0)
    kinds: dict[str, list[dict]] = {name: [] for name in names}
    for c in counts:
        if c.error is not None:
            continue
        out.files += 1
        out.chars += c.chars
        out.bytes += c.bytes
        for name in names:
            out.tokens[name] += c.tokens.get(name, 0)
            if c.by_kind is not None:
                kinds[name].append(c.by_kind.get(name, {}))
    if any(kinds.values()):
        out.by_kind = {name: merge_kind_summaries(s) for name, s in kinds.items()}
    return out


__all__ = [
    "FileCount", "TextFileError", "count_file", "count_files", "count_text", "is_safe_cut", "iter_chunks",
    "iter_text_files", "last_safe_cut", "looks_like_text", "read_text", "streams_safely", "total",
]  # fmt: skip
