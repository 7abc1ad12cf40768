"""Random test strings for the text tokenizers: many scripts, code, digits, whitespace runs, CRLF,
emoji, and character sequences that NFC changes (so the normaliser is exercised, not only the BPE)."""

from __future__ import annotations

import random

_RANGES = [
    (0x20, 0x7E),  # ASCII
    (0xA0, 0x17F),  # Latin-1, Latin Extended-A
    (0x370, 0x3FF),  # Greek
    (0x400, 0x4FF),  # Cyrillic
    (0x590, 0x5FF),  # Hebrew
    (0x600, 0x6FF),  # Arabic (with Arabic-Indic digits)
    (0x900, 0x97F),  # Devanagari
    (0xE00, 0xE7F),  # Thai
    (0x1100, 0x11FF),  # Hangul jamo (NFC composes them into syllables)
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x4E00, 0x9FFF),  # CJK
    (0xAC00, 0xD7A3),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs (NFC maps most of them to other code points)
    (0xFF00, 0xFFEF),  # full-width forms
    (0x1F300, 0x1FAFF),  # emoji
    (0x10000, 0x1007F),  # Linear B (a 4-byte script few vocabularies know)
]

_WORDS = [
    "the", "The", "cat", "isn't", "WE'LL", "they've", "I'm", "you'd", "hello", "world", "naïve", "café",
    "image", "photo", "请", "描述", "图片", "こんにちは", "世界", "안녕하세요", "Привет", "مرحبا", "नमस्ते",
]  # fmt: skip

_FRAGMENTS = [
    "def f(x):\n    return x ** 2\n",
    "for (int i = 0; i < n; ++i) {\r\n\tsum += a[i];\r\n}",
    '{"key": [1, 2.5, -3e10], "ok": true}',
    "https://example.com/a?b=c&d=e#f",
    "<|", "|>", "<|im", "end|>", "<image", "<>", "||",
    "123", "4567890", "3.14159", "1,000,000", "٣٤٥", "１２３", "Ⅻ", "½",
    "e\u0301", "A\u030a", "o\u0308\u0304", "n\u0303", "\u1100\u1161\u11a8", ">\u0338", "=\u0338",
    "\u212b", "\u212a", "\u2126", "\uf900", "a\u0323\u0307", "q\u0307\u0323",
    "👍🏽", "👨\u200d👩\u200d👧", "🇯🇵", "❤\ufe0f", "\u200b", "\ufeff",
]  # fmt: skip

_SPACES = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n ", "\u00a0", "\u3000", "\u2009", "\x0b", "\x0c"]


def _piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        lo, hi = rng.choice(_RANGES)
        return "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 8)))
    if kind < 0.55:
        return rng.choice(_WORDS)
    if kind < 0.75:
        return rng.choice(_FRAGMENTS)
    if kind < 0.9:
        return rng.choice(_SPACES)
    return "".join(chr(rng.randint(0x21, 0x7E)) for _ in range(rng.randint(1, 5)))


def random_texts(n: int, *, seed: int = 0, max_pieces: int = 12) -> list[str]:
    """`n` reproducible random strings (a few are empty or pure whitespace, on purpose)."""
    rng = random.Random(seed)
    return ["".join(_piece(rng) for _ in range(rng.randint(0, max_pieces))) for _ in range(n)]


def with_specials(texts: list[str], specials: list[str], *, seed: int = 1) -> list[str]:
    """`texts` with special-token spellings inserted at random places (some next to combining marks)."""
    rng = random.Random(seed)
    out = []
    for text in texts:
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(text))
            token = rng.choice(specials)
            after = rng.choice(["", "", "\u0338", "\u0301", " ", "\n"])
            text = text[:at] + token + after + text[at:]
        out.append(text)
    return out
