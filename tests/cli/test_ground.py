"""`mmtok ground`, run in-process, against the official process_bbox.ipynb numbers and cookbook mapping."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from mmtok.cli.main import main

# process_bbox.ipynb: [146, 137, 615, 415] on a 428 x 640 COCO image -> Qwen2-VL [228, 320, 961, 970],
# Qwen2.5-VL [147, 134, 619, 407] (its smart_resize defaults: min 56*56, max 14*14*4*1280 pixels).
NOTEBOOK_LIMITS = ["--min-pixels", "3136", "--max-pixels", "1003520"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_to_model_notebook_example(capsys):
    code, out, err = run(capsys, "ground", "--model", "qwen2.5-vl", "--size", "428x640", *NOTEBOOK_LIMITS, "--label", "bowl of carrots", "146,137,615,415")
    assert code == 0
    assert out == '```json\n[\n\t{"bbox_2d": [147, 134, 619, 407], "label": "bowl of carrots"}\n]\n```\n'
    assert "420 x 644" in err  # the frame, on stderr

    code, out, err = run(capsys, "ground", "--model", "qwen2-vl", "--size", "428x640", "--to-model", "--json", "146, 137, 615, 415", "10,20,30,40")
    data = json.loads(out)
    assert code == 0 and data["frame"] == [1000, 1000] and data["size"] == [428, 640]
    second = [round(10 / 640 * 1000), round(20 / 428 * 1000), round(30 / 640 * 1000), round(40 / 428 * 1000)]  # the notebook's formula
    assert [row["box"] for row in data["groundings"]] == [[228, 320, 961, 970], second]
    assert data["text"].startswith("<|box_start|>(228,320),(961,970)<|box_end|>")


def test_from_model_stdin_json_matches_cookbook_mapping(capsys, monkeypatch):
    output = '```json\n[\n\t{"bbox_2d": [147, 134, 619, 407], "label": "bowl of carrots"},\n\t{"point_2d": [300, 200], "label": "carrot"}\n]\n```'
    monkeypatch.setattr("sys.stdin", io.StringIO(output))
    code, out, err = run(capsys, "ground", "--model", "qwen2.5-vl", "--size", "428x640", *NOTEBOOK_LIMITS, "--round", "int", "--json", "-")
    assert code == 0
    data = json.loads(out)
    assert data["frame"] == [420, 644] and data["limits"] == {"min_pixels": 3136, "max_pixels": 1003520}
    box, point = data["groundings"]
    # the cookbook: int(bbox_2d[0] / input_width * width), input_width = image_grid_thw[2] * 14
    assert box["box"] == [int(147 / 644 * 640), int(134 / 420 * 428), int(619 / 644 * 640), int(407 / 420 * 428)]
    assert box["model_coords"] == {"box": [147, 134, 619, 407]} and box["label"] == "bowl of carrots"
    assert point["point"] == [int(300 / 644 * 640), int(200 / 420 * 428)]


def test_from_model_table_and_image_header(capsys, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.zeros((428, 640, 3), np.uint8)).save(path)
    text = "<|object_ref_start|>bowl<|object_ref_end|><|box_start|>(228,320),(961,970)<|box_end|>"
    code, out, err = run(capsys, "ground", "--model", "qwen2-vl", "--image", str(path), text)
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:2] == ["label", "kind"]
    assert row.split()[:2] == ["bowl", "box"]
    assert "145.92, 136.96, 615.04, 415.16" in row  # x / 1000 * 640, y / 1000 * 428 (3 decimals)


def test_errors_exit_with_a_message(capsys):
    code, out, err = run(capsys, "ground", "--model", "qwen3-vl", "--size", "428x640", '[{"bbox_2d": [1, 2, 3')
    assert code == 2 and out == "" and "truncated" in err and "[{" in err
    code, out, err = run(capsys, "ground", "--model", "qwen2-vl", "--size", "428x640", "10,20")
    assert code == 2 and "no point format" in err
    code, out, err = run(capsys, "ground", "--model", "qwen2-vl", "--size", "428x640", "--from-model", "--label", "x", "(1,2),(3,4)")
    assert code == 2 and "--label is for --to-model" in err
    code, out, err = run(capsys, "ground", "--model", "nope", "--size", "428x640", "1,2")
    assert code == 2 and "known: qwen-vl, qwen2-vl, qwen2.5-vl, qwen3-vl" in err
