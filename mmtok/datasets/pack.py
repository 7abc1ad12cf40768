"""Packing plans: which samples share one training sequence of at most max_length tokens.

Strategies, each following a trainer's own code so a plan is the packing that trainer would make:

* "binpack" -- ms-swift's default (modelscope/ms-swift swift/dataset/packing.py, `calculate_matched_group`
  via `PackingDataset.create_packed_idx`): the `binpacking` package's `to_constant_volume` over chunks of
  `PackingDataset.PACKING_BATCH_SIZE` = 1,000 samples, the last (still open) bin of each chunk carried
  into the next. `to_constant_volume` sorts by length, longest first (a stable sort, so equal lengths
  keep their order), and since binpacking 2.0 puts each sample in the *emptiest* bin it fits in
  ("least loaded fit", i.e. worst-fit decreasing), opening a bin when none fits.
* "bfd" -- the same with binpacking < 2.0 (1.5.2 and before), which ms-swift does not pin and whose
  comment ("best-fit-decreasing") describes: each sample goes into the *fullest* bin it fits in. Which
  of the two an ms-swift install does depends on its binpacking version.
* "sequential" -- ms-swift's `packing_strategy="sequential"`: next-fit in input order; a pack is closed
  when the next sample does not fit, or as soon as it is exactly full.
* "knapsack" -- LLaMA-Factory's `greedy_knapsack` (src/llamafactory/data/processor/processor_utils.py),
  as `PackedSupervisedDatasetProcessor.preprocess_dataset` runs it: per batch of
  `preprocessing_batch_size` = 1,000 input samples (too-long ones dropped inside the batch), lengths sorted ascending, each pack filled by repeatedly
  taking the longest sample that still fits; a length is mapped back to a sample with
  `length2indexes[length].pop()` (the last unused sample of that length in the batch).

Samples longer than max_length are rejected ("too_long"), as ms-swift's `truncation_strategy="delete"`
and LLaMA-Factory's "Dropped lengthy example" do. `max_images_per_pack` adds a second limit the
trainers lack: a sample goes only where the pack's image count stays within it.
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidOptionError

#: ms-swift PackingDataset.PACKING_BATCH_SIZE; LLaMA-Factory preprocessing_batch_size default
SWIFT_CHUNK = 1000
LLAMAFACTORY_BATCH = 1000

STRATEGIES = ("binpack", "bfd", "sequential", "knapsack")


@dataclass
class PackPlan:
    """`packs`: lists of sample indices (into the `lengths` given), in the order the trainer puts them
    in the pack; `totals`: tokens per pack; `rejected`: (index, code, message) of samples left out."""

    packs: list[list[int]]
    totals: list[int]
    max_length: int
    strategy: str
    lengths: list[int]
    ids: list | None = None
    rejected: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def efficiency(self) -> float:
        """Packed tokens over the room the packs have (packs x max_length); 0.0 with no pack."""
        room = len(self.packs) * self.max_length
        return sum(self.totals) / room if room else 0.0

    def id_of(self, index: int) -> Any:
        return index if self.ids is None else self.ids[index]

    def pack_records(self):
        """One dict per pack: {"pack", "lines", "lengths", "total"} (lines: the ids, e.g. line numbers)."""
        for i, (pack, total) in enumerate(zip(self.packs, self.totals)):
            yield {"pack": i, "lines": [self.id_of(j) for j in pack], "lengths": [self.lengths[j] for j in pack], "total": total}

    def write_jsonl(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for record in self.pack_records():
                f.write(json.dumps(record) + "\n")

    def summary(self) -> dict:
        return {
            "strategy": self.strategy,
            "max_length": self.max_length,
            "samples": len(self.lengths),
            "packed": sum(len(p) for p in self.packs),
            "packs": len(self.packs),
            "rejected": len(self.rejected),
            "efficiency": round(self.efficiency, 6),
        }


def plan_packs(
    lengths: list[int],
    max_length: int,
    *,
    strategy: str = "binpack",
    ids: list | None = None,
    max_images_per_pack: int | None = None,
    image_counts: list[int] | None = None,
) -> PackPlan:
    """Pack samples of the given token lengths into sequences of at most max_length tokens."""
    lengths = [int(n) for n in lengths]
    if strategy not in STRATEGIES:
        raise InvalidOptionError(f"unknown packing strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if max_length < 1:
        raise InvalidOptionError(f"max_length must be a positive number of tokens; got {max_length}")
    if ids is not None and len(ids) != len(lengths):
        raise InvalidOptionError(f"ids has {len(ids)} entries for {len(lengths)} lengths; pass one id per sample")
    if max_images_per_pack is not None:
        if image_counts is None or len(image_counts) != len(lengths):
            raise InvalidOptionError("max_images_per_pack needs image_counts: one image count per sample")
        image_counts = [int(n) for n in image_counts]
    else:
        image_counts = None
    rejected, items = [], []
    for i, n in enumerate(lengths):
        if n < 0:
            rejected.append((i, "unmeasured", "the sample's length could not be measured"))
        elif n > max_length:
            rejected.append((i, "too_long", f"{n:,} tokens is over max_length {max_length:,}"))
        elif image_counts is not None and image_counts[i] > max_images_per_pack:
            rejected.append((i, "too_long", f"{image_counts[i]} images is over max_images_per_pack {max_images_per_pack}"))
        else:
            items.append(i)
    limit = (max_images_per_pack, image_counts) if image_counts is not None else None
    if strategy in ("binpack", "bfd"):
        fit = _worst_fit_decreasing if strategy == "binpack" else _best_fit_decreasing
        packs = []
        carry: list[int] = []
        for start in range(0, len(items), SWIFT_CHUNK):
            chunk = carry + items[start : start + SWIFT_CHUNK]
            bins = fit(chunk, lengths, max_length, limit)
            finished = start + SWIFT_CHUNK >= len(items)
            if finished:
                packs += bins
            else:
                packs += bins[:-1]
                carry = bins[-1]
    elif strategy == "sequential":
        packs = _next_fit(items, lengths, max_length, limit)
    else:
        # LLaMA-Factory's batches are of input examples; the too-long ones are dropped inside each batch
        batches = defaultdict(list)
        for i in items:
            batches[i // LLAMAFACTORY_BATCH].append(i)
        packs = []
        for key in sorted(batches):
            packs += _greedy_knapsack(batches[key], lengths, max_length, limit)
    totals = [sum(lengths[i] for i in pack) for pack in packs]
    return PackPlan(packs, totals, max_length, strategy, lengths, None if ids is None else list(ids), rejected)


def _worst_fit_decreasing(items: list[int], lengths: list[int], capacity: int, limit) -> list[list[int]]:
    """binpacking.to_constant_volume's placement: longest first (stable), each into the least-filled bin
    with room (lowest bin number among equals), a new bin when none has room. A heap of (fill, bin)
    finds that bin in O(log bins); with an image limit, bins popped for lack of image room go back."""
    order = sorted(items, key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    heap: list[tuple[int, int]] = []  # (fill, bin number) of every bin
    images = []
    for i in order:
        n = lengths[i]
        chosen, skipped = None, []
        while heap and heap[0][0] + n <= capacity:
            fill, b = heapq.heappop(heap)
            if limit is None or images[b] + limit[1][i] <= limit[0]:
                chosen = (fill, b)
                break
            skipped.append((fill, b))
        for entry in skipped:
            heapq.heappush(heap, entry)
        if chosen is None:
            bins.append([])
            images.append(0)
            chosen = (0, len(bins) - 1)
        fill, b = chosen
        bins[b].append(i)
        if limit is not None:
            images[b] += limit[1][i]
        heapq.heappush(heap, (fill + n, b))
    return bins


def _best_fit_decreasing(items: list[int], lengths: list[int], capacity: int, limit) -> list[list[int]]:
    """binpacking < 2.0's placement: longest first (stable), each into the fullest bin with room (lowest
    bin number among equals). `fills` is kept sorted as (fill, -bin), so the fullest bin with room is
    the last entry at or below capacity - length; with an image limit the scan goes on leftwards."""
    order = sorted(items, key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    fills: list[tuple[int, int]] = []
    images = []
    for i in order:
        n = lengths[i]
        at = bisect.bisect_right(fills, (capacity - n, 1)) - 1
        if limit is not None:
            while at >= 0 and images[-fills[at][1]] + limit[1][i] > limit[0]:
                at -= 1
        if at >= 0:
            fill, neg = fills.pop(at)
            b = -neg
        else:
            bins.append([])
            images.append(0)
            fill, b = 0, len(bins) - 1
        bins[b].append(i)
        if limit is not None:
            images[b] += limit[1][i]
        bisect.insort(fills, (fill + n, -b))
    return bins


def _next_fit(items: list[int], lengths: list[int], capacity: int, limit) -> list[list[int]]:
    packs, current, fill, images = [], [], 0, 0
    for i in items:
        n = lengths[i]
        k = limit[1][i] if limit is not None else 0
        if current and (fill + n > capacity or (limit is not None and images + k > limit[0])):
            packs.append(current)
            current, fill, images = [], 0, 0
        current.append(i)
        fill += n
        images += k
        if fill >= capacity:
            packs.append(current)
            current, fill, images = [], 0, 0
    if current:
        packs.append(current)
    return packs


def _greedy_knapsack(items: list[int], lengths: list[int], capacity: int, limit) -> list[list[int]]:
    """greedy_knapsack over one batch, lengths mapped back to samples as LLaMA-Factory does."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i in items:
        by_length[lengths[i]].append(i)
    numbers = sorted(lengths[i] for i in items)
    packs = []
    if limit is None:
        while numbers:
            pack, room = [], capacity
            while True:
                index = bisect.bisect(numbers, room) - 1
                if index < 0:
                    break
                room -= numbers[index]
                pack.append(by_length[numbers.pop(index)].pop())
            packs.append(pack)
        return packs
    # with an image limit: the longest sample that fits by length and by images (a sample's images are
    # those of the sample `pop()` would give for its length, so candidates are scanned per length)
    max_images, counts = limit
    while numbers:
        pack, room, images = [], capacity, 0
        while True:
            index = bisect.bisect(numbers, room) - 1
            while index >= 0 and images + counts[by_length[numbers[index]][-1]] > max_images:
                index = bisect.bisect_left(numbers, numbers[index]) - 1
            if index < 0:
                break
            room -= numbers[index]
            i = by_length[numbers.pop(index)].pop()
            images += counts[i]
            pack.append(i)
        if not pack:  # cannot happen: every kept sample fits an empty pack by length and images
            raise AssertionError("a sample fits no empty pack")
        packs.append(pack)
    return packs


__all__ = ["STRATEGIES", "PackPlan", "plan_packs"]
