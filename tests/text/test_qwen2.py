"""mmtok's "qwen2" text tokenizer against published ids and two independent engines.

References: (1) ids published for Qwen2 / Qwen2-VL's tokenizer; (2) the Hugging Face `tokenizers`
library running a byte-level BPE rebuilt from qwen.tiktoken with Qwen2's tokenizer.json pipeline
(NFC, Split on Qwen's regex, ByteLevel; conftest's `ref_qwen_tokenizer_file`); (3) raw tiktoken with
the same file and pattern, on NFC text.
"""

from __future__ import annotations

import hashlib
import pickle
import shutil
import unicodedata

import numpy as np
import pytest
import tiktoken
import tiktoken.load
from reference_tokenizers import QWEN2_SPECIALS, QWEN_PATTERN, qwen_tiktoken_path
from text_samples import random_texts, with_specials

from mmtok.errors import TokenIdError, UnknownNameError, VocabFileError
from mmtok.text import get_tokenizer
from mmtok.text.qwen2 import load_qwen2

QWEN_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"  # qwen-agent 0.0.34's file

# Published Qwen2 / Qwen2-VL tokenizer outputs (Qwen2-VL's worked example and Qwen tokenizer docs).
PUBLISHED = [
    ("请描述一下图片。", [14880, 53481, 100158, 45930, 1773]),
    ("Hello, world!", [9707, 11, 1879, 0]),
    ("the cat sat on the mat", [1782, 8251, 7578, 389, 279, 5517]),
    ("Hello, world! 123", [9707, 11, 1879, 0, 220, 16, 17, 18]),
    ("こんにちは世界", [89015, 99489]),
    ("system\nYou are a helpful assistant.", [8948, 198, 2610, 525, 264, 10950, 17847, 13]),
    ("user\n", [872, 198]),
    ("assistant\n", [77091, 198]),
]

# Qwen2-VL's config.json: bos/pad, eos, vision_start, vision_end, image and video token ids.
PUBLISHED_SPECIAL_IDS = {
    "<|endoftext|>": 151643,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}

TEXTS = random_texts(3000, seed=20240601)


@pytest.fixture(scope="module")
def qwen():
    return get_tokenizer("qwen2")


@pytest.fixture(scope="module")
def hf(ref_qwen_tokenizer_file):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(ref_qwen_tokenizer_file))


@pytest.fixture(scope="module")
def raw():
    """tiktoken itself, with the file's ranks, Qwen's pattern and the special tokens in order."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")  # read the file directly, no temp-dir cache
        ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()), expected_hash=QWEN_SHA256)
    specials = {s: len(ranks) + i for i, s in enumerate(QWEN2_SPECIALS)}
    return tiktoken.Encoding("qwen-reference", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.mark.parametrize(("text", "ids"), PUBLISHED)
def test_published_ids(qwen, text, ids):
    assert qwen.encode(text) == ids
    assert qwen.decode(ids) == text


def test_special_token_ids(qwen, hf):
    for token, token_id in PUBLISHED_SPECIAL_IDS.items():
        assert qwen.special_tokens[token] == token_id
        assert qwen.special_id(token) == token_id
    assert qwen.special_tokens == {s: hf.token_to_id(s) for s in QWEN2_SPECIALS}
    assert list(qwen.special_tokens) == QWEN2_SPECIALS  # in id order
    assert qwen.n_vocab == hf.get_vocab_size(with_added_tokens=True)


def test_same_ids_as_hf_tokenizers(qwen, hf):
    expected = [e.ids for e in hf.encode_batch(TEXTS, add_special_tokens=False)]
    got = [qwen.encode(t) for t in TEXTS]
    mismatches = [(t, g, e) for t, g, e in zip(TEXTS, got, expected, strict=True) if g != e]
    assert not mismatches[:5], f"{len(mismatches)} of {len(TEXTS)} differ"


def test_same_ids_as_hf_with_special_tokens(qwen, hf):
    texts = with_specials(TEXTS[:1000], QWEN2_SPECIALS)
    expected = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
    got = [qwen.encode(t, allowed_special="all") for t in texts]
    mismatches = [(t, g, e) for t, g, e in zip(texts, got, expected, strict=True) if g != e]
    assert not mismatches[:5], f"{len(mismatches)} of {len(texts)} differ"


def test_nfc_applies_between_special_tokens_only(qwen, hf):
    # NFC turns ">" + U+0338 into U+226F; normalising across the special token would destroy it.
    text = "<|im_end|>\u0338e\u0301"
    assert hf.encode(text, add_special_tokens=False).ids[0] == qwen.special_id("<|im_end|>")
    assert qwen.encode(text, allowed_special="all") == hf.encode(text, add_special_tokens=False).ids


def test_same_ids_as_raw_tiktoken_on_nfc_text(qwen, raw):
    for text in TEXTS:
        assert qwen.encode(text) == raw.encode(nfc(text)), text
        assert qwen.encode_ordinary(text) == raw.encode_ordinary(nfc(text)), text


def test_special_spellings_as_ordinary_text(qwen, raw):
    texts = with_specials(TEXTS[:500], QWEN2_SPECIALS)
    for text in texts:
        expected = raw.encode(nfc(text), disallowed_special=())
        assert qwen.encode(text, disallowed_special=()) == expected, text
        assert qwen.encode_ordinary(text) == expected, text


def test_decode_round_trip(qwen, hf):
    for text in TEXTS:
        ids = qwen.encode(text)
        assert qwen.decode(ids) == nfc(text)
        assert qwen.decode_bytes(ids) == nfc(text).encode("utf-8")
        assert qwen.decode(ids) == hf.decode(ids, skip_special_tokens=False)


def test_decode_partial_utf8_is_replaced(qwen, raw):
    first_byte = "图".encode()[:1]  # every single byte is a token of a byte-level BPE
    ids = [raw.encode_single_token(first_byte), *qwen.encode("x")]
    assert qwen.decode_bytes(ids) == first_byte + b"x"
    assert qwen.decode(ids) == "\ufffdx" == raw.decode(ids)


def test_decode_rejects_unknown_ids(qwen):
    with pytest.raises(TokenIdError, match="151657"):
        qwen.decode([9707, 151657])
    with pytest.raises(TokenIdError):
        qwen.decode([-1])


def test_decode_accepts_arrays(qwen):
    ids = qwen.encode("Hello, world!")
    assert qwen.decode(np.array(ids, dtype=np.int64)) == "Hello, world!"


def test_token_to_id(qwen, hf):
    from reference_tokenizers import _bytes_to_unicode

    table = _bytes_to_unicode()
    rng = np.random.default_rng(0)
    for token_id in rng.integers(0, 151643, 2000).tolist():
        token = qwen.decode_bytes([token_id])
        assert qwen.token_to_id(token) == token_id
        assert hf.token_to_id("".join(table[b] for b in token)) == token_id
    assert qwen.token_to_id(" the") == 279  # published: "on the mat" -> ..., 279, ...
    assert qwen.token_to_id("<|im_start|>") == 151644
    assert qwen.token_to_id("the cat sat") is None  # three tokens


def test_special_id_of_an_unknown_token(qwen):
    with pytest.raises(UnknownNameError, match="<|im_start|>"):
        qwen.special_id("<|fim_prefix|>")


def test_encode_batch(qwen):
    texts = TEXTS[:200]
    assert qwen.encode_batch(texts) == [qwen.encode(t) for t in texts]


def test_lone_surrogates_do_not_crash(qwen, raw):
    # tiktoken replaces them with U+FFFD; so does mmtok, NFC or not
    assert qwen.encode("a\ud800b") == raw.encode("a\ud800b")
    assert qwen.encode("e\u0301\ud800") == raw.encode("\u00e9\ud800")


def test_loaded_once_and_pickled_by_name(qwen):
    assert get_tokenizer("QWEN2") is qwen
    assert pickle.loads(pickle.dumps(qwen)) is qwen
    assert len(pickle.dumps(qwen)) < 200  # by name, not by vocabulary


def test_corrupted_vocabulary_is_rejected(tmp_path):
    bad = tmp_path / "qwen.tiktoken"
    shutil.copyfile(qwen_tiktoken_path(), bad)
    data = bytearray(bad.read_bytes())
    data[1000] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(VocabFileError) as info:
        load_qwen2(bad)
    message = str(info.value)
    assert str(bad) in message and QWEN_SHA256 in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message
    assert "reinstall" in message


def test_a_good_copy_loads(tmp_path):
    copy = tmp_path / "qwen.tiktoken"
    shutil.copyfile(qwen_tiktoken_path(), copy)
    assert load_qwen2(copy).encode("Hello, world!") == [9707, 11, 1879, 0]
