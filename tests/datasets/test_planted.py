"""Validation finds exactly the planted faults: every (line, reason) the generator planted, and nothing
else, over 10,000 records (the issue's done-criterion) and per format."""

from __future__ import annotations

import json
import pickle

import pytest

from dataset_faults import FAULTS, MAX_LENGTH, make_faulty_dataset
from mmtok.datasets.source import iter_raw
from mmtok.datasets.task import RecordTask


def _run(task, path, batch_size=256):
    raws = list(iter_raw(path))
    out = {"line": [], "ok": [], "reasons": [], "output": [], "text": [], "qwen2-vl/total_tokens": []}
    for start in range(0, len(raws), batch_size):
        chunk = raws[start : start + batch_size]
        got = task({"line": [r.line for r in chunk], "text": [r.text for r in chunk]})
        for key in out:
            out[key] += got[key] if key in got else [None] * len(chunk)
        if start == 4 * batch_size:  # carry on in a copy, as a worker process gets it
            task = pickle.loads(pickle.dumps(task))
    assert out["line"] == [r.line for r in raws]  # every record, in order
    return out


def _found(out):
    return {(line, p["code"]) for line, reasons in zip(out["line"], out["reasons"]) for p in json.loads(reasons)}


def _planted(truth, drop=()):
    return {(line, code) for line, codes in truth.items() for code in codes if code not in drop}


def test_ten_thousand_records_exactly_the_planted_faults(tmp_path):
    path, truth = make_faulty_dataset(tmp_path, 10_000, seed=6)
    planted_codes = {code for codes in truth.values() for code in codes}
    assert planted_codes == {c for c in FAULTS if c != "combo"}  # every reason code is planted
    assert 1500 < len(truth) < 3500
    task = RecordTask(models=["qwen2-vl"], fmt="swift", root=str(path.parent), max_length=MAX_LENGTH, media="decode")
    out = _run(task, path)
    assert _found(out) == _planted(truth)
    assert [line for line, ok in zip(out["line"], out["ok"]) if not ok] == sorted(truth)
    kept = [i for i, ok in enumerate(out["ok"]) if ok]
    assert all(out["output"][i] == out["text"][i] for i in kept)
    assert all(0 < out["qwen2-vl/total_tokens"][i] <= MAX_LENGTH for i in kept)


@pytest.mark.parametrize("fmt", ["sharegpt", "llava"])
def test_other_formats(tmp_path, fmt):
    path, truth = make_faulty_dataset(tmp_path, 1500, seed=7, fmt=fmt)
    task = RecordTask(models=["qwen2-vl"], fmt=fmt, root=str(path.parent), max_length=MAX_LENGTH, media="decode")
    assert _found(_run(task, path)) == _planted(truth)


def test_auto_detected_format(tmp_path):
    path, truth = make_faulty_dataset(tmp_path, 1500, seed=8)
    task = RecordTask(models=["qwen2-vl"], root=str(path.parent), max_length=MAX_LENGTH)
    assert _found(_run(task, path)) == _planted(truth)


def test_header_and_none_media_modes(tmp_path):
    path, truth = make_faulty_dataset(tmp_path, 2000, seed=9)
    # headers alone cannot see a file cut after its header: the truncated images pass
    truncated = {line for line, v in truth.variants.items() if v in {("corrupt_media", "truncated_jpg"), ("corrupt_media", "truncated_png")}}
    assert truncated
    header = RecordTask(fmt="swift", root=str(path.parent), media="header")
    expected = _planted(truth, drop={"too_long"}) - {(line, "corrupt_media") for line in truncated}
    assert _found(_run(header, path)) == expected
    # media="none" opens no file: path escapes are still found, missing and broken files are not
    none = RecordTask(fmt="swift", root=str(path.parent), media="none")
    # ... nor boxes outside their image, whose size is unknown
    unsized = {(line, "bad_bbox") for line, v in truth.variants.items() if v == ("bad_bbox", "real_range")}
    assert unsized
    expected = _planted(truth, drop={"too_long", "missing_media", "corrupt_media", "video_unreadable"}) - unsized
    assert _found(_run(none, path)) == expected
