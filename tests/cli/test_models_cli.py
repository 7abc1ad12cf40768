"""`mmtok models` and `mmtok count --model all`: the registry at a glance."""

from __future__ import annotations

import json
from pathlib import Path

import mmtok
from mmtok.cli.main import main

SAMPLE = Path(mmtok.__file__).parent / "data" / "sample.jpg"


def test_models_lists_the_registry(capsys):
    assert main(["models", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == mmtok.model_names()
    for row in rows:
        assert row["reference"] and isinstance(row["defaults"], dict)
    qwen = next(r for r in rows if r["model"] == "qwen2-vl")
    assert qwen["defaults"] == {"min_pixels": 3136, "max_pixels": 12845056} and "qwen2_vl" in qwen["aliases"]
    assert main(["models"]) == 0
    assert "qwen2.5-vl" in capsys.readouterr().out


def test_count_all_models_one_column_each(capsys, photo_files):
    files = [str(SAMPLE), str(photo_files[0])]
    assert main(["count", "--model", "all", "--json", *files]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == files
    for row in rows:
        for model in mmtok.model_names():
            assert row["tokens"][model] == mmtok.plan_image(model, row["path"]).tokens, model
    assert main(["count", "--model", "qwen2-vl,qwen3-vl", *files]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["path", "qwen2-vl", "qwen3-vl"] and out.splitlines()[-1].startswith("total")


def test_family_options_on_the_command_line(capsys):
    assert main(["count", "--model", "qwen2-vl", "--option", "max_pixels=200704", "--json", str(SAMPLE)]) == 0
    row = [l for l in capsys.readouterr().out.splitlines()][0]
    assert json.loads(row)["tokens"] == mmtok.plan_image("qwen2-vl", str(SAMPLE), max_pixels=200704).tokens
    assert main(["count", "--model", "qwen2-vl", "--option", "nope=1", str(SAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "takes no option 'nope'" in err and "max_pixels" in err and err.count("\n") == 1
