"""`mmtok data validate/stats --name`: LLaMA-Factory's published dataset_info.json entry drives the
data commands (file, format with its column/tag names, media folder)."""

from __future__ import annotations

import json

from PIL import Image
from test_dataset_info import DATASET_INFO, MLLM_DEMO

from mmtok.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_and_stats_read_a_dataset_info_entry(capsys, tmp_path, photos):
    (tmp_path / "dataset_info.json").write_text(DATASET_INFO, encoding="utf-8")
    (tmp_path / "mllm_demo.json").write_text(MLLM_DEMO, encoding="utf-8")
    (tmp_path / "mllm_demo_data").mkdir()
    for i, (_, array) in enumerate(photos[:3], 1):
        Image.fromarray(array).save(tmp_path / "mllm_demo_data" / f"{i}.jpg", quality=90)
    code, out, _ = run(capsys, "data", "validate", str(tmp_path), "--name", "mllm_demo", "--model", "qwen2-vl", "--json")
    assert code == 0 and json.loads(out) == {"records": 3, "clean": 3, "rejected": 0, "by_reason": {}}
    code, _, err = run(capsys, "data", "validate", str(tmp_path / "dataset_info.json"), "--model", "qwen2-vl")
    assert code == 2 and "--name" in err and "mllm_demo" in err
    # Without the entry, the file does not read as the default sharegpt (its column is "messages",
    # its tags role/content) ...
    code, out, _ = run(capsys, "data", "validate", str(tmp_path / "mllm_demo.json"), "--format", "sharegpt", "--json")
    assert code == 1 and json.loads(out)["rejected"] == 3
    # ... and with it, the lengths equal those of the same records read as ms-swift rows (the
    # published records happen to be in that shape too), images found under the entry's folder.
    code, via_info, _ = run(capsys, "data", "stats", str(tmp_path), "--name", "mllm_demo", "--model", "qwen2-vl", "--json")
    assert code == 0
    code, as_swift, _ = run(capsys, "data", "stats", str(tmp_path / "mllm_demo.json"), "--format", "swift", "--model", "qwen2-vl", "--json")
    assert code == 0
    via_info, as_swift = json.loads(via_info), json.loads(as_swift)
    assert via_info["models"] == as_swift["models"] and via_info["models"][0]["measured"] == 3
