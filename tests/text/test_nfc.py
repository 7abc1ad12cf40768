"""mmtok.text.nfc.to_nfc against unicodedata.normalize: it may skip the full normaliser only when the
text is already NFC, so every "already NFC" answer is checked against the normaliser itself."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from text_samples import random_texts

from mmtok.text.nfc import _CHUNK, _LAST_MARKED, SHORT_TEXT, _long_to_nfc, _tables, to_nfc

_NO, _MAYBE, _NONSTARTER, _FIRST = 1, 2, 4, 8


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _shortcut_says_nfc(text: str) -> bool:
    """Whether the long-text path answers "already NFC" (by the shortcut or by CPython's quick check)."""
    return _long_to_nfc(text) is text


def test_nothing_marked_above_the_scanned_range():
    # _tables scans code points up to _LAST_MARKED only; nothing above may decompose or be a non-starter
    for cp in range(_LAST_MARKED + 1, sys.maxunicode + 1):
        c = chr(cp)
        assert not unicodedata.decomposition(c) and not unicodedata.combining(c), hex(cp)


def test_every_maybe_character_after_every_flagged_character():
    """Each flagged code point (and every 61st other one) followed by each MAYBE character, alone, then
    with a non-starter or another MAYBE character between (which the shortcut must send on)."""
    flags = _tables().flags
    maybe = [chr(cp) for cp in range(_LAST_MARKED + 1) if flags[cp] & _MAYBE]
    # (the 11,172 Hangul syllables all behave alike: every 61st of them is enough)
    firsts = [chr(cp) for cp in range(_LAST_MARKED + 1) if (flags[cp] and not 0xAC00 <= cp <= 0xD7A3) or cp % 61 == 0]
    for x in firsts:
        cases = [x + m for m in maybe]
        batch = "|".join(cases)  # "|" neither combines nor reorders, so each case stands alone
        if not _shortcut_says_nfc(batch):
            # after a plain starter the shortcut must be taken (else this test would be vacuous)
            assert flags[ord(x)], ascii(x)
            batch = "|".join(case for case in cases if _shortcut_says_nfc(case))
        assert nfc(batch) == batch, ascii(x)
    for x in firsts[::29]:
        for mid in ("\u0301", "\u0323", "\u093c", "\u094d", "\u0bbe", "\u0301\u0323", "\u0323\u0301"):
            for m in maybe:
                case = x + mid + m
                if _shortcut_says_nfc(case):
                    assert nfc(case) == case, ascii(case)


def test_random_texts():
    texts = random_texts(3000, seed=7, max_pieces=40)
    for text in texts:
        assert to_nfc(text) == nfc(text), ascii(text)
        if _shortcut_says_nfc(text):
            assert nfc(text) == text, ascii(text)
    assert any(_shortcut_says_nfc(t) and nfc(t) is not t for t in texts)  # text CPython would normalise in full


@pytest.mark.parametrize(
    "sample",
    [
        "ज़िंदगी में सही फ़ैसले लेना ज़रूरी है, और अच्छी किताबें पढ़ना फ़ायदेमंद होता है। ",
        "அவர்கள் ஒருவருடனொருவர் சகோதர உணர்வுப் பாங்கில் நடந்துகொள்ளல் வேண்டும். ",
        "한국어 텍스트와 \u1100\u1161 자모. ",
        "cafe\u0301 nai\u0308ve A\u030a ",
        "\u0b95\u0bc6\u0bbe ",  # Tamil e + aa, which NFC composes to o
    ],
)
def test_long_texts(sample):
    text = sample * (SHORT_TEXT // len(sample) + 2)
    assert to_nfc(text) == nfc(text)
    assert to_nfc(nfc(text)) is nfc(text) or nfc(nfc(text)) is not nfc(text)


def test_ascii_and_lone_surrogates():
    text = "plain ascii " * 50
    assert to_nfc(text) is text
    odd = "\ud800 naïve e\u0301 \udfff " * 40
    assert to_nfc(odd) == nfc(odd)


def test_qwen2_encodes_long_texts_as_their_nfc():
    from mmtok.text import get_tokenizer

    qwen = get_tokenizer("qwen2")
    for text in random_texts(40, seed=11, max_pieces=400):
        expected = qwen.encoding.encode_ordinary(nfc(text))
        assert qwen.encode(text, disallowed_special=()) == expected
        assert qwen.encode_ordinary(text) == expected


@pytest.mark.parametrize(
    "tail", ["e\u0301", "a\u0301\u0323", "\u05d0\u0591\u05b0", "\u0b95\u0bc6\u0bbe", "\u0928\u093c", "\u1100\u1161", "\u0915\u093c"]
)
@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_pairs_across_chunk_boundaries(tail, shift):
    # the long path scans chunks of _CHUNK code points; a pair that decides must be seen across a cut
    text = "ж" * (_CHUNK - len(tail) + shift) + tail + " ж"
    assert to_nfc(text) == nfc(text)
    if _long_to_nfc(text) is text:
        assert nfc(text) == text
