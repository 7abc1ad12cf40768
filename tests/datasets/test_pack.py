"""Packing plans against the trainers' own packing code: the `binpacking` package run the way ms-swift's
PackingDataset runs it, and reference transcriptions of ms-swift's sequential strategy and LLaMA-Factory's
greedy_knapsack."""

from __future__ import annotations

import bisect
import json
from collections import defaultdict

import numpy as np
import pytest

from mmtok.datasets.pack import plan_packs
from mmtok.errors import InvalidOptionError

binpacking = pytest.importorskip("binpacking")


# --- reference transcriptions -----------------------------------------------------------------------
# modelscope/ms-swift swift/dataset/packing.py: calculate_matched_group and PackingDataset.create_packed_idx
# (packing_num_proc=1), transcribed without the multiprocessing queue.
def swift_calculate_matched_group(sequences, packing_length, is_finished=True, strategy="binpack"):
    if len(sequences) == 0:
        return [], []
    if strategy == "sequential":
        packs, cur, cur_len = [], [], 0
        for item in sequences:
            ln = item[1]
            if cur and cur_len + ln > packing_length:
                packs.append(cur)
                cur, cur_len = [], 0
            cur.append(item)
            cur_len += ln
            if cur_len >= packing_length:
                packs.append(cur)
                cur, cur_len = [], 0
        if is_finished:
            if cur:
                packs.append(cur)
            return packs, []
        return packs, cur
    if strategy == "bfd":  # ms-swift's binpack code with binpacking 1.5.2 installed
        sequences = binpacking_152_to_constant_volume(sequences, packing_length, weight_pos=1)
    else:
        sequences = binpacking.to_constant_volume(sequences, packing_length, weight_pos=1)
    if sequences and not is_finished:
        sequences, ret_sequences = sequences[:-1], sequences[-1]
    else:
        ret_sequences = []
    return sequences, ret_sequences


# benmaier/binpacking 1.5.2 binpacking/to_constant_volume.py (the list-of-tuples path, no bounds): the
# version before 2.0's "least loaded fit"; it puts each item into the FULLEST bin it fits (best fit).
def binpacking_152_to_constant_volume(d, V_max, weight_pos):
    new_dict = {i: val for i, val in enumerate(d)}
    d = {i: val[weight_pos] for i, val in enumerate(d)}
    keys = [k for k, v in d.items()]
    vals = [v for k, v in d.items()]
    ndcs = sorted(range(len(vals)), key=lambda i: -vals[i])  # revargsort
    weights = [vals[n] for n in ndcs]
    keys = [keys[n] for n in ndcs]
    bins = [{}]
    weight_sum = [0.0]
    for item, weight in enumerate(weights):
        key = keys[item]
        candidate_bins = list(filter(lambda i: weight_sum[i] + weight <= V_max, range(len(weight_sum))))
        if len(candidate_bins) > 0:
            sums = [weight_sum[n] for n in candidate_bins]
            candidate_index = max(range(len(sums)), key=sums.__getitem__)  # argmax
            b = candidate_bins[candidate_index]
        elif item > 0:
            b = len(weight_sum)
            weight_sum.append(0.0)
            bins.append({})
        else:
            b = 0
        bins[b][key] = weight
        weight_sum[b] += weight
    return [[new_dict[k] for k in b] for b in bins]


def swift_packed_idx(lengths, packing_length, strategy, batch_size=1000):
    data = [(i, length) for i, length in enumerate(lengths)]
    i, input_data, packed = 0, [], []
    while True:
        new_data = data[i : i + batch_size]
        input_data += new_data
        if not input_data:
            break
        i += batch_size
        is_finished = i >= len(data)
        sequences, input_data = swift_calculate_matched_group(input_data, packing_length, is_finished, strategy)
        packed += [[x[0] for x in seq] for seq in sequences]
    return packed


# hiyouga/LLaMA-Factory src/llamafactory/data/processor/processor_utils.py (search_for_fit, greedy_knapsack)
# and supervised.py PackedSupervisedDatasetProcessor.preprocess_dataset (length -> index mapping), per
# preprocessing batch of 1,000 examples.
def lf_search_for_fit(numbers, capacity):
    index = bisect.bisect(numbers, capacity)
    return -1 if index == 0 else (index - 1)


def lf_greedy_knapsack(numbers, capacity):
    numbers.sort()
    knapsacks = []
    while numbers:
        current_knapsack = []
        remaining_capacity = capacity
        while True:
            index = lf_search_for_fit(numbers, remaining_capacity)
            if index == -1:
                break
            remaining_capacity -= numbers[index]
            current_knapsack.append(numbers.pop(index))
        knapsacks.append(current_knapsack)
    return knapsacks


def lf_packed_indexes(lengths, cutoff_len, batch_size=1000):
    out = []
    for start in range(0, len(lengths), batch_size):
        batch = lengths[start : start + batch_size]
        kept, length2indexes, valid = [], defaultdict(list), []
        for i, length in enumerate(batch):
            if length > cutoff_len:
                continue
            kept.append(length)
            length2indexes[length].append(len(valid))
            valid.append(start + i)
        for knapsack in lf_greedy_knapsack(kept, cutoff_len):
            out.append([valid[length2indexes[length].pop()] for length in knapsack])
    return out


def installed_strategy():
    """The installed binpacking decides: >= 2.0 is mmtok's "binpack", older releases its "bfd"."""
    from importlib.metadata import version

    return "binpack" if int(version("binpacking").split(".")[0]) >= 2 else "bfd"


# --- data ------------------------------------------------------------------------------------------
def lengths_sample(n, seed, max_length=4096):
    """Token lengths shaped like a multimodal SFT set: a lognormal body, many repeats, a few over max."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(6.5, 0.8, n).astype(int), 20, None)
    lengths[rng.integers(0, n, n // 50)] = max_length  # exact fits
    return [int(x) for x in lengths]


@pytest.mark.parametrize("n,seed", [(0, 0), (1, 1), (7, 2), (999, 3), (1000, 4), (1001, 5), (3500, 6)])
def test_binpack_is_ms_swift_with_binpacking(n, seed):
    strategy = installed_strategy()
    lengths = [x for x in lengths_sample(n, seed) if x <= 4096]
    plan = plan_packs(lengths, 4096, strategy=strategy)
    assert plan.packs == swift_packed_idx(lengths, 4096, "binpack")
    assert plan.rejected == []


@pytest.mark.parametrize("n,seed", [(0, 0), (1, 1), (9, 2), (1000, 4), (2600, 6)])
def test_bfd_is_ms_swift_with_binpacking_1_5(n, seed):
    lengths = [x for x in lengths_sample(n, seed) if x <= 4096]
    plan = plan_packs(lengths, 4096, strategy="bfd")
    assert plan.packs == swift_packed_idx(lengths, 4096, "bfd")
    # best fit and least-loaded fit are different packings of the same samples
    if n > 100:
        assert plan.packs != plan_packs(lengths, 4096, strategy="binpack").packs


def test_bfd_hand_worked_example():
    # max 10, sorted 8,7,5,3,2,2: 8 -> b0; 7 -> b1; 5 -> b2; 3: fullest with room is b1 (7) -> 10;
    # 2 (index 0): fullest with room is b0 (8) -> 10; 2 (index 5): b2 (5) -> 7
    assert plan_packs([2, 7, 5, 8, 3, 2], 10, strategy="bfd").packs == [[3, 0], [1, 4], [2, 5]]


def test_binpack_equal_lengths_keep_input_order():
    # stable sort in to_constant_volume: ties keep their order (3 before 1 only by length)
    lengths = [5, 3, 5, 5, 5, 3]
    expected = [[(0, 5), (2, 5)], [(3, 5), (4, 5)], [(1, 3), (5, 3)]]
    assert binpacking.to_constant_volume([(i, n) for i, n in enumerate(lengths)], 10, weight_pos=1) == expected
    assert plan_packs(lengths, 10).packs == [[i for i, _ in b] for b in expected]


@pytest.mark.parametrize("n,seed", [(0, 0), (5, 1), (1000, 2), (2500, 3)])
def test_sequential_is_ms_swift(n, seed):
    lengths = [x for x in lengths_sample(n, seed) if x <= 4096]
    plan = plan_packs(lengths, 4096, strategy="sequential")
    assert plan.packs == swift_packed_idx(lengths, 4096, "sequential")
    # next-fit keeps the input order
    assert [i for pack in plan.packs for i in pack] == list(range(len(lengths)))


@pytest.mark.parametrize("n,seed", [(0, 0), (6, 1), (1000, 2), (2400, 3)])
def test_knapsack_is_llama_factory(n, seed):
    lengths = lengths_sample(n, seed) + [5000, 4097]  # LLaMA-Factory drops them; mmtok rejects them
    plan = plan_packs(lengths, 4096, strategy="knapsack")
    assert plan.packs == lf_packed_indexes(lengths, 4096)
    too_long = [i for i, x in enumerate(lengths) if x > 4096]
    assert too_long[-2:] == [len(lengths) - 2, len(lengths) - 1]
    assert [(i, code) for i, code, _ in plan.rejected] == [(i, "too_long") for i in too_long]


def test_every_sample_packed_or_rejected_and_packs_fit():
    lengths = lengths_sample(3000, 9) + [9000]
    for strategy in ("binpack", "bfd", "sequential", "knapsack"):
        plan = plan_packs(lengths, 4096, strategy=strategy)
        seen = sorted([i for p in plan.packs for i in p] + [i for i, _, _ in plan.rejected])
        assert seen == list(range(len(lengths))), strategy
        assert all(t <= 4096 for t in plan.totals)
        assert plan.totals == [sum(lengths[i] for i in p) for p in plan.packs]
        assert plan.efficiency == pytest.approx(sum(plan.totals) / (len(plan.packs) * 4096))
        assert [i for i, _, _ in plan.rejected] == [i for i, x in enumerate(lengths) if x > 4096]
        assert plan.rejected[-1] == (3000, "too_long", "9,000 tokens is over max_length 4,096")
    # worst-fit-decreasing packs a skewed set far tighter than next-fit
    assert plan_packs(lengths, 4096).efficiency > plan_packs(lengths, 4096, strategy="sequential").efficiency + 0.1


def test_hand_worked_example():
    # max 10: sorted 8,7,5,3,2,2 -> 8:[b0], 7:new b1, 5:new b2, 3: emptiest with room is b2(5) -> 8,
    # 2: emptiest with room: b1 (7) -> 9, 2: emptiest with room b0 (8) -> 10
    lengths = [2, 7, 5, 8, 3, 2]
    plan = plan_packs(lengths, 10, strategy="binpack", ids=[10, 11, 12, 13, 14, 15])
    assert plan.packs == [[3, 5], [1, 0], [2, 4]]
    assert plan.totals == [10, 9, 8]
    assert plan.efficiency == pytest.approx(27 / 30)
    assert list(plan.pack_records())[0] == {"pack": 0, "lines": [13, 15], "lengths": [8, 2], "total": 10}
    # next-fit: [2,7] 9, then 5 does not fit -> [5], 8 -> [8], [3,2]
    assert plan_packs(lengths, 10, strategy="sequential").packs == [[0, 1], [2], [3], [4, 5]]
    # greedy knapsack: [8,2],[7,3],[5,2]; equal lengths map to the last sample of that length
    assert plan_packs(lengths, 10, strategy="knapsack").packs == [[3, 5], [1, 4], [2, 0]]


def test_max_images_per_pack():
    lengths = [100] * 8
    images = [3, 1, 2, 2, 1, 4, 0, 5]
    for strategy in ("binpack", "bfd", "sequential", "knapsack"):
        plan = plan_packs(lengths, 1000, strategy=strategy, max_images_per_pack=4, image_counts=images)
        assert all(sum(images[i] for i in p) <= 4 for p in plan.packs), strategy
        assert [(i, c) for i, c, _ in plan.rejected] == [(7, "too_long")]
        assert sorted(i for p in plan.packs for i in p) == [0, 1, 2, 3, 4, 5, 6]
    # without the limit everything fits in one pack
    assert len(plan_packs(lengths[:7], 1000).packs) == 1
    # next-fit with images [3,1],[2,2],[1],[4,0]
    plan = plan_packs(lengths, 1000, strategy="sequential", max_images_per_pack=4, image_counts=images)
    assert plan.packs == [[0, 1], [2, 3], [4], [5, 6]]


def test_jsonl_output(tmp_path):
    plan = plan_packs([3, 4, 5, 99], 10, strategy="sequential", ids=[1, 2, 5, 7])
    path = tmp_path / "packs.jsonl"
    plan.write_jsonl(path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [
        {"pack": 0, "lines": [1, 2], "lengths": [3, 4], "total": 7},
        {"pack": 1, "lines": [5], "lengths": [5], "total": 5},
    ]
    assert plan.summary()["rejected"] == 1


def test_bad_options():
    with pytest.raises(InvalidOptionError, match="strategy 'ffd'"):
        plan_packs([1], 10, strategy="ffd")
    with pytest.raises(InvalidOptionError, match="image_counts"):
        plan_packs([1], 10, max_images_per_pack=2)
    with pytest.raises(InvalidOptionError, match="max_length"):
        plan_packs([1], 0)


# --- the CLI ---------------------------------------------------------------------------------------
def test_cli_pack(tmp_path, ref_processors, capsys):
    from test_stats import make_dataset, reference_lengths

    from mmtok.cli.main import main

    path, planted = make_dataset(tmp_path, n=30, seed=4)
    reference = ref_processors("qwen2-vl")
    ref_ids = {
        line: reference.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="np")["input_ids"][0]
        for line, (messages, _) in planted.items()
    }
    lengths = {line: len(ids) for line, ids in ref_ids.items()}
    out = tmp_path / "packs.jsonl"
    code = main(["data", "pack", str(path), "--model", "qwen2-vl", "--max-length", "1200", "--out", str(out), "--json", "--workers", "2",
                 "--strategy", installed_strategy()])  # fmt: skip
    assert code == 1
    summary = json.loads(capsys.readouterr().out)
    packs = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "packs.jsonl.rejects.jsonl").read_text().splitlines()]
    # every record is in a pack or in the rejects, once
    packed = [line for p in packs for line in p["lines"]]
    assert sorted(packed + [r["line"] for r in rejects]) == list(range(1, 33))
    too_long = sorted(line for line, n in lengths.items() if n > 1200)
    assert too_long and [r["line"] for r in rejects] == sorted(too_long + [31, 32])
    assert {r["line"]: r["reasons"][0]["code"] for r in rejects if r["line"] > 30} == {31: "bad_json", 32: "missing_media"}
    assert rejects[-2]["record"] == "{not json"
    # the packs are ms-swift's binpack over the reference lengths of the packable records
    kept = [line for line in sorted(lengths) if lengths[line] <= 1200]
    expected = [[kept[i] for i in pack] for pack in swift_packed_idx([lengths[line] for line in kept], 1200, "binpack")]
    assert [p["lines"] for p in packs] == expected
    assert all(p["lengths"] == [lengths[line] for line in p["lines"]] and p["total"] == sum(p["lengths"]) for p in packs)
    assert summary["packs"] == len(packs) and summary["rejected"] == len(rejects)
    assert summary["by_reason"] == {"too_long": len(too_long), "bad_json": 1, "missing_media": 1}

    # the docs' packed-row example, run on the plan: each segment is the reference's input_ids for its record
    packed_rows = docs_example("packed_rows")
    for pack, row in zip(packs[:3], packed_rows(out, path, str(tmp_path))):
        total, bounds = pack["total"], row["cu_seqlens"].tolist()
        assert row["input_ids"].shape == (1, total) and row["mrope_position_ids"].shape == (3, 1, total)
        assert bounds == [0, *np.cumsum(pack["lengths"]).tolist()]
        for line, start, end in zip(pack["lines"], bounds, bounds[1:]):
            np.testing.assert_array_equal(row["input_ids"][0, start:end], ref_ids[line])
            assert row["position_ids"][0, start:end].tolist() == list(range(end - start))
            assert row["labels"][0, start] == -100
            assert row["mrope_position_ids"][:, 0, start].tolist() == [0, 0, 0]  # M-RoPE restarts too
        images = sum(len(planted[line][1]) for line in pack["lines"])
        assert (row["image_grid_thw"].shape[0] if images else 0) == images


def docs_example(name):
    """The python block after the docs/datasets.md marker `<!-- example: name ... -->`, executed."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "datasets.md").read_text()
    block = re.search(r"<!-- example: " + name + r" .*?-->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(block, "docs/datasets.md", "exec"), namespace)
    return namespace[name]
