"""The lengths RecordTask reports are len(input_ids) of transformers' processors (Qwen2VLProcessor,
Qwen2_5_VLProcessor, Qwen3VLProcessor with the checkpoints' settings and chat templates), for dataset
records in each format, on real photos; too_long says where the cut falls in the reference's ids."""

from __future__ import annotations

import json
import re

import pytest

from conftest import QWEN_MODELS
from mmtok.datasets.task import RecordTask

VISION_IDS = {151652, 151653, 151655}  # <|vision_start|>, <|vision_end|>, <|image_pad|>


def _hf_messages(messages, images, root):
    """ms-swift rows as transformers content lists, written here from the tags (independent of mmtok)."""
    images = iter(images)
    out = []
    for m in messages:
        if "<image>" not in m["content"]:
            out.append({"role": m["role"], "content": [{"type": "text", "text": m["content"]}]})
            continue
        items = []
        for part in re.split("(<image>)", m["content"]):
            if part == "<image>":
                items.append({"type": "image", "path": str(root / next(images))})
            elif part:
                items.append({"type": "text", "text": part})
        out.append({"role": m["role"], "content": items})
    return out


def _reference_ids(reference, messages, images, root):
    ids = reference.apply_chat_template(
        _hf_messages(messages, images, root), add_generation_prompt=False, tokenize=True, return_dict=True, return_tensors="np"
    )["input_ids"]
    return ids[0].tolist()


@pytest.fixture(scope="module")
def records(photo_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    (root / "photos").mkdir()
    names = []
    for p in photo_files[:6]:
        (root / "photos" / p.name).write_bytes(p.read_bytes())
        names.append(f"photos/{p.name}")
    a, b, c, d, e, f = names
    rows = [
        ([{"role": "user", "content": "<image>What is in this photo?"}, {"role": "assistant", "content": "A woman in a space suit."}], [a]),
        ([{"role": "user", "content": "Compare <image> and\n<image>, please."}, {"role": "assistant", "content": "The first is a photo; the second too."}], [b, c]),
        (
            [
                {"role": "system", "content": "Answer briefly, in 中文."},
                {"role": "user", "content": "<image>Describe it."},
                {"role": "assistant", "content": "一只猫。"},
                {"role": "user", "content": "And these? <image><image>"},
                {"role": "assistant", "content": "Coffee and a rocket."},
            ],
            [d, e, f],
        ),
        ([{"role": "user", "content": "Just text: café, naïve."}, {"role": "assistant", "content": "OK."}, {"role": "user", "content": "<image>"}, {"role": "assistant", "content": "An astronaut."}], [a]),
    ]
    return root, rows


def _swift(messages, images):
    return json.dumps({"messages": messages, "images": images}, ensure_ascii=False)


def _sharegpt(messages, images):
    turns = [{"from": {"user": "human", "assistant": "gpt"}[m["role"]], "value": m["content"]} for m in messages if m["role"] != "system"]
    system = [m["content"] for m in messages if m["role"] == "system"]
    return json.dumps({"conversations": turns, "images": images, **({"system": system[0]} if system else {})}, ensure_ascii=False)


@pytest.mark.parametrize("model", QWEN_MODELS)
@pytest.mark.parametrize("fmt, writer", [("swift", _swift), ("sharegpt", _sharegpt)])
def test_total_tokens_equal_the_reference(ref_processors, records, model, fmt, writer):
    root, rows = records
    reference = ref_processors(model)
    task = RecordTask(models=[model], fmt=fmt, root=str(root), media="header")
    out = task({"line": list(range(1, len(rows) + 1)), "text": [writer(m, i) for m, i in rows]})
    assert out["ok"] == [True] * len(rows), out["reasons"]
    for k, (messages, images) in enumerate(rows):
        ids = _reference_ids(reference, messages, images, root)
        assert out[f"{model}/total_tokens"][k] == len(ids), (model, k)
        assert out[f"{model}/visual_tokens"][k] == sum(i in VISION_IDS for i in ids), (model, k)
        assert out[f"{model}/text_tokens"][k] == sum(i not in VISION_IDS for i in ids), (model, k)


@pytest.mark.parametrize("model", ["qwen2-vl", "qwen2.5-vl"])
def test_too_long_names_the_cut_in_the_reference_ids(ref_processors, records, model):
    root, _ = records
    messages = [{"role": "user", "content": "word " * 300 + "<image> and some closing words"}, {"role": "assistant", "content": "Fine."}]
    images = ["photos/" + sorted(p.name for p in (root / "photos").iterdir())[0]]
    ids = _reference_ids(ref_processors(model), messages, images, root)
    start, end = ids.index(151652), ids.index(151653)  # the image's span, vision_start to vision_end
    text = [_swift(messages, images)]
    inside = (start + end) // 2
    out = RecordTask(models=[model], root=str(root), max_length=inside)({"line": [1], "text": text})
    [p] = json.loads(out["reasons"][0])
    assert p["code"] == "too_long"
    assert f"{len(ids):,} tokens" in p["message"] and f"max_length {inside:,}" in p["message"]
    assert f"the cut at {inside} falls inside image 1 (tokens {start}-{end})" in p["message"]
    out = RecordTask(models=[model], root=str(root), max_length=end + 3)({"line": [1], "text": text})
    assert f"the cut at {end + 3} falls in text" in json.loads(out["reasons"][0])[0]["message"]
    out = RecordTask(models=[model], root=str(root), max_length=start - 5)({"line": [1], "text": text})
    assert "falls in text and drops image 1 after it" in json.loads(out["reasons"][0])[0]["message"]
    assert RecordTask(models=[model], root=str(root), max_length=len(ids))({"line": [1], "text": text})["ok"] == [True]
