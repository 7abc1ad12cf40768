"""RecordTask: the contract's columns, every problem of a record, numpy columns (as Ray passes them),
pickling, conversion, and models that cannot be measured."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from mmtok.datasets.task import RecordTask
from mmtok.errors import InvalidOptionError, UnknownNameError


@pytest.fixture
def root(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(tmp_path / "img" / "a.jpg")
    Image.fromarray(rng.integers(0, 256, (100, 50, 3), dtype=np.uint8)).save(tmp_path / "b.png")
    return tmp_path


def _rec(messages, **extra):
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in messages], **extra}, ensure_ascii=False)


RECORDS = [
    _rec([("user", "<image>What is it?"), ("assistant", "A cat.")], images=["img/a.jpg"]),
    '{"messages": [',
    _rec([("user", "<image><image>"), ("assistant", "")], images=["img/a.jpg", "nope.png"]),
    _rec([("system", "Be brief."), ("user", "Compare <image> and <image>."), ("assistant", "Same.")], images=["b.png", "img/a.jpg"]),
    _rec([("user", "hello"), ("assistant", "hi, 你好")]),
]


def _batch(records, first_line=1):
    return {"line": list(range(first_line, first_line + len(records))), "text": list(records)}


def test_columns_of_the_contract(root):
    task = RecordTask(models=["qwen2-vl", "qwen2.5-vl"], root=str(root), max_length=4096)
    out = task(_batch(RECORDS))
    model_cols = [f"{m}/{c}" for m in ("qwen2-vl", "qwen2.5-vl") for c in ("text_tokens", "visual_tokens", "total_tokens", "image_pixels")]
    assert set(out) == {"line", "text", "ok", "reasons", "output", "image_sizes", "n_images", "n_videos", *model_cols}
    assert all(len(v) == len(RECORDS) for v in out.values())
    assert out["line"] == [1, 2, 3, 4, 5] and out["text"] == RECORDS
    assert out["ok"] == [True, False, False, True, True]
    assert out["output"] == RECORDS  # no output_format: the text unchanged
    reasons = [json.loads(r) for r in out["reasons"]]
    assert reasons[0] == [] and out["reasons"][0] == "[]"
    assert [p["code"] for p in reasons[1]] == ["bad_json"]
    # every problem of a record, not only the first
    assert sorted(p["code"] for p in reasons[2]) == ["empty_turn", "missing_media"]
    assert all(set(p) == {"code", "message"} for r in reasons for p in r)
    assert [json.loads(s) for s in out["image_sizes"]] == [[[240, 320]], [], [[240, 320]], [[100, 50], [240, 320]], []]
    assert out["n_images"] == [1, 0, 2, 2, 0] and out["n_videos"] == [0] * 5
    for m in ("qwen2-vl", "qwen2.5-vl"):
        total = out[f"{m}/total_tokens"]
        assert total[1] == total[2] == -1  # not measurable: unreadable, a missing image
        assert all(t > 0 for i, t in enumerate(total) if i not in (1, 2))
        for i in (0, 3, 4):
            assert out[f"{m}/text_tokens"][i] + out[f"{m}/visual_tokens"][i] == total[i]
        assert out[f"{m}/visual_tokens"][4] == 0 and out[f"{m}/image_pixels"][4] == 0
        assert out[f"{m}/image_pixels"][0] > 0
    for col, values in out.items():
        assert all(type(v) is type(values[0]) for v in values), col


def test_numpy_columns_as_ray_passes_them(root):
    task = RecordTask(models=["qwen2-vl"], root=str(root))
    as_lists = task(_batch(RECORDS))
    as_numpy = task({"line": np.arange(1, len(RECORDS) + 1), "text": np.array(RECORDS, dtype=object)})
    assert as_numpy == as_lists
    as_unicode = task({"line": np.arange(1, len(RECORDS) + 1), "text": np.array(RECORDS)})
    assert as_unicode == as_lists
    assert all(type(v) is int for v in as_numpy["line"]) and all(type(v) is str for v in as_numpy["text"])


def test_pickle_round_trip_gives_identical_output(root):
    task = RecordTask(models=["qwen2-vl"], fmt="swift", root=str(root), max_length=100, media="decode")
    before = task(_batch(RECORDS))  # fills the media cache and builds the processor
    clone = pickle.loads(pickle.dumps(task))
    assert clone(_batch(RECORDS)) == before
    fresh = pickle.loads(pickle.dumps(RecordTask(models=["qwen2-vl"], fmt="swift", root=str(root), max_length=100)))
    assert fresh(_batch(RECORDS)) == before
    assert len(pickle.dumps(task)) < 5000  # no processor, no cache


def test_tool_turns_with_json_contents_are_measured_as_ms_swift_dumps_them(root):
    as_object = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "tool_call", "content": {"name": "f", "arguments": {"x": "é"}}},
                                         {"role": "tool_response", "content": "ok"}, {"role": "assistant", "content": "a"}]})  # fmt: skip
    as_string = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "tool_call", "content": '{"name": "f", "arguments": {"x": "é"}}'},
                                         {"role": "tool_response", "content": "ok"}, {"role": "assistant", "content": "a"}]})  # fmt: skip
    out = RecordTask(models=["qwen2-vl"], root=str(root))(_batch([as_object, as_string]))
    assert out["ok"] == [True, True]
    assert out["qwen2-vl/total_tokens"][0] == out["qwen2-vl/total_tokens"][1] > 0


def test_too_long_needs_a_model_and_max_length(root):
    record = [_rec([("user", "<image>" + "word " * 400), ("assistant", "ok")], images=["img/a.jpg"])]
    out = RecordTask(models=["qwen2-vl"], root=str(root), max_length=300)(_batch(record))
    [p] = json.loads(out["reasons"][0])
    assert p["code"] == "too_long" and "over max_length 300" in p["message"] and "falls in text" in p["message"]
    assert f"{out['qwen2-vl/total_tokens'][0]:,} tokens" in p["message"]
    assert RecordTask(root=str(root), max_length=300)(_batch(record))["ok"] == [True]
    assert RecordTask(models=["qwen2-vl"], root=str(root))(_batch(record))["ok"] == [True]


def test_a_model_that_cannot_be_measured_gives_minus_one(root):
    task = RecordTask(models=["llava-1.5", "qwen2-vl"], root=str(root), max_length=10)
    out = task(_batch(RECORDS[:1]))
    assert out["llava-1.5/total_tokens"] == [-1] and out["qwen2-vl/total_tokens"][0] > 10
    assert [p["code"] for p in json.loads(out["reasons"][0])] == ["too_long"]  # for qwen2-vl only
    assert "tokenizer" in task.unmeasurable["llava-1.5"] and task.unmeasurable["qwen2-vl"] is None


def test_media_modes(root):
    (root / "cut.jpg").write_bytes((root / "img" / "a.jpg").read_bytes()[:3000])
    records = [_rec([("user", "<image>"), ("assistant", "a")], images=["cut.jpg"]), _rec([("user", "<image>"), ("assistant", "a")], images=["gone.jpg"])]
    codes = lambda out: [[p["code"] for p in json.loads(r)] for r in out["reasons"]]  # noqa: E731
    assert codes(RecordTask(root=str(root), media="decode")(_batch(records))) == [["corrupt_media"], ["missing_media"]]
    assert codes(RecordTask(root=str(root), media="header")(_batch(records))) == [[], ["missing_media"]]
    assert codes(RecordTask(root=str(root), media="none")(_batch(records))) == [[], []]
    with pytest.raises(InvalidOptionError):
        RecordTask(root=str(root), media="fast")


def test_formats_auto_detected_or_given(root):
    llava = json.dumps({"image": "img/a.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A cat."}]})
    sharegpt = json.dumps({"conversations": [{"from": "human", "value": "<image>x"}, {"from": "human", "value": "y"}, {"from": "gpt", "value": "z"}], "images": ["img/a.jpg"]})
    out = RecordTask(root=str(root))(_batch([llava, sharegpt, RECORDS[0], '{"foo": 1}']))
    assert out["ok"] == [True, False, True, False]
    assert [p["code"] for p in json.loads(out["reasons"][1])] == ["bad_roles"]  # LLaMA-Factory's alternation
    assert [p["code"] for p in json.loads(out["reasons"][3])] == ["bad_format"]
    forced = RecordTask(root=str(root), fmt="llava")(_batch([RECORDS[0]]))
    assert [p["code"] for p in json.loads(forced["reasons"][0])] == ["bad_format"]
    with pytest.raises(UnknownNameError):
        RecordTask(root=str(root), fmt="nope")


def test_output_format_converts_kept_records(root):
    task = RecordTask(root=str(root), output_format="sharegpt")
    tool = _rec([("user", "q"), ("tool_call", "{}"), ("tool_response", "{}"), ("assistant", "a")])
    out = task(_batch([RECORDS[3], RECORDS[2], tool]))
    # LLaMA-Factory's ShareGPT row (data/README.md): system column, human/gpt turns, images list
    assert json.loads(out["output"][0]) == {
        "system": "Be brief.",
        "conversations": [{"from": "human", "value": "Compare <image> and <image>."}, {"from": "gpt", "value": "Same."}],
        "images": ["b.png", "img/a.jpg"],
    }
    assert out["ok"][:2] == [True, False] and out["output"][1] == RECORDS[2]
    assert json.loads(out["output"][2])["conversations"][1] == {"from": "function_call", "value": "{}"}
    to_llava = RecordTask(root=str(root), output_format="llava")(_batch([tool]))
    assert to_llava["ok"] == [False] and to_llava["output"] == [tool]
    assert [p["code"] for p in json.loads(to_llava["reasons"][0])] == ["bad_roles"]


def test_describe_keys_the_settings(root):
    a = RecordTask(models=["qwen2-vl"], root=str(root), max_length=100)
    assert a.describe() == RecordTask(models=["qwen2-vl"], root=str(root), max_length=100).describe()
    assert a.describe() == pickle.loads(pickle.dumps(a)).describe()
    assert a.describe() != RecordTask(models=["qwen2-vl"], root=str(root), max_length=101).describe()
    assert a.describe() != RecordTask(models=["qwen2-vl"], root=str(root), max_length=100, media="header").describe()


def test_a_record_with_an_empty_turn_is_still_measured(root):
    out = RecordTask(models=["qwen2-vl"], root=str(root))(_batch([_rec([("user", "<image>"), ("assistant", "")], images=["img/a.jpg"])]))
    assert [p["code"] for p in json.loads(out["reasons"][0])] == ["empty_turn"]
    assert out["qwen2-vl/total_tokens"][0] > out["qwen2-vl/visual_tokens"][0] > 0
