"""A local tokenizer.json under tiktoken's policy, against the `tokenizers` library and transformers.

The tokenizer is trained here (a tiny byte-level BPE with an NFC normaliser, the special tokens
"<|endoftext|>" and "<image>", plus "<mask>" which strips the whitespace around it, a non-special
added token, a post-processor and a truncation setting that encode must ignore).
With special tokens allowed, the references are `tokenizers` and transformers' PreTrainedTokenizerFast
(`add_special_tokens=False`). With special spellings kept as text, the reference is the library's
pipeline run by hand (normaliser -> pre-tokenizer -> model), which never sees the added tokens.
"""

from __future__ import annotations

import pickle
import re
import unicodedata

import pytest
from text_samples import random_texts, with_specials

from mmtok.errors import SpecialTokenError, UnknownNameError, VocabFileError
from mmtok.text import get_tokenizer

TRAINED_SPECIALS = ["<|endoftext|>", "<image>"]
SPECIALS = [*TRAINED_SPECIALS, "<mask>"]
SENTENCES = [
    "the cat sat on the mat",
    "Describe this image in detail.",
    "A photo of a dog playing in the park, next to the cat.",
    "こんにちは世界 — hello world!",
    "def encode(self, text): return self.model.tokenize(text)",
    "1234567890 + 42 = 1234567932",
] * 20
TEXTS = [t for t in random_texts(1000, seed=11) if "mmtok" not in t]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=TRAINED_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    tok.add_tokens([AddedToken("mmtok", special=False)])  # an added token that is not special
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, special=True)])
    eot = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eot)]
    )
    tok.enable_truncation(max_length=8)
    path = tmp_path_factory.mktemp("tiny") / "tokenizer.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return get_tokenizer(str(tiny_path))


@pytest.fixture(scope="module")
def ref(tiny_path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_path))
    tok.no_truncation()  # as transformers does when called without truncation=True
    return tok


@pytest.fixture(scope="module")
def ref_fast(tiny_path):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(tiny_path))


def by_hand(ref, text: str) -> list[int]:
    """The library's pipeline without the added-token matcher: special spellings are plain text."""
    ids = []
    for piece, _ in ref.pre_tokenizer.pre_tokenize_str(ref.normalizer.normalize_str(text)):
        ids += [token.id for token in ref.model.tokenize(piece)]
    return ids


def test_special_tokens_are_the_special_added_tokens(tiny, ref):
    assert tiny.special_tokens == {s: ref.token_to_id(s) for s in SPECIALS}
    assert tiny.token_to_id("mmtok") == ref.token_to_id("mmtok")  # added, but not special
    assert tiny.n_vocab == ref.get_vocab_size(with_added_tokens=True)


def test_same_ids_as_tokenizers_and_transformers(tiny, ref, ref_fast):
    for text in TEXTS:
        expected = ref.encode(text, add_special_tokens=False).ids
        assert tiny.encode(text) == expected, text
        assert ref_fast.encode(text, add_special_tokens=False) == expected, text


def test_allowed_special_tokens(tiny, ref, ref_fast):
    for text in with_specials(TEXTS[:300], SPECIALS) + ["mmtok<image>mmtok", "<image><image>"]:
        expected = ref.encode(text, add_special_tokens=False).ids
        assert tiny.encode(text, allowed_special="all") == expected, text
        assert ref_fast.encode(text, add_special_tokens=False) == expected, text


def test_special_spellings_as_ordinary_text(tiny, ref):
    for text in with_specials(TEXTS[:300], SPECIALS):
        expected = by_hand(ref, text)
        assert tiny.encode(text, disallowed_special=()) == expected, text
        assert tiny.encode_ordinary(text) == expected, text
        assert not set(expected) & set(tiny.special_tokens.values())


def split_reference(ref, text: str, allowed: set[str]) -> list[int]:
    """Allowed spellings as control ids, the rest by hand; "<mask>" also takes the whitespace around
    it (AddedToken lstrip/rstrip). Checked against the library itself in the test below."""
    pattern = "|".join(rf"\s*{re.escape(t)}\s*" if t == "<mask>" else re.escape(t) for t in sorted(allowed))
    ids, start = [], 0
    for found in re.finditer(pattern, text):
        ids += by_hand(ref, text[start : found.start()]) + [ref.token_to_id(found.group().strip())]
        start = found.end()
    return ids + by_hand(ref, text[start:])


@pytest.mark.parametrize("allowed", [{"<image>"}, {"<mask>"}, {"<image>", "<mask>"}])
def test_a_set_allowing_some_tokens(tiny, ref, allowed):
    texts = with_specials(TEXTS[:200], SPECIALS, seed=5) + ["a <mask> b <image> <|endoftext|>\n<mask>\t"]
    # the reference agrees with the library where the library can answer (only allowed spellings present)
    only_allowed = with_specials(TEXTS[:100], sorted(allowed), seed=6)
    for text in only_allowed:
        assert split_reference(ref, text, allowed) == ref.encode(text, add_special_tokens=False).ids, text
    for text in texts:
        others = [t for t in SPECIALS if t not in allowed and t in text]
        with pytest.raises(SpecialTokenError) if others else _nothing():
            tiny.encode(text, allowed_special=allowed)
        got = tiny.encode(text, allowed_special=allowed, disallowed_special=())
        assert got == split_reference(ref, text, allowed), text


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_default_policy_raises(tiny):
    with pytest.raises(SpecialTokenError) as info:
        tiny.encode("look: <image> here")
    assert isinstance(info.value, ValueError)
    assert "<image>" in str(info.value) and "allowed_special" in str(info.value)


def test_post_processor_and_truncation_are_not_applied(tiny, ref):
    text = " ".join(SENTENCES[:6])
    ids = tiny.encode(text)
    assert len(ids) > 8 and ids == ref.encode(text, add_special_tokens=False).ids
    assert tiny.special_id("<|endoftext|>") not in ids


def test_decode(tiny, ref):
    for text in with_specials(TEXTS[:300], TRAINED_SPECIALS, seed=3):  # "<mask>" eats whitespace: no round trip
        ids = tiny.encode(text, allowed_special="all")
        # NFC runs between special tokens, never across one ("<image>" + U+0338 must stay two things)
        pieces = re.split("(" + "|".join(map(re.escape, SPECIALS)) + ")", text)
        expected = "".join(p if p in SPECIALS else unicodedata.normalize("NFC", p) for p in pieces)
        assert tiny.decode(ids) == expected == ref.decode(ids, skip_special_tokens=False)
        assert tiny.decode_bytes(ids) == tiny.decode(ids).encode("utf-8")


def test_token_to_id(tiny, ref):
    assert tiny.token_to_id("<image>") == ref.token_to_id("<image>")
    assert tiny.token_to_id(" the") == ref.token_to_id("Ġthe") is not None  # byte-level spelling of " the"
    assert tiny.token_to_id("xyzzy plugh") is None
    byte = tiny.token_to_id(b"\xe5")  # the first byte of a CJK character: a token of a byte-level BPE
    assert byte == ref.token_to_id("å") is not None
    assert tiny.decode_bytes([byte]) == b"\xe5"
    assert tiny.decode([byte]) == "\ufffd" == ref.decode([byte])


def test_pickle(tiny):
    copy = pickle.loads(pickle.dumps(tiny))
    text = "the cat <image>"
    assert copy.encode(text, allowed_special="all") == tiny.encode(text, allowed_special="all")


def test_same_as_the_tiktoken_engine_on_qwen(ref_qwen_tokenizer_file):
    """Qwen2's vocabulary as a tokenizer.json behaves exactly like mmtok's tiktoken-run "qwen2"."""
    from reference_tokenizers import QWEN2_SPECIALS

    as_json = get_tokenizer(str(ref_qwen_tokenizer_file))
    qwen = get_tokenizer("qwen2")
    assert as_json.special_tokens == qwen.special_tokens
    texts = with_specials(random_texts(300, seed=99), QWEN2_SPECIALS)
    one = {"<|image_pad|>"}
    for text in texts:
        for policy in (
            {"allowed_special": "all"},
            {"disallowed_special": ()},
            {"allowed_special": one, "disallowed_special": ()},
        ):
            assert as_json.encode(text, **policy) == qwen.encode(text, **policy), (text, policy)


def test_directory_holding_a_tokenizer_json(tiny_path, tiny):
    assert get_tokenizer(tiny_path.parent).encode("the cat") == tiny.encode("the cat")


def test_broken_json(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"version": "1.0", "model": {')
    with pytest.raises(VocabFileError, match=re.escape(str(path))):
        get_tokenizer(str(path))


def test_json_that_is_not_a_tokenizer(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"hidden_size": 1024}')
    with pytest.raises(VocabFileError, match="not a tokenizer.json"):
        get_tokenizer(str(path))
    path.write_text('{"model": {"type": "NoSuchModel"}}')
    with pytest.raises(VocabFileError, match="cannot load"):
        get_tokenizer(str(path))


def test_binary_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(VocabFileError, match="not UTF-8"):
        get_tokenizer(str(path))


def test_missing_path_is_an_unknown_name(tmp_path):
    missing = tmp_path / "nowhere" / "tokenizer.json"
    with pytest.raises(UnknownNameError) as info:
        get_tokenizer(str(missing))
    assert "tokenizer.json" in str(info.value) and "qwen2" in str(info.value)


def test_directory_without_tokenizer_json(tmp_path):
    with pytest.raises(VocabFileError, match="without a tokenizer.json"):
        get_tokenizer(str(tmp_path))
