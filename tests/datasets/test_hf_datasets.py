"""RecordTask is the per-batch function of Hugging Face `datasets.map(batched=True, num_proc=N)` too:
the same columns in, the same rows out, as one in-process call over the whole dataset."""

from __future__ import annotations

import json

from dataset_faults import MAX_LENGTH, make_faulty_dataset
from mmtok.datasets.source import dataset_root, iter_raw
from mmtok.datasets.task import RecordTask


def test_datasets_map_with_two_processes_equals_one_call(tmp_path):
    import datasets

    path, truth = make_faulty_dataset(tmp_path, 600, seed=11)
    raws = list(iter_raw(path))
    columns = {"line": [r.line for r in raws], "text": [r.text for r in raws]}
    task = RecordTask(models=["qwen2-vl"], root=dataset_root(path), max_length=MAX_LENGTH, media="decode")
    expected = task(columns)

    ds = datasets.Dataset.from_dict(columns)
    mapped = ds.map(task, batched=True, batch_size=64, num_proc=2, remove_columns=[], load_from_cache_file=False)
    assert mapped.num_rows == len(raws)
    for name, values in expected.items():
        assert mapped[name] == values, name
    # and the planted faults are what was found (so the comparison above is not of two empty results)
    found = {(line, p["code"]) for line, reasons in zip(mapped["line"], mapped["reasons"]) for p in json.loads(reasons)}
    assert found == {(line, code) for line, codes in truth.items() for code in codes}
