"""NFC without the full normaliser when the text is already NFC: an exact shortcut for CPython's MAYBE.

CPython's `unicodedata.normalize("NFC", s)` runs the Unicode quick check first (UAX #15 section 9) and
returns `s` itself when every character answers YES. One character that may combine with the one
before it (NFC_Quick_Check=Maybe: the Devanagari nukta, the Tamil vowel sign AA, Hangul vowel and
final jamo, most combining accents) sends it to the full normaliser, which costs about a third of
tiktoken's encode time on Hindi or Tamil text, where such characters are everywhere. `to_nfc` settles
long texts from the definition instead, with a few numpy table look-ups over the code points:

* NFC acts on each segment that starts at a starter (canonical combining class 0) whose quick check
  is YES, independently of the rest: such a starter neither reorders nor combines with anything
  before it (UAX #15 section 9.1; ICU cuts text at the same boundaries).
* With no NO character and the non-starters in canonical order (the rest of the quick check), a
  segment changes only by a composition, and that needs a MAYBE character. If each MAYBE character
  directly follows a YES starter that cannot begin a composition (not FIRST: not the first of a
  primary composite pair, no canonical decomposition, not a Hangul L jamo or syllable), nothing in
  the segment composes, so the text is NFC.

Anything else (a NO character, non-starters out of order, a MAYBE character after a FIRST character,
a non-starter or another MAYBE character) goes to `unicodedata.normalize`, so the shortcut answers
"already NFC" only for text the full normaliser returns unchanged; tests/text/test_nfc.py checks it
on every code point pair and on random text. Texts shorter than SHORT_TEXT go to
`unicodedata.normalize` directly: the numpy passes cost about 3 us whatever the length, under 2% of
tiktoken's time from 512 characters of Chinese on, but more below, where most texts have no MAYBE
character and CPython's quick check alone takes well under a microsecond.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

# Conjoining Hangul jamo (Unicode ch. 3.12): L + V -> LV syllable, LV + T -> LVT. The syllables have
# no decomposition in the data file (it is algorithmic), so they are added to the tables by hand.
_HANGUL_L = (0x1100, 0x1112)
_HANGUL_V = (0x1161, 0x1175)
_HANGUL_T = (0x11A8, 0x11C2)
_HANGUL_SYLLABLES = (0xAC00, 0xD7A3)

# No code point above this has a decomposition or a non-zero combining class (planes 3-16 hold CJK
# ideographs, tags and variation selectors); scanning to it rather than to sys.maxunicode makes the
# tables 6x quicker to build. tests/text/test_nfc.py checks the claim against the whole range.
_LAST_MARKED = 0x2FFFF

#: texts shorter than this (in code points) go straight to unicodedata.normalize
SHORT_TEXT = 512
_CHUNK = 16384  # code points per pass of the first scan (64 KiB as UTF-32)

# flag bits, one byte per code point
_NO = 1  # NFC_Quick_Check=No: the text is not NFC
_MAYBE = 2  # NFC_Quick_Check=Maybe: may combine with the character before it
_NONSTARTER = 4  # canonical combining class > 0
_FIRST = 8  # may begin a composition (see the module docstring)


class _Tables(NamedTuple):
    flags: object  # numpy uint8 array indexed by code point, 0x110000 long: the bits above
    marks: object  # the same without _FIRST: non-zero where the quick check alone could say NO or MAYBE
    ccc: object  # numpy uint8 array: canonical combining class by code point
    first_mark: int  # the lowest code point with a non-zero `marks` entry (U+0300)


def _span(bounds: tuple[int, int]) -> range:
    return range(bounds[0], bounds[1] + 1)


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    """The flag and combining-class tables, from the interpreter's own unicodedata (~50 ms, once)."""
    import numpy as np

    flags = np.zeros(0x110000, np.uint8)
    ccc = np.zeros(0x110000, np.uint8)
    nfc, decomposition, combining = unicodedata.normalize, unicodedata.decomposition, unicodedata.combining
    for cp in range(_LAST_MARKED + 1):
        c = chr(cp)
        klass = combining(c)
        if klass:
            flags[cp] |= _NONSTARTER
            ccc[cp] = klass
        d = decomposition(c)
        if not d:
            continue
        if nfc("NFC", c) != c:  # singletons, composition exclusions, non-starter decompositions
            flags[cp] |= _NO
        elif not d.startswith("<"):  # a canonical decomposition that NFC keeps composed
            flags[cp] |= _FIRST
            parts = [int(x, 16) for x in d.split()]
            if len(parts) == 2:
                flags[parts[0]] |= _FIRST
                flags[parts[1]] |= _MAYBE
    for bounds, bit in ((_HANGUL_V, _MAYBE), (_HANGUL_T, _MAYBE), (_HANGUL_L, _FIRST), (_HANGUL_SYLLABLES, _FIRST)):
        flags[bounds[0] : bounds[1] + 1] |= bit
    marks = flags & ~np.uint8(_FIRST)
    return _Tables(flags, marks, ccc, int(np.flatnonzero(marks)[0]))


def _code_points(text: str):
    import numpy as np

    # surrogatepass: a lone surrogate (no flags) must not raise here; tiktoken replaces it later
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


def _long_to_nfc(text: str) -> str:
    """`to_nfc` for a long non-ASCII text."""
    import numpy as np

    flags, marks, ccc, first_mark = _tables()
    # A chunk at a time, so that the temporary arrays stay in the cache (and tiktoken's tables with
    # them); each chunk starts with the last character of the one before, for the checks of pairs.
    for start in range(0, len(text), _CHUNK):
        cps = _code_points(text[start - 1 if start else 0 : start + _CHUNK])
        if cps.max() < first_mark:  # e.g. Latin-1: nothing NFC could change
            continue
        f = marks.take(cps)  # take: twice as fast as fancy indexing here
        present = int(np.bitwise_or.reduce(f))  # which kinds of character occur at all
        if present & _NO:
            return unicodedata.normalize("NFC", text)
        if present & _NONSTARTER:
            nonstarter = f & _NONSTARTER
            pairs = np.flatnonzero(nonstarter[1:] & nonstarter[:-1])  # adjacent non-starters: in order?
            if pairs.size and (ccc.take(cps[pairs]) > ccc.take(cps[pairs + 1])).any():
                return unicodedata.normalize("NFC", text)
        if present & _MAYBE:
            maybe = np.flatnonzero(f & _MAYBE)
            if maybe[0] == 0:
                maybe = maybe[1:]  # the text's first character, or the previous chunk's last (checked there)
            if (flags.take(cps[maybe - 1]) & (_FIRST | _MAYBE | _NONSTARTER)).any():
                return unicodedata.normalize("NFC", text)
    return text  # no NO character, canonical order, every MAYBE after a starter that cannot compose


def to_nfc(text: str) -> str:
    """`unicodedata.normalize("NFC", text)`; `text` itself when it is already NFC."""
    if text.isascii():  # O(1) in CPython, and ASCII is always NFC
        return text
    if len(text) < SHORT_TEXT:
        return unicodedata.normalize("NFC", text)
    return _long_to_nfc(text)
