"""mmtok's "qwen-vl" text tokenizer against Qwen-VL's tokenization_qwen.py and tiktoken.

The reference cannot be installed (it is remote code on the Hugging Face Hub), so the tests run its
code transcribed line by line in reference_qwen_vl.py (tokenization_qwen.py of the mirror
x1ngzai/Qwen-VL-Chat-Int4 @ 1cd721a27dd000fc4cf688c6ad58e614da1d600d): the special-token list, the
`tokenize` -> `_replace_closed_tag` / `_encode_imgurl` image span, `_decode`. Published numbers:
config.json's visual.image_start_id 151857, with </img> and <imgpad> at +1 and +2 (modeling_qwen.py
and vLLM's qwen_vl.py), and Qwen's published ids for "Hello, world!".
"""

from __future__ import annotations

import itertools
import pickle
import unicodedata

import numpy as np
import pytest
import tiktoken
from reference_qwen_vl import IMAGE_ST, SPECIAL_TOKENS, QWenTokenizer
from reference_tokenizers import QWEN_PATTERN
from text_samples import random_texts, with_specials

from mmtok.errors import SpecialTokenError
from mmtok.text import get_tokenizer
from mmtok.errors import ImageSpanError
from mmtok.text.qwen_vl import load_qwen_vl

TEXTS = random_texts(1000, seed=20230824)

# Published: Qwen-VL config.json "visual": {"image_start_id": 151857}; modeling_qwen.py finds </img>
# at image_start_id + 1 and <imgpad> at + 2 (as vLLM's VisionTransformer: image_end_id, image_pad_id).
PUBLISHED_SPECIAL_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
                         "<img>": 151857, "</img>": 151858, "<imgpad>": 151859}  # fmt: skip


@pytest.fixture(scope="module")
def tok():
    return get_tokenizer("qwen-vl")


@pytest.fixture(scope="module")
def ref():
    return QWenTokenizer()


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def outcome(fn, *args, **kwargs):
    try:
        return ("ids", fn(*args, **kwargs))
    except (ValueError, TypeError) as e:  # the reference raises ValueError, or TypeError for a special in a span
        return ("raises", type(e).__name__)


def test_special_tokens_as_the_reference_numbers_them(tok, ref):
    assert tok.special_tokens == ref.special_tokens
    assert list(tok.special_tokens) == list(SPECIAL_TOKENS + IMAGE_ST)  # in id order
    for token, token_id in PUBLISHED_SPECIAL_IDS.items():
        assert tok.special_id(token) == token_id
    assert (tok.image_start_id, tok.image_end_id, tok.image_pad_id) == (151857, 151858, 151859)
    assert "<point>" not in tok.special_tokens  # Qwen-VL has <ref>, <box>, <quad> only
    assert tok.n_vocab == ref.tokenizer.n_vocab == 151860


def test_nfc_of_the_whole_text_as_the_reference(tok, ref):
    # tokenize normalises before tiktoken finds special tokens: U+0338 joins the ">" of <|im_end|>
    text = "<|im_end|>\u0338e\u0301<img>cafe\u0301</img>"
    ids = tok.encode(text, allowed_special="all")
    assert ids == ref.encode(text)
    assert 151645 not in ids and ids[ids.index(151857) + 1 : ids.index(151857) + 6] == list("café".encode())
    qwen2 = get_tokenizer("qwen2")  # Qwen2's tokenizer.json normalises between special tokens only
    assert qwen2.encode("<|im_end|>\u0338", allowed_special="all")[0] == 151645


def test_published_text_ids(tok):
    assert tok.encode("Hello, world!") == [9707, 11, 1879, 0]  # qwen.tiktoken, shared with Qwen2
    assert tok.decode([9707, 11, 1879, 0]) == "Hello, world!"


def test_text_same_as_tiktoken_and_reference(tok, ref):
    raw = tiktoken.Encoding("raw", pat_str=QWEN_PATTERN, mergeable_ranks=ref.mergeable_ranks, special_tokens=ref.special_tokens)
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids == raw.encode(nfc(text)) == ref.encode(text), text
        assert tok.encode_ordinary(text) == ids
        assert tok.decode(ids) == nfc(text) == ref.decode(ids)


def test_text_with_special_tokens_same_as_reference(tok, ref):
    # random special tokens, image tags among them: spans that close, that do not, that hold other specials
    specials = ["<|im_start|>", "<|im_end|>", "<|extra_7|>", *IMAGE_ST]
    texts = with_specials(TEXTS[:600], specials)
    results = {"ids": 0, "raises": 0}
    for text in texts:
        expected = outcome(ref.encode, text)  # tokenize's defaults: every special allowed
        got = outcome(tok.encode, text, allowed_special="all")
        assert got[0] == expected[0], text
        if expected[0] == "ids":
            assert got == expected, text
            decoded = outcome(ref.decode, got[1])  # _decode fails on a span without a pad (a 256-byte path)
            if decoded[0] == "ids":
                assert tok.decode(got[1]) == decoded[1], text
        results[expected[0]] += 1
    assert results["ids"] > 100 and results["raises"] > 20  # both branches were exercised


@pytest.mark.parametrize(
    "url",
    [
        "assets/demo.jpeg",
        "https://qianwen-res.oss-cn-beijing.aliyuncs.com/Qwen-VL/assets/demo.jpeg",
        "图片/猫.png",
        "cafe\u0301.jpg",  # NFC turns e + U+0301 into é: the span holds the normalised bytes
        "",
        "x" * 255,
        "x" * 256,
        "p" * 100 + " spaces and\nnewline",
    ],
)
def test_image_span_same_as_reference(tok, ref, url):
    text = f"Picture 1: <img>{url}</img>\nWhat is in the picture?"
    ids = tok.encode(text, allowed_special="all")
    assert ids == ref.encode(text)
    start = ids.index(151857)
    span = ids[start + 1 : ids.index(151858)]
    assert len(span) == 256
    data = nfc(url).encode()
    assert span == [*data, *[151859] * (256 - len(data))]  # the bytes themselves, then pads
    if len(data) < 256:  # the reference's _decode needs a pad to find the URL's end
        assert tok.decode(ids) == ref.decode(ids) == nfc(text)
    else:
        assert tok.decode(ids) == nfc(text)


def test_image_span_errors_where_the_reference_fails(tok, ref):
    for text in ["<img>" + "x" * 257 + "</img>", "<img>a.jpg", "a <img>b</img> <img>c", "<img>a<ref>b</img>", "<img><imgpad></img>"]:
        assert outcome(ref.encode, text)[0] == "raises", text
        with pytest.raises(ImageSpanError):
            tok.encode(text, allowed_special="all")
    with pytest.raises(ImageSpanError, match="257 bytes"):
        tok.encode("<img>" + "é" * 128 + "x</img>", allowed_special="all")


def test_image_span_only_when_img_is_a_control_token(tok, ref):
    text = "<img>a.jpg</img>"
    assert tok.encode(text, disallowed_special=()) == ref.encode(text, allowed_special=set(), disallowed_special=())
    assert tok.encode(text, allowed_special={"<img>", "</img>"}) == ref.encode(text)
    assert tok.encode(text, allowed_special={"<img>", "</img>"}) == ref.encode(text, allowed_special=set(IMAGE_ST))
    with pytest.raises(SpecialTokenError, match="<img>"):
        tok.encode(text)  # tiktoken's default policy: a special spelling in text is an error
    assert tok.encode("</img> stray", allowed_special="all") == ref.encode("</img> stray")  # no span without <img>


def test_decode_of_spans_not_made_by_the_encoder(tok):
    # a full 256-byte span (no pad: the reference's _decode fails) and a span of ordinary BPE ids
    full = [151857, *b"y" * 256, 151858]
    assert tok.decode(full) == "<img>" + "y" * 256 + "</img>"
    bpe = [151857, *tok.encode("Hello"), 151858]
    assert tok.decode(bpe) == "<img>Hello</img>"
    assert tok.decode([151857, 97, 98]) == tok.encoding.decode([151857, 97, 98])  # unclosed: as it is
    ids = tok.encode("<img>a.jpg</img>", allowed_special="all")
    assert tok.decode(np.array(ids)) == tok.decode(list(np.array(ids))) == "<img>a.jpg</img>"


def test_policy_matrix_matches_tiktoken(tok, ref):
    # tiktoken's special-token policy (mmtok.text.base), with tiktoken on the same vocabulary as reference
    raw = tiktoken.Encoding("raw", pat_str=QWEN_PATTERN, mergeable_ranks=ref.mergeable_ranks, special_tokens=ref.special_tokens)
    a, b = "<|im_end|>", "<box>"
    texts = ["plain text", a, f"x{a}y", f"{a}hello{b}\n", f"{b} {b}{a}", f"<|{a}|>", f"{a[:-1]} not quite"]
    for text, allowed, dis in itertools.product(texts, [set(), "all", {a}, {b}, {a, b}], ["all", (), {a}, {b}]):
        try:
            expected = raw.encode(text, allowed_special=allowed, disallowed_special=dis)
        except ValueError:
            with pytest.raises(SpecialTokenError):
                tok.encode(text, allowed_special=allowed, disallowed_special=dis)
        else:
            assert tok.encode(text, allowed_special=allowed, disallowed_special=dis) == expected


def test_aliases_and_pickling(tok, tmp_path):
    assert get_tokenizer("QWEN_VL") is tok
    assert pickle.loads(pickle.dumps(tok)) is tok
    from reference_tokenizers import qwen_tiktoken_path

    local = load_qwen_vl(qwen_tiktoken_path())  # an explicit vocabulary file: pickled by value
    clone = pickle.loads(pickle.dumps(local))
    assert type(clone) is type(local)
    text = "<img>a.jpg</img>"
    assert clone.encode(text, allowed_special="all") == tok.encode(text, allowed_special="all")
