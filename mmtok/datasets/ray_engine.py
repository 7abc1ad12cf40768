"""The "ray" engine of the runner: the task over Ray Data's map_batches, outputs in input order.

Follows Ray Data's documented batch-inference pattern (docs.ray.io, "Transforming batches":
`ray.data.from_items(...).map_batches(fn, batch_format="numpy")`, iterated with
`DataContext.execution_options.preserve_order = True`, which makes the output order the input order).
The records go to Ray in windows of at least WINDOW_RECORDS: one Ray dataset per window keeps the
driver's memory flat on files of any length and lets the runner checkpoint as outputs come back.

The task travels pickled (cloudpickle) in fn_kwargs; each Ray worker process unpickles it once and keeps it in a
module-level cache (keyed by the pickle's hash), so a task's lazy state (tokenizers, processors)
survives from one batch, and one window, to the next.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterator
from itertools import islice

from ..errors import MissingDependencyError

WINDOW_RECORDS = 65536

_tasks: dict = {}


def _apply(batch: dict, *, payload: bytes, key: str) -> dict:
    """Runs in a Ray worker: the cached task over one numpy batch."""
    task = _tasks.get(key)
    if task is None:
        task = _tasks[key] = pickle.loads(payload)
    return task({name: values.tolist() for name, values in batch.items()})


def start_ray(workers: int):
    """ray, initialised here with `workers` CPUs unless the caller already started it (then the
    caller's cluster is used as it is). Ray stays up after the run (starting it takes seconds, and a
    later run in this process reuses it); ray.shutdown() ends it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError("ray", "--engine ray", "ray") from None
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    return ray


def ray_results(task, batches: Iterator[dict], *, workers: int, batch_size: int) -> Iterator[dict]:
    """task(batch) for every batch, as column lists, in input order (batch boundaries may differ)."""
    ray = start_ray(workers)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    # Ray Data logs each execution's start and end (and that its bars are off) on stderr: noise
    # around the runner's own bar
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context.enable_progress_bars = False
    # cloudpickle, as Ray itself serialises functions: a task class defined in a script's __main__
    # travels by value (pickle would name a module the workers cannot import)
    payload = ray.cloudpickle.dumps(task)
    kwargs = {"payload": payload, "key": hashlib.sha256(payload).hexdigest()}
    window = max(WINDOW_RECORDS // batch_size, 4 * workers, 1)
    while chunk := list(islice(batches, window)):
        rows = [{"line": line, "text": text} for batch in chunk for line, text in zip(batch["line"], batch["text"])]
        dataset = ray.data.from_items(rows, override_num_blocks=len(chunk))
        dataset = dataset.map_batches(_apply, fn_kwargs=kwargs, batch_size=batch_size, batch_format="numpy")
        for out in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            yield {name: values.tolist() for name, values in out.items()}
