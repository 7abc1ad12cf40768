"""Where each token of a text starts and ends: ids, bytes and character spans, for showing a tokenization.

A byte-level BPE (tiktoken, GPT-2/Qwen tokenizer.json files) cuts UTF-8 bytes, not characters: a
CJK character or an emoji that is not in the vocabulary is spelled by two or three tokens, none of
which is valid UTF-8 alone (tiktoken's `decode_single_token_bytes` documents the same caveat, and
its `decode_with_offsets` maps such a token to the start of the character it begins). To show a
tokenization without broken characters, the tokens are grouped into *pieces*: a piece ends only where
the tokens' bytes end on a character boundary of the input, so each piece is whole characters, and
the ids of a piece with more than one token share a character.

The tokenizer may normalise the text first (Qwen2 applies NFC, Unicode UAX #15). Then the tokens
spell the normalised text, and spans are mapped back to the input segment by segment: NFC acts on
each segment that starts with a starter whose NFC quick check is YES independently of the rest
(UAX #15 section 9.1), so a segment NFC changed is one unit whose tokens form one piece, and text
in unchanged segments maps character for character. A piece's `text` is always the input's own
characters, so the pieces of a view concatenate to the input exactly. Only a tokenizer whose tokens
do not spell its input up to NFC (e.g. a SentencePiece tokenizer.json that drops or rewrites spaces)
gives an inexact view (`exact=False`): its pieces are then the text the tokens spell, grouped the same way.

`TokenView.by_kind()` says where the tokens went: each character has a kind (CJK, Latin, digits,
whitespace, code/punctuation, other scripts; close to the token kinds of token_kinds.py, but per
character, so a piece mixing a space and a word is charged to the word), and each piece's tokens are
charged to the most frequent non-whitespace kind among its characters (the first in KINDS order on a
tie; whitespace if it has no other).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from .base import NONE, SpecialPolicy, TextTokenizer

#: the character kinds of `char_kind`, in display order
KINDS = ("CJK", "Latin", "digits", "whitespace", "code/punctuation", "other scripts")

_CJK_WORDS = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"})
_EMOJI_MODIFIERS = range(0x1F3FB, 0x1F400)  # skin tones (category Sk) modify the emoji before them


@dataclass(frozen=True)
class TokenSpan:
    """One token: its id, its bytes, and the characters `[start, end)` of the input it belongs to.
    Tokens that share a character (see `Piece`) have the same span."""

    id: int
    data: bytes
    start: int
    end: int
    piece: int  # index of its piece in TokenView.pieces


@dataclass(frozen=True)
class Piece:
    """Whole characters of the input, `text = input[start:end]`, and the ids spelling them. More than
    one id means the ids share a character (a character cut between tokens, or text the tokenizer
    normalised as one unit)."""

    ids: tuple[int, ...]
    data: bytes
    start: int
    end: int
    text: str

    @property
    def shared(self) -> bool:
        return len(self.ids) > 1


@dataclass(frozen=True)
class TokenView:
    tokenizer: str
    text: str
    tokens: list[TokenSpan]
    pieces: list[Piece]
    exact: bool  # the pieces concatenate to `text`

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    def by_kind(self) -> dict[str, dict]:
        """{kind: {"tokens", "chars"}} for the kinds present, in KINDS order (see the module docstring)."""
        return kind_summary(self.pieces)

    def token_dicts(self) -> list[dict]:
        """[{id, text, bytes (hex), start, end}] per token; tokens sharing a character carry the same
        span and text, and `shares_char_with`: the other ids of their piece."""
        out = []
        for token in self.tokens:
            piece = self.pieces[token.piece]
            record = {"id": token.id, "text": piece.text, "bytes": token.data.hex(), "start": token.start, "end": token.end}
            if piece.shared:
                others = list(piece.ids)
                others.remove(token.id)
                record["shares_char_with"] = others
            out.append(record)
        return out

    def to_dict(self) -> dict:
        chars = len(self.text)
        return {
            "tokenizer": self.tokenizer,
            "num_tokens": self.num_tokens,
            "chars": chars,
            "bytes": len(self.text.encode("utf-8", "surrogatepass")),
            "chars_per_token": round(chars / self.num_tokens, 3) if self.num_tokens else None,
            "exact": self.exact,
            "tokens": self.token_dicts(),
        }


def token_view(
    tokenizer: TextTokenizer,
    text: str,
    *,
    allowed_special: SpecialPolicy = NONE,
    disallowed_special: SpecialPolicy = (),
) -> TokenView:
    """The tokens of `text` with their character spans. By default special-token spellings are
    ordinary text (`disallowed_special=()`); pass allowed_special="all" to see them as control tokens."""
    ids = tokenizer.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
    return view_of_ids(tokenizer, text, ids)


def view_of_ids(tokenizer: TextTokenizer, text: str, ids: list[int]) -> TokenView:
    """The view of `ids`, which `tokenizer` made from `text`."""
    datas = token_bytes(tokenizer, ids)
    token_ends, starts, ends, shown, exact = piece_bounds(text, datas)
    pieces, tokens, first = [], [], 0
    for k, (last, start, end) in enumerate(zip(token_ends.tolist(), starts.tolist(), ends.tolist())):
        group = ids[first:last]
        pieces.append(Piece(tuple(group), b"".join(datas[first:last]), start, end, shown[start:end]))
        tokens += [TokenSpan(i, datas[n], start, end, k) for n, i in zip(range(first, last), group)]
        first = last
    return TokenView(tokenizer.name, text, tokens, pieces, exact)


def token_bytes(tokenizer: TextTokenizer, ids: list[int]) -> list[bytes]:
    """The bytes of each token: the interface's `_token_bytes` (a SentencePiece piece with its "▁" as a
    space, which decoding one id alone would drop), in one tiktoken call for a tiktoken-run tokenizer."""
    from .tiktoken_tokenizer import TiktokenTokenizer

    if type(tokenizer) is TiktokenTokenizer:
        return tokenizer.encoding.decode_tokens_bytes(ids)
    out = []
    for i in ids:
        data = tokenizer._token_bytes(i)
        out.append(data if data is not None else tokenizer.decode_bytes([i]))  # decode_bytes names a bad id
    return out


def piece_bounds(text: str, datas: list[bytes]):
    """(token end index, character start, character end) of each piece, the text the spans index
    (`text` itself when exact) and whether the view is exact; numpy arrays, see the module docstring."""
    import numpy as np

    empty = np.zeros(0, np.int64)
    if not datas:
        return empty, empty, empty, text, True
    seen = b"".join(datas)
    lengths = np.fromiter(map(len, datas), np.int64, len(datas))
    byte_ends = np.cumsum(lengths)
    lead = (np.frombuffer(seen, np.uint8) & 0xC0) != 0x80  # the first byte of each character
    chars_before = np.concatenate([[0], np.cumsum(lead)])  # characters before each byte offset
    whole = np.append(lead, True)[byte_ends]  # the token ends on a character boundary
    char_ends = chars_before[byte_ends]  # in characters of the tokens' text
    shown, exact = text, True
    if seen != text.encode("utf-8", "surrogatepass"):
        regions = _normalized_regions(text, seen)
        if regions is None:
            exact = False
            try:
                shown = seen.decode("utf-8")
            except UnicodeDecodeError:  # not even UTF-8 as a whole: one piece per token, its own text
                shown_tokens = [d.decode("utf-8", errors="replace") for d in datas]
                ends = np.cumsum([len(t) for t in shown_tokens])
                starts = np.concatenate([[0], ends[:-1]])
                return np.arange(1, len(datas) + 1), starts, ends, "".join(shown_tokens), False
        elif regions:
            seen_start, seen_end, growth = (np.array(col, np.int64) for col in zip(*regions))
            last = np.searchsorted(seen_start, char_ends, "right") - 1  # the last region starting at or before
            r = np.maximum(last, 0)
            whole &= ~((last >= 0) & (seen_start[r] < char_ends) & (char_ends < seen_end[r]))  # not inside one
            done = np.searchsorted(seen_end, char_ends, "right")  # regions ending at or before
            shift = np.concatenate([[0], np.cumsum(growth)])
            char_ends = char_ends + shift[done]
    whole[-1] = True
    token_ends = np.flatnonzero(whole) + 1
    ends = char_ends[token_ends - 1]
    starts = np.concatenate([[0], ends[:-1]])
    return token_ends, starts, ends, shown, exact


def _normalized_regions(text: str, seen: bytes) -> list[tuple[int, int, int]] | None:
    """[(start, end, growth)] in characters of the tokens' text: the segments of `text` (see below) that
    the tokens spell NFC-normalised, `growth` = input length - normalised length; None if the tokens
    do not spell `text` up to NFC of some segments. Segments start before every starter whose NFC
    quick check is YES (UAX #15 section 9.1); only a segment holding another character can change."""
    import numpy as np

    from .nfc import _MAYBE, _NO, _NONSTARTER, _code_points, _tables

    try:
        seen_text = seen.decode("utf-8")
    except UnicodeDecodeError:
        return None
    unsafe = (_tables().flags.take(_code_points(text)) & (_NO | _MAYBE | _NONSTARTER)) != 0
    starts = np.flatnonzero(~unsafe)
    if not starts.size or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    bounds = np.append(starts, len(text))
    candidates = np.unique(np.searchsorted(starts, np.flatnonzero(unsafe), "right") - 1)
    regions, parts, previous, growth = [], [], 0, 0
    for a, b in zip(bounds[candidates].tolist(), bounds[candidates + 1].tolist()):
        segment = text[a:b]
        normalized = unicodedata.normalize("NFC", segment)
        at = a - growth  # where the segment starts in the tokens' text, if all before lines up
        if normalized != segment and seen_text.startswith(normalized, at):
            regions.append((at, at + len(normalized), len(segment) - len(normalized)))
            parts += [text[previous:a], normalized]
            previous, growth = b, growth + len(segment) - len(normalized)
    parts.append(text[previous:])
    return regions if "".join(parts) == seen_text else None


# --- what the tokens are spent on -------------------------------------------------------------------


@lru_cache(maxsize=8192)
def char_kind(ch: str) -> str | None:
    """The kind (one of KINDS) of one character; None for a mark or format character, which takes
    the kind of the character before it (combining accents, ZWJ, variation selectors, skin tones)."""
    if ch.isspace():
        return "whitespace"
    category = unicodedata.category(ch)
    if category[0] == "M" or category == "Cf" or ord(ch) in _EMOJI_MODIFIERS:
        return None
    if category[0] == "N":
        return "digits"
    if category[0] == "L":
        name = unicodedata.name(unicodedata.normalize("NFKD", ch)[0], "")  # the base letter: Å (U+212B) is A
        word = name.split(" ", 1)[0]
        if word in _CJK_WORDS:
            return "CJK"
        return "Latin" if word == "LATIN" else "other scripts"
    if category[0] == "P" or (category[0] == "S" and (ord(ch) < 0x2000 or category in ("Sm", "Sc"))):
        return "code/punctuation"
    return "other scripts"  # emoji and other symbols, controls, private use


def _kind_codes(text: str):
    """The index in KINDS of each character's kind (numpy uint8); marks take the kind before them."""
    import numpy as np

    mark = len(KINDS)
    table = {ord(c): chr(KINDS.index(k) if (k := char_kind(c)) else mark) for c in set(text)}
    codes = np.frombuffer(text.translate(table).encode("latin-1"), np.uint8)
    is_mark = codes == mark
    if is_mark.any():  # forward fill: each mark takes the code of the last non-mark before it
        last = np.where(is_mark, 0, np.arange(len(codes)))
        np.maximum.accumulate(last, out=last)
        codes = codes[last]
        codes[codes == mark] = KINDS.index("other scripts")  # marks at the very start
    return codes


def kind_summary_of(text: str, starts, ends, tokens) -> dict[str, dict]:
    """The kind summary of pieces given as arrays: character `starts`, `ends` in `text` (contiguous,
    covering it) and the number of `tokens` of each."""
    import numpy as np

    codes = _kind_codes(text)
    chars = np.bincount(codes, minlength=len(KINDS))
    starts, ends, tokens = (np.asarray(a, np.int64) for a in (starts, ends, tokens))
    charged = np.full(len(starts), KINDS.index("other scripts"), np.int64)  # empty pieces (inexact views)
    nonempty = ends > starts
    if nonempty.any():
        at = starts[nonempty]
        counts = np.stack([np.add.reduceat((codes == k).astype(np.int32), at) for k in range(len(KINDS))])
        space = KINDS.index("whitespace")
        counts[space] = 0
        best = counts.argmax(axis=0)  # first of a tie in KINDS order
        best[counts.max(axis=0) == 0] = space
        charged[nonempty] = best
    spent = np.bincount(charged, weights=tokens, minlength=len(KINDS)).astype(np.int64)
    return _summary_rows(spent.tolist(), chars.tolist())


def _summary_rows(tokens: list[int], chars: list[int]) -> dict[str, dict]:
    return {
        kind: {"tokens": n, "chars": c, "chars_per_token": round(c / n, 3) if n else None}
        for kind, n, c in zip(KINDS, tokens, chars)
        if n or c
    }


def kind_summary(pieces: list[Piece]) -> dict[str, dict]:
    """{kind: {"tokens": n, "chars": n, "chars_per_token": x}} in KINDS order, kinds present only.
    Characters are counted each by its own kind; a piece's tokens go to the most frequent
    non-whitespace kind among its characters (the first in KINDS order on a tie), or to whitespace."""
    text = "".join(p.text for p in pieces)
    lengths = [len(p.text) for p in pieces]
    ends = list(accumulate(lengths))
    starts = [e - n for e, n in zip(ends, lengths)]
    return kind_summary_of(text, starts, ends, [len(p.ids) for p in pieces])


def count_kinds(tokenizer: TextTokenizer, text: str, ids: list[int]) -> dict[str, dict]:
    """`kind_summary` of `ids` (made from `text` by `tokenizer`) without building the view's objects."""
    import numpy as np

    token_ends, starts, ends, shown, _ = piece_bounds(text, token_bytes(tokenizer, ids))
    return kind_summary_of(shown, starts, ends, np.diff(token_ends, prepend=0))


def merge_kind_summaries(summaries: list[dict[str, dict]]) -> dict[str, dict]:
    """The kind summary of several texts taken together."""
    tokens, chars = [0] * len(KINDS), [0] * len(KINDS)
    for summary in summaries:
        for kind, row in summary.items():
            tokens[KINDS.index(kind)] += row["tokens"]
            chars[KINDS.index(kind)] += row["chars"]
    return _summary_rows(tokens, chars)
