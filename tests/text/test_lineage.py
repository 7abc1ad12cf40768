"""Tokenizer lineage against real vocabulary files.

Golden values come from (1) straightforward code in this file run on the raw rank files (base64 lines
parsed here, scipy's spearmanr, an O(n^2) LIS), (2) the published worked example of the research
brief (../shared/research/discrete.md B6: Qwen = cl100k_base with 1,100 digit-bearing tokens removed
and 52,487 appended, 99,156 shared tokens in the same order, common prefix 410), and (3) vocabularies
built here with a known history (shuffled, appended, pruned) or trained here with the `tokenizers`
library on text that shares no history with cl100k_base.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import random
import re
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from mmtok.errors import UnknownNameError, VocabFileError
from mmtok.text.cl100k import cl100k_tiktoken_path
from mmtok.text.lineage import compare_vocabularies, lineage, longest_increasing_subsequence
from mmtok.text.qwen2 import qwen_tiktoken_path
from mmtok.text.token_kinds import KINDS, token_kind
from mmtok.text.vocab import load_vocabulary


def read_ranks(path: Path) -> dict[bytes, int]:
    """A .tiktoken file, parsed here: one 'base64(token) rank' per line."""
    ranks = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def write_ranks(path: Path, tokens: list[bytes]) -> Path:
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    return path


def in_rank_order(ranks: dict[bytes, int]) -> list[bytes]:
    return [t for t, _ in sorted(ranks.items(), key=lambda kv: kv[1])]


@pytest.fixture(scope="module")
def qwen_ranks():
    return read_ranks(qwen_tiktoken_path())


@pytest.fixture(scope="module")
def cl100k_ranks():
    return read_ranks(cl100k_tiktoken_path())


@pytest.fixture(scope="module")
def qwen_vs_cl100k_report():
    return lineage("qwen2", "cl100k_base")


@pytest.fixture(scope="module")
def qwen_vs_cl100k(qwen_vs_cl100k_report):
    return qwen_vs_cl100k_report.to_dict()


def lis_quadratic(seq) -> int:
    best = [1] * len(seq)
    for i in range(len(seq)):
        for j in range(i):
            if seq[j] < seq[i] and best[j] + 1 > best[i]:
                best[i] = best[j] + 1
    return max(best, default=0)


# --- the worked example: qwen.tiktoken vs cl100k_base ---------------------------------------------


def test_qwen_vs_cl100k_membership_from_the_raw_files(qwen_vs_cl100k, qwen_ranks, cl100k_ranks):
    r = qwen_vs_cl100k
    shared = qwen_ranks.keys() & cl100k_ranks.keys()
    removed = cl100k_ranks.keys() - qwen_ranks.keys()
    added = qwen_ranks.keys() - cl100k_ranks.keys()
    assert (len(qwen_ranks), len(cl100k_ranks)) == (151_643, 100_256)
    assert (len(shared), len(removed), len(added)) == (99_156, 1_100, 52_487)  # the published numbers
    assert r["a"]["regular_tokens"] == len(qwen_ranks) and r["b"]["regular_tokens"] == len(cl100k_ranks)
    assert r["shared"]["count"] == len(shared)
    assert r["shared"]["jaccard"] == pytest.approx(len(shared) / len(qwen_ranks.keys() | cl100k_ranks.keys()))
    assert round(r["shared"]["jaccard"], 4) == 0.6492 and round(r["shared"]["containment_b"], 4) == 0.9890
    assert (r["a"]["only"], r["b"]["only"]) == (len(added), len(removed))
    # every removed token holds a digit; the report files them all under "digits"
    assert all(re.search(rb"[0-9]", t) for t in removed)
    assert r["b"]["only_by_kind"] == {"digits": 1_100}
    # Qwen's own tokens are all after every shared token (an appended tail), cl100k's are not
    last_shared = max(qwen_ranks[t] for t in shared)
    assert min(qwen_ranks[t] for t in added) > last_shared
    assert r["a"]["only_appended"] is True and r["b"]["only_appended"] is False
    assert sum(r["a"]["only_by_kind"].values()) == len(added)


def test_qwen_vs_cl100k_order_from_the_raw_files(qwen_vs_cl100k, qwen_ranks, cl100k_ranks):
    r = qwen_vs_cl100k
    shared = sorted(qwen_ranks.keys() & cl100k_ranks.keys(), key=qwen_ranks.__getitem__)
    cl_in_qwen_order = [cl100k_ranks[t] for t in shared]
    # all shared tokens keep their relative order: the cl100k ranks in Qwen's order only go up
    assert all(x < y for x, y in zip(cl_in_qwen_order, cl_in_qwen_order[1:]))
    rho = spearmanr([qwen_ranks[t] for t in shared], cl_in_qwen_order).statistic
    assert rho == pytest.approx(1.0)
    assert r["order"]["spearman"] == pytest.approx(rho) and r["order"]["lis"] == len(shared) == 99_156
    assert r["order"]["lis_fraction"] == 1.0
    # common rank prefix: 410 (published: first divergence at rank 410, cl100k b'00' vs Qwen b'ith')
    q, c = in_rank_order(qwen_ranks), in_rank_order(cl100k_ranks)
    prefix = next(i for i, (x, y) in enumerate(zip(q, c)) if x != y)
    assert prefix == 410 and (q[410], c[410]) == (b"ith", b"00")
    assert r["common_prefix"] == {"length": prefix, "a": "ith", "b": "00"}
    assert r["shared"]["same_id"] == sum(1 for t in shared if qwen_ranks[t] == cl100k_ranks[t]) == 410


def test_qwen_vs_cl100k_verdict_and_merges(qwen_vs_cl100k, qwen_vs_cl100k_report):
    r = qwen_vs_cl100k
    v = r["verdict"]
    assert v["verdict"] == "derived" and v["direction"] == "a_from_b"  # qwen2 derived from cl100k_base
    assert v["changes"] == {"removed": 1_100, "added": 52_487, "appended": True, "renumbered": False, "moved": 0}
    # merges: the first 154 (ranks 256..409, inside the common prefix) agree position for position
    assert r["merges"]["100"] == {"compared": 100, "same_position": 100, "in_both": 100}
    assert r["merges"]["1000"]["same_position"] == 410 - 256
    # published (B5): single-byte ranks follow GPT-2's bytes_to_unicode order, rank 0 = "!", rank 1 = '"'
    from reference_tokenizers import _bytes_to_unicode

    gpt2 = [bytes([b]) for b in sorted(range(256), key=_bytes_to_unicode().__getitem__)]
    assert gpt2[:2] == [b"!", b'"'] and load_vocabulary("qwen2").tokens[:256] == gpt2
    assert r["a"]["byte_order"] == r["b"]["byte_order"] == "GPT-2"
    assert r["specials"]["common"] == 1 and r["specials"]["only_b"] == [
        "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"
    ]  # fmt: skip
    text = qwen_vs_cl100k_report.text()
    assert "derived: qwen2 from cl100k_base (removed 1,100, added 52,487 (appended))" in text
    assert "99,156" in text and "digits" in text


# --- vocabularies with a known history --------------------------------------------------------------


def test_shuffled_copy_is_renumbered(tmp_path, cl100k_ranks):
    tokens = in_rank_order(cl100k_ranks)
    random.Random(7).shuffle(tokens)
    r = lineage("cl100k_base", str(write_ranks(tmp_path / "shuffled.tiktoken", tokens)), merges=False).to_dict()
    n = len(tokens)
    assert r["shared"]["count"] == n and r["shared"]["jaccard"] == 1.0
    rho = spearmanr(np.arange(n), [cl100k_ranks[t] for t in tokens]).statistic
    assert r["order"]["spearman"] == pytest.approx(rho, abs=1e-9)
    assert r["order"]["lis"] < 4 * n**0.5  # a random permutation's LIS is about 2 sqrt(n)
    v = r["verdict"]
    assert v["verdict"] == "derived" and v["direction"] is None and v["changes"]["renumbered"] is True


def test_appended_copy_is_an_extension(tmp_path, cl100k_ranks):
    base = in_rank_order(cl100k_ranks)
    extra = [f" mmtoklineage{i}".encode() for i in range(300)]
    assert not set(extra) & cl100k_ranks.keys()
    path = write_ranks(tmp_path / "extended.tiktoken", base + extra)
    r = lineage("cl100k_base", str(path)).to_dict()
    assert r["common_prefix"]["length"] == len(base)  # LCP = |A|: an extension
    assert (r["a"]["only"], r["b"]["only"], r["b"]["only_appended"]) == (0, 300, True)
    v = r["verdict"]
    assert v["verdict"] == "derived" and v["direction"] == "b_from_a"
    assert (v["changes"]["added"], v["changes"]["removed"], v["changes"]["appended"]) == (300, 0, True)


def test_pruned_copy_is_derived_the_other_way(tmp_path, cl100k_ranks):
    kept = [t for t in in_rank_order(cl100k_ranks) if not re.search(rb"[0-9]{2}", t)]
    removed = len(cl100k_ranks) - len(kept)
    r = lineage(str(write_ranks(tmp_path / "pruned.tiktoken", kept)), "cl100k_base", merges=False).to_dict()
    v = r["verdict"]
    assert v["verdict"] == "derived" and v["direction"] == "a_from_b"
    assert (v["changes"]["removed"], v["changes"]["added"]) == (removed, 0)
    assert r["b"]["only_by_kind"] == {"digits": removed}


def test_identical_and_same_regular_vocabulary():
    r = lineage("qwen2", "qwen2", merges=False).to_dict()
    assert r["verdict"]["verdict"] == "same" and r["verdict"]["differences"] == []
    report = lineage("qwen2", "qwen-vl", merges=False)  # same ranks, Qwen-1's special tokens
    r = report.to_dict()
    assert r["verdict"]["verdict"] == "same" and r["verdict"]["differences"] == ["special tokens"]
    assert r["specials"]["common"] == 3 and r["specials"]["same_id"] == 3  # endoftext, im_start, im_end
    assert len(r["specials"]["only_b"]) == 214 and r["specials"]["only_a"][-1] == "<|video_pad|>"
    assert "<|extra_0|> .. <|extra_204|> 151646-151850 (205)" in report.text()


def test_tokenizer_json_rebuild_is_the_same_with_the_same_merges(ref_qwen_tokenizer_file):
    """The reference tokenizer.json (merges recovered by tests/reference_tokenizers.py, tokens in GPT-2's
    byte alphabet) canonicalises to qwen2's bytes, and its merge list equals mmtok's recovered one."""
    r = compare_vocabularies(load_vocabulary("qwen2"), load_vocabulary(ref_qwen_tokenizer_file)).to_dict()
    assert r["verdict"]["verdict"] == "same" and r["verdict"]["differences"] == []
    assert r["merges"]["10000"] == {"compared": 10_000, "same_position": 10_000, "in_both": 10_000}


def _docstring_corpus() -> list[str]:
    texts = []
    for name in ("collections", "functools", "itertools", "json", "argparse", "pathlib", "textwrap", "typing",
                 "dataclasses", "unittest", "logging", "subprocess", "shutil", "csv", "decimal", "statistics",
                 "random", "datetime", "string", "difflib", "pickle", "threading"):  # fmt: skip
        for _, obj in inspect.getmembers(importlib.import_module(name)):
            doc = inspect.getdoc(obj)
            if doc:
                texts.append(doc)
    return texts


def test_bpe_trained_here_is_independent_of_cl100k(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=3000, initial_alphabet=alphabet, special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train_from_iterator(_docstring_corpus(), trainer=trainer)
    tok.save(str(tmp_path / "tokenizer.json"))
    r = lineage(str(tmp_path / "tokenizer.json"), "cl100k_base").to_dict()
    vocab = tok.get_vocab()
    assert r["a"]["regular_tokens"] == len(vocab) - 1 and r["specials"]["a"] == {"<|endoftext|>": 0}
    assert r["shared"]["count"] > 1000  # many tokens in common ...
    assert r["verdict"]["verdict"] == "independent"  # ... but not their order
    assert r["order_multibyte"]["lis_fraction"] < 0.5


def test_trained_with_mmtok_text_train_is_independent(tmp_path):
    """`mmtok text train`'s library call (byte-level BPE with cl100k's regex) on the same text."""
    from mmtok.text.train import train

    out = tmp_path / "trained.json"
    train(texts=_docstring_corpus(), vocab_size=3000, out=out)
    r = lineage(str(out), "cl100k_base", merges=False).to_dict()
    assert r["shared"]["count"] > 1000 and r["verdict"]["verdict"] == "independent"
    # the regular tokens, in bytes, are what the `tokenizers` library decodes each id to
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(out))
    vocab = load_vocabulary(out)
    assert len(vocab) == reference.get_vocab_size()
    for token_id, token in zip(vocab.ids, vocab.tokens):
        assert reference.decode([token_id]) == token.decode("utf-8", errors="replace")


def test_sentencepiece_model(tmp_path):
    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(_docstring_corpus()), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp_path / "sp"), vocab_size=1500, model_type="bpe", byte_fallback=True,
        minloglevel=2,
    )  # fmt: skip
    model = tmp_path / "sp.model"
    processor = spm.SentencePieceProcessor(model_file=str(model))
    vocab = load_vocabulary(model)
    assert vocab.specials == {"<unk>": 0, "<s>": 1, "</s>": 2}
    assert len(vocab) == processor.get_piece_size() - 3
    # the 256 byte-fallback pieces are the bytes themselves; "▁the" is " the"
    assert [t for t, i in zip(vocab.tokens, vocab.ids) if processor.is_byte(i)] == [bytes([b]) for b in range(256)]
    assert vocab.tokens[vocab.ids.index(processor.piece_to_id("\u2581the"))] == b" the"
    assert vocab.byte_order == "identity"
    r = lineage(str(model), "cl100k_base", merges=False).to_dict()
    assert r["verdict"]["verdict"] == "independent"


# --- pieces -----------------------------------------------------------------------------------------


def test_lis_matches_quadratic_reference():
    rng = random.Random(3)
    for n in (0, 1, 2, 10, 57, 300):
        seq = rng.sample(range(10 * n + 1), n)
        assert longest_increasing_subsequence(seq) == lis_quadratic(seq)


@pytest.mark.parametrize(
    "token, kind",
    [(b"123", "digits"), (b" 2019", "digits"), ("x\u0663".encode(), "digits"), (b" the", "Latin words"),
     ("ời".encode(), "Latin words"), ("中文".encode(), "CJK"), ("こんにちは".encode(), "CJK"), (b"\xe4\xb8", "bytes"),
     (b"  \n", "whitespace"), (b"();", "code/punctuation"), (b".get", "code/punctuation"),
     ("привет".encode(), "other scripts"), ("\U0001f600".encode(), "other scripts")],
)  # fmt: skip
def test_token_kinds(token, kind):
    assert token_kind(token) == kind


def test_token_kinds_agree_with_unicodedata(qwen_ranks, cl100k_ranks):
    """Over all of Qwen's own tokens: each kind's defining property, checked with unicodedata."""
    # East Asian blocks (hangul jamo, radicals, CJK symbols, kana, bopomofo, hangul, CJK compatibility, unified
    # ideographs, half/full-width forms, the supplementary ideograph planes), and the core ones
    east_asian = [(0x1100, 0x11FF), (0x2E80, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
                  (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF)]  # fmt: skip
    core = [(0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3)]  # letters, not marks

    def within(text, blocks):
        return any(lo <= ord(c) <= hi for c in text for lo, hi in blocks)

    for token in qwen_ranks.keys() - cl100k_ranks.keys():
        kind = token_kind(token)
        assert kind in KINDS
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            assert kind == "bytes"
            continue
        if kind == "CJK":
            assert within(text, east_asian)
        elif within(text, core):
            assert kind == "digits"
        if kind == "digits":
            assert any(unicodedata.category(c).startswith("N") for c in text)
        elif kind == "Latin words":
            # Latin letters (full-width and modifier ones too), the ordinal indicators ª º and the Kelvin and
            # Angstrom signs: all Script=Latin in Unicode's Scripts.txt
            assert all(c.isspace() or re.search("LATIN|ORDINAL INDICATOR|MODIFIER LETTER|KELVIN|ANGSTROM", unicodedata.name(c)) for c in text)


def test_bad_inputs_name_the_input(tmp_path):
    with pytest.raises(UnknownNameError, match="no-such-tokenizer.*tiktoken"):
        load_vocabulary("no-such-tokenizer")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("not base64 at all\n")
    with pytest.raises(VocabFileError, match="bad.tiktoken"):
        load_vocabulary(bad)
