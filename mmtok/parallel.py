"""Scale-out: a batch of images (or files to count) over every core, results in input order.

Pixels go through a thread pool. Pillow's decode and resize and numpy's table lookups and copies
release the GIL: with 2 threads on 2 cores a pass over 1080p JPEGs measured cpu/wall 1.9 for decode
and 2.0 for resize. Threads also share the family and hand back their arrays without a copy, whereas a
spawn process pool had to pickle each 1080p image's ~50 MB float32 rows back to the parent and ran at
0.6-0.8x of one core (bench/workers.py prints the current numbers). Counting from headers is pure
Python parsing that holds the GIL, so `map_ordered(..., processes=True)` sends paths to a spawn
process pool and gets small plans back.

Exactness: a batch is split into one task per image, and the per-image outputs are joined as the
family's own preprocess_images joins them (rows stacked along axis 0, lists extended). That holds
only for families whose batch output is the per-image outputs stacked: those that pad to the batch's
largest image or put all images in one sample (LLaVA-NeXT, Pixtral, Idefics3, Mllama, ...) run
serially whatever `workers` says. tests/test_parallel.py checks both kinds over the whole registry.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any, NamedTuple

import numpy as np

from .errors import InvalidOptionError, MmtokError

# Families whose batch output is their per-image outputs stacked along axis 0 (tests/test_parallel.py
# compares every registered family's batch with the stacked per-image outputs, so a family added
# here wrongly, or missing here, fails there). Keyed by registry name so options do not matter.
STACKING_FAMILIES = frozenset(
    {
        "blip", "blip2", "clip-vit-b-32", "clip-vit-l-14", "clip-vit-l-14-336", "gemma3", "internvl",
        "llava-1.5", "minicpm-v-2.6", "phi-3-vision", "phi-3.5-vision", "qwen-vl", "qwen2-vl",
        "qwen2.5-vl", "qwen3-vl",
    }
)  # fmt: skip


class Failure(NamedTuple):
    """An item that raised an MmtokError: its position, the error's type name and message, and the
    exception itself (None when it came back from another process, where it may not unpickle)."""

    index: int
    error_type: str
    message: str
    error: MmtokError | None = None


def check_workers(workers: int | None) -> int:
    """`workers` as a count: None or 0 means every core."""
    if workers is None or workers == 0:
        return os.cpu_count() or 1
    if not isinstance(workers, int) or workers < 0:
        raise InvalidOptionError(f"workers must be a positive number of threads (0 or None: every core); got {workers!r}")
    return workers


def _guarded(fn: Callable, keep_error: bool, indexed: tuple[int, Any]):
    index, item = indexed
    try:
        return fn(item)
    except MmtokError as e:
        return Failure(index, type(e).__name__, str(e), e if keep_error else None)


def map_ordered(fn: Callable, items: Iterable, *, workers: int | None = 1, processes: bool = False, chunksize: int = 1) -> Iterator:
    """fn(item) for each item, yielded in input order; an item whose call raises an MmtokError yields
    a Failure instead and the others carry on (any other exception is a bug and propagates).

    processes=True runs in a spawn process pool: `fn` must be picklable (a module-level function or
    a partial of one) and its results small, since they are pickled back.
    """
    workers = check_workers(workers)
    items = list(items)
    call = partial(_guarded, fn, not processes)
    if workers == 1 or len(items) <= 1:
        yield from map(call, enumerate(items))
        return
    if processes:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: forking a process whose other threads hold locks (BLAS, Pillow) can hang
        pool = ProcessPoolExecutor(min(workers, len(items)), mp_context=multiprocessing.get_context("spawn"))
    else:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="mmtok")
    with pool:
        yield from pool.map(call, enumerate(items), chunksize=chunksize)


def _one_image(family, image):
    return family.preprocess_images([image])


def preprocess_images(family, images: list, *, workers: int | None = 1, jpeg_draft: bool = False) -> tuple[dict, list]:
    """family.preprocess_images(images), with images spread over `workers` threads; bit-identical
    output. A bad image raises its own error (the first in input order, as one worker would), with
    `error.index` set to its position, a note naming it, and `error.failures` listing every bad
    image of the batch as Failure tuples.

    jpeg_draft=True (Qwen2-VL-style families only; never the default) decodes large JPEGs at a reduced
    scale: same plans and tokens, pixels within vision.fast_decode.MAX_DEVIATION of the exact ones."""
    workers = check_workers(workers)
    one = _one_image
    if jpeg_draft:
        from .vision.fast_decode import check_family, preprocess_one as one

        check_family(family)
    elif family.name not in STACKING_FAMILIES or len(images) <= 1:
        return family.preprocess_images(images)
    parts, failures = [], []
    for result in map_ordered(partial(one, family), images, workers=workers):
        (failures if isinstance(result, Failure) else parts).append(result)
    if failures:
        error = failures[0].error
        error.index, error.failures = failures[0].index, failures
        error.add_note(f"image {failures[0].index} of the batch of {len(images)} ({len(failures)} bad in all)")
        raise error
    return stack(parts, workers=workers)


def stack(parts: list[tuple[dict, list]], *, workers: int = 1) -> tuple[dict, list]:
    """Per-image (data, plans) joined into one batch, as a stacking family joins them."""
    data = {}
    for key, first in list(parts[0][0].items()):
        values = [part.pop(key) for part, _ in parts]  # popped: each is freed once it is copied
        if isinstance(first, np.ndarray):
            data[key] = _concatenate(values, workers)
        elif isinstance(first, list):
            data[key] = [v for value in values for v in value]
        else:
            raise TypeError(f"cannot stack {key!r} of type {type(first).__name__}")  # a bug: see STACKING_FAMILIES
    plans = [plan for _, part_plans in parts for plan in part_plans]
    return data, plans


def _concatenate(values: list[np.ndarray], workers: int) -> np.ndarray:
    """np.concatenate(values, axis=0), emptying `values` as it goes.

    Each part is dropped as soon as it is copied: the output's pages become resident only when
    written, so the peak stays near one output plus what the freed parts leave in the allocator,
    instead of two outputs. The copies are spread over `workers` threads: a serial join of a batch
    of 1080p images (~50 MB of float32 rows each) would cost the pool a sixth of its speed-up."""
    first = values[0]
    if any(v.dtype != first.dtype or v.shape[1:] != first.shape[1:] for v in values):
        return np.concatenate(values, axis=0)
    out = np.empty((sum(len(v) for v in values), *first.shape[1:]), first.dtype)
    starts = np.cumsum([0] + [len(v) for v in values]).tolist()

    def fill(i: int) -> None:
        out[starts[i] : starts[i + 1]] = values[i]  # numpy copies without the GIL
        values[i] = None

    if workers == 1:
        for i in range(len(values)):
            fill(i)
        return out

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(workers, len(values)), thread_name_prefix="mmtok-stack") as pool:
        list(pool.map(fill, range(len(values))))
    return out


def with_workers(family, workers: int | None):
    """A copy of `family` whose preprocess_images spreads images over `workers` threads, for code that
    calls the family directly (the processor's __call__ and encode_text); the original is unchanged."""
    import copy

    pooled = copy.copy(family)
    pooled.preprocess_images = partial(preprocess_images, family, workers=check_workers(workers))
    return pooled
