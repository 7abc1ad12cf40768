"""Adding multimodal special tokens (mmtok.text.added_tokens) against transformers.

References: transformers' own `add_special_tokens` on the same tokenizer.json (the ids it assigns),
PreTrainedTokenizerFast loading mmtok's saved file (same ids on random multilingual text with the
tokens inserted), and, for qwen2, tiktoken (mmtok's in-memory extension) against transformers
running the tokenizer.json mmtok wrote.
"""

from __future__ import annotations

import inspect
import io
import json

import pytest
from text_samples import random_texts, with_specials

from mmtok.errors import InvalidOptionError
from mmtok.text import get_tokenizer
from mmtok.text.added_tokens import MULTIMODAL_TOKENS, add_special_tokens, max_id, region_tokens
from mmtok.text.train import train

NEW = [*MULTIMODAL_TOKENS, *region_tokens(8)]
TEXTS = random_texts(200, seed=31)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import os
    import re

    path = tmp_path_factory.mktemp("added") / "tokenizer.json"
    docs = [inspect.getdoc(m) or "" for m in (json, os, re, inspect)]
    train(texts=docs + random_texts(200, seed=3), vocab_size=700, special_tokens=["<|endoftext|>", "<pad>"], out=path)
    return path


def test_ids_are_transformers_ids(trained, tmp_path):
    from transformers import PreTrainedTokenizerFast

    before = get_tokenizer(trained)
    regular = "the"
    assert before.token_to_id(regular) is not None  # a regular vocabulary entry, spelled exactly so
    tokens = [*NEW, "<|endoftext|>", regular]
    out = tmp_path / "added.json"
    result = add_special_tokens(trained, tokens, out=out)

    hf = PreTrainedTokenizerFast(tokenizer_file=str(trained))
    hf.add_special_tokens({"additional_special_tokens": tokens})
    assert result.ids == {t: hf.convert_tokens_to_ids(t) for t in tokens}
    assert result.existing == ["<|endoftext|>", regular] and result.new == NEW
    assert result.ids["<|endoftext|>"] == before.special_tokens["<|endoftext|>"]
    assert result.ids[regular] == before.token_to_id(regular)
    old_max = max_id(before)
    assert [result.ids[t] for t in NEW] == list(range(old_max + 1, old_max + 1 + len(NEW)))
    assert result.tokenizer.n_vocab == len(hf) == 700 + len(NEW)


def test_saved_file_reloads_intact(trained, tmp_path):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "added.json"
    result = add_special_tokens(get_tokenizer(trained), NEW, out=out)
    reloaded = get_tokenizer(out)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    assert {t: reloaded.token_to_id(t) for t in NEW} == result.ids == {t: hf.convert_tokens_to_ids(t) for t in NEW}
    assert set(NEW) <= set(reloaded.special_tokens)
    image = result.ids["<image>"]
    assert reloaded.encode("a<image>b", allowed_special="all") == hf.encode("a<image>b", add_special_tokens=False)
    assert image in reloaded.encode("a<image>b", allowed_special="all")  # atomic
    assert image not in reloaded.encode("a<image>b", disallowed_special=())  # or plain text, by choice
    original = get_tokenizer(trained)
    for text in with_specials(TEXTS, [*NEW, "<|endoftext|>"]):
        ids = reloaded.encode(text, allowed_special="all")
        assert ids == hf.encode(text, add_special_tokens=False), text
        assert reloaded.decode(ids) == text
    for text in TEXTS:  # ids of text without the new spellings do not change
        assert reloaded.encode(text) == original.encode(text)


def test_qwen2_in_memory_and_as_tokenizer_json(tmp_path):
    from transformers import PreTrainedTokenizerFast

    tokens = ["<image>", "</image>", "<|im_end|>", "<r0>"]
    memory = add_special_tokens("qwen2", tokens)
    assert memory.ids == {"<image>": 151657, "</image>": 151658, "<|im_end|>": 151645, "<r0>": 151659}
    assert memory.path is None and memory.tokenizer.special_tokens["<image>"] == 151657
    out = tmp_path / "qwen2-added.json"
    saved = add_special_tokens("qwen2", tokens, out=out)
    assert saved.ids == memory.ids
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    assert {t: hf.convert_tokens_to_ids(t) for t in tokens} == memory.ids
    qwen2 = get_tokenizer("qwen2")
    for text in with_specials(TEXTS, [*tokens, "<|im_start|>"]):
        ids = memory.tokenizer.encode(text, allowed_special="all")  # tiktoken
        assert ids == hf.encode(text, add_special_tokens=False), text  # tokenizers, from mmtok's file
        assert ids == saved.tokenizer.encode(text, allowed_special="all")
    for text in TEXTS:
        assert memory.tokenizer.encode(text) == qwen2.encode(text)


def test_cl100k_gap_and_sentencepiece(tmp_path):
    result = add_special_tokens("cl100k_base", ["<image>"])
    assert result.ids == {"<image>": 100277}  # after <|endofprompt|> = 100276, the largest id
    with pytest.raises(InvalidOptionError, match="not 100256, 100257, ... in a row"):
        add_special_tokens("cl100k_base", ["<image>"], out=tmp_path / "x.json")
    spm = pytest.importorskip("sentencepiece")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter((inspect.getdoc(json) or "").splitlines() * 5), model_writer=model, vocab_size=150, minloglevel=2
    )
    path = tmp_path / "sp.model"
    path.write_bytes(model.getvalue())
    with pytest.raises(InvalidOptionError, match="does not edit SentencePiece"):
        add_special_tokens(path, ["<image>"])


def test_bad_tokens(trained):
    with pytest.raises(InvalidOptionError, match="no tokens to add"):
        add_special_tokens(trained, [])
    for bad in ["", " <image>", "<image>\n"]:
        with pytest.raises(InvalidOptionError, match="cannot add the token"):
            add_special_tokens(trained, [bad])
    assert region_tokens(3) == ["<r0>", "<r1>", "<r2>"] and region_tokens(2, "<loc_{}>") == ["<loc_0>", "<loc_1>"]
