"""Driving a per-record task over a dataset file: batches in, outputs in input order, nothing lost.

A task is a picklable callable on a batch of columns, {"line": [...], "text": [...]} -> output
columns (the contract of mmtok/datasets/task.py): "line", "text", "ok", "reasons" (a JSON list of
{"code", "message"}), "output" (the text to keep), and whatever else it measures. Every record ends
either in clean.jsonl (its "output") or in rejects.jsonl ({"line", "record", "reasons"}), in input
order, whatever the engine:

- "local": in this process, or with workers > 1 in a spawn process pool (the task is pickled once
  per worker through the pool's initializer, as concurrent.futures documents; at most 2 x workers
  batches are in flight, so memory stays flat however long the file is).
- "ray": Ray Data's map_batches over the same task (mmtok/datasets/ray_engine.py).

Resuming follows the checkpoint-file pattern of resumable downloads (wget -c, HF hub's .incomplete
files): out_dir/progress.json records how many records are done and the byte sizes of the output
files at that point, rewritten atomically (temporary file + os.replace) after each batch's lines are
flushed, with fsync every few seconds and at the end. A rerun with the same dataset (path, size,
mtime), task and keep_columns truncates the outputs to the recorded sizes and carries on after the
recorded records: lines written after the last checkpoint are dropped and redone, never duplicated;
a finished run (progress.json "done") is not redone.
A progress.json for another dataset or task means a fresh start (the outputs are derived data);
output files in out_dir without a progress.json were not written by mmtok, so they raise
OutputDirError rather than being overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
import types
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from ..errors import InvalidOptionError, MmtokError
from .progress import Progress, count_lines
from .source import DatasetFileError, iter_raw

ENGINES = ("local", "ray")
CLEAN, REJECTS, COLUMNS, PROGRESS = "clean.jsonl", "rejects.jsonl", "columns.jsonl", "progress.json"
REQUIRED = ("line", "text", "ok", "reasons", "output")
SYNC_SECONDS = 5.0


class OutputDirError(MmtokError, ValueError):
    """An output folder holding files mmtok did not write (no progress.json next to them)."""

    exit_code = 2


@dataclass
class RunResult:
    """Counts over all records of the dataset (a resumed run includes the earlier run's records).
    by_reason: rejected records per reason code (a record with several problems counts under each of
    its codes once). columns: the task's output columns named in keep_columns, in input order."""

    records: int = 0
    clean: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    columns: dict[str, list] = field(default_factory=dict)
    resumed_from: int = 0  # records already done by an earlier run of the same out_dir
    out_dir: str | None = None

    def to_dict(self) -> dict:
        by_reason = dict(sorted(self.by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
        return {"records": self.records, "clean": self.clean, "rejected": self.rejected, "by_reason": by_reason}


def task_key(task) -> str:
    """What identifies a task across runs, for resuming: task.describe() if it has one, else its repr
    when its class defines one (dataclasses do), else a hash of its pickle."""
    kind = f"{type(task).__module__}.{type(task).__qualname__}"
    if callable(getattr(task, "describe", None)):
        return f"{kind}:{task.describe()}"
    if isinstance(task, types.FunctionType):
        return f"{task.__module__}.{task.__qualname__}"
    if type(task).__repr__ is not object.__repr__:
        return f"{kind}:{task!r}"
    return f"{kind}:sha256:{hashlib.sha256(pickle.dumps(task)).hexdigest()}"


def run(
    dataset: str | os.PathLike,
    task,
    *,
    out_dir: str | os.PathLike | None = None,
    engine: str = "local",
    workers: int = 1,
    batch_size: int = 256,
    progress: bool | None = None,
    resume: bool = True,
    keep_columns: tuple = (),
) -> RunResult:
    """task over every record of `dataset`; see the module docstring. progress=None shows the bar
    when stderr is a terminal. workers=0 means every core."""
    from ..parallel import check_workers

    if engine not in ENGINES:
        raise InvalidOptionError(f"unknown engine {engine!r}; use one of: {', '.join(ENGINES)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidOptionError(f"batch_size must be a positive number of records; got {batch_size!r}")
    workers = check_workers(workers)
    dataset = os.fspath(dataset)
    if not os.path.isfile(dataset):
        raise DatasetFileError(f"{dataset}: no such dataset file; pass a .jsonl or .json file")
    keep_columns = tuple(keep_columns)
    result = RunResult(columns={name: [] for name in keep_columns})
    outputs = None
    if out_dir is not None:
        identity = {"dataset": _file_identity(dataset), "task": task_key(task), "keep_columns": list(keep_columns)}
        outputs = _Outputs(os.fspath(out_dir), identity, keep_columns)
        outputs.open(resume, result)
        if outputs.state["done"]:
            outputs.close(result, done=True)
            return result
    bar = Progress(start=result.records, enabled=progress)
    if bar.enabled:
        bar.total = count_lines(dataset)
    expected: deque = deque()
    batches = _batches(dataset, batch_size, result.records, expected)
    if engine == "ray":
        from .ray_engine import ray_results

        outs = ray_results(task, batches, workers=workers, batch_size=batch_size)
    else:
        outs = _local_results(task, batches, workers)
    done = False
    try:
        for out in outs:
            n = _check(out, expected)
            chunks = _tally(out, result, keep_columns)
            if outputs is not None:
                outputs.write(chunks, result)
            bar.update(n)
        done = True
    finally:
        bar.close()
        if outputs is not None:
            outputs.close(result, done=done)
    return result


def _file_identity(path: str) -> dict:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _batches(dataset: str, batch_size: int, skip: int, expected: deque) -> Iterator[dict]:
    """Column batches of the records after the first `skip`; each record's line goes into `expected`,
    so the outputs can be checked against the inputs, whatever the engine did."""
    records = islice(iter_raw(dataset), skip, None)
    while batch := list(islice(records, batch_size)):
        lines = [r.line for r in batch]
        expected.extend(lines)
        yield {"line": lines, "text": [r.text for r in batch]}


def _check(out: dict, expected: deque) -> int:
    missing = [c for c in REQUIRED if c not in out]
    if missing:
        raise ValueError(f"the task's output lacks the column(s) {', '.join(missing)}; a task returns {', '.join(REQUIRED)}")
    n = len(out["line"])
    if any(len(out[c]) != n for c in REQUIRED):
        raise ValueError("the task's output columns differ in length; a task returns one row per input record")
    for line in out["line"]:
        if not expected or expected.popleft() != line:
            raise RuntimeError(f"the engine returned record line {line} out of order; please report this as a bug")
    return n


def _tally(out: dict, result: RunResult, keep_columns: tuple) -> tuple[bytes, bytes, bytes]:
    """Counts, kept columns, and the bytes to append to clean.jsonl, rejects.jsonl and columns.jsonl."""
    clean, rejects, columns = [], [], []
    for i, (line, ok) in enumerate(zip(out["line"], out["ok"])):
        if ok:
            result.clean += 1
            clean.append(str(out["output"][i]) + "\n")
        else:
            result.rejected += 1
            reasons = json.loads(out["reasons"][i])
            for code in dict.fromkeys(r["code"] for r in reasons):
                result.by_reason[code] = result.by_reason.get(code, 0) + 1
            text = str(out["text"][i])
            try:
                record = json.loads(text)
            except ValueError:
                record = text
            rejects.append(_json_line({"line": int(line), "record": record, "reasons": reasons}))
    for name in keep_columns:
        result.columns[name].extend(_plain(out[name]))
    if keep_columns:
        rows = zip(*(_plain(out[name]) for name in keep_columns))
        columns = [_json_line(list(row)) for row in rows]
    result.records += len(out["line"])
    return _encode(clean), _encode(rejects), _encode(columns)


def _plain(values) -> list:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _json_line(obj) -> str:
    try:
        text = json.dumps(obj, ensure_ascii=False)
        text.encode("utf-8")
        return text + "\n"
    except UnicodeEncodeError:  # undecodable bytes of the input (surrogate escapes): keep them as \\u escapes
        return json.dumps(obj) + "\n"


def _encode(lines: list[str]) -> bytes:
    text = "".join(lines)
    try:  # kept records go out byte for byte as read (source.py reads with surrogateescape)
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate a conversion decoded from a JSON escape: keep it
        return text.encode("utf-8", "surrogatepass")


# --- local engine ---------------------------------------------------------------------------------

_worker_task = None


def _init_worker(payload: bytes) -> None:
    global _worker_task
    _worker_task = pickle.loads(payload)


def _call_worker(batch: dict) -> dict:
    return _worker_task(batch)


def _local_results(task, batches: Iterator[dict], workers: int) -> Iterator[dict]:
    if workers == 1:
        for batch in batches:
            yield task(batch)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: forking a process whose other threads hold locks (BLAS, Pillow) can hang
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(pickle.dumps(task),)
    )
    pending: deque = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_call_worker, batch))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --- outputs and resuming -------------------------------------------------------------------------


class _Outputs:
    """clean.jsonl, rejects.jsonl (and columns.jsonl with keep_columns) in out_dir, and progress.json."""

    def __init__(self, out_dir: str, identity: dict, keep_columns: tuple):
        self.dir, self.identity = out_dir, identity
        self.names = (CLEAN, REJECTS) + ((COLUMNS,) if keep_columns else ())
        self.files: dict = {}
        self.state: dict = {}
        self._synced = time.monotonic()

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def open(self, resume: bool, result: RunResult) -> None:
        if os.path.exists(self.dir) and not os.path.isdir(self.dir):
            raise OutputDirError(f"{self.dir}: exists and is not a folder; pass a folder for the outputs")
        os.makedirs(self.dir, exist_ok=True)
        state = self._load()
        ours = (CLEAN, REJECTS, COLUMNS)
        if state is None and any(os.path.exists(self.path(n)) for n in ours):
            found = ", ".join(n for n in ours if os.path.exists(self.path(n)))
            raise OutputDirError(
                f"{self.dir}: holds {found} but no {PROGRESS}, so mmtok did not write them; "
                "move them away or pass another output folder"
            )
        if resume and state is not None and self._resumable(state):
            for name in self.names:
                os.truncate(self.path(name), state["sizes"][name])
            result.records, result.clean, result.rejected = state["records"], state["clean"], state["rejected"]
            result.by_reason.update(state["by_reason"])
            result.resumed_from = state["records"]
            self._read_columns(result)
        else:
            state = {"version": 1, **self.identity, "records": 0, "clean": 0, "rejected": 0, "by_reason": {}, "done": False,
                     "sizes": {name: 0 for name in self.names}}  # fmt: skip
            self._save(state, sync=True)  # before any output file exists: files without it are foreign
            for name in ours:
                if os.path.exists(self.path(name)):
                    os.remove(self.path(name))
        self.state = state
        result.out_dir = self.dir
        self.files = {name: open(self.path(name), "ab") for name in self.names}

    def _load(self) -> dict | None:
        try:
            with open(self.path(PROGRESS), encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None
        except ValueError:
            return {}  # unreadable: ours (the name is), so a fresh start

    def _resumable(self, state: dict) -> bool:
        if state.get("version") != 1 or any(state.get(k) != v for k, v in self.identity.items()):
            return False
        sizes = state.get("sizes", {})
        # a file shorter than recorded lost lines the checkpoint counted (power loss before fsync)
        return all(
            name in sizes and os.path.isfile(self.path(name)) and os.path.getsize(self.path(name)) >= sizes[name]
            for name in self.names
        )

    def _read_columns(self, result: RunResult) -> None:
        if COLUMNS not in self.names:
            return
        names = list(result.columns)
        with open(self.path(COLUMNS), encoding="utf-8") as f:
            for line in f:
                for name, value in zip(names, json.loads(line)):
                    result.columns[name].append(value)

    def write(self, chunks: tuple[bytes, ...], result: RunResult) -> None:
        for name, data in zip((CLEAN, REJECTS, COLUMNS), chunks):
            if name in self.files and data:
                self.files[name].write(data)
        for f in self.files.values():
            f.flush()
        self._checkpoint(result, done=False)

    def _checkpoint(self, result: RunResult, done: bool) -> None:
        sync = done or time.monotonic() - self._synced >= SYNC_SECONDS
        if sync:
            for f in self.files.values():
                os.fsync(f.fileno())
            self._synced = time.monotonic()
        self.state.update(records=result.records, clean=result.clean, rejected=result.rejected, by_reason=dict(result.by_reason), done=done)
        self.state["sizes"] = {name: f.tell() for name, f in self.files.items()}
        self._save(self.state, sync=sync)

    def _save(self, state: dict, sync: bool) -> None:
        tmp = self.path(PROGRESS + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path(PROGRESS))

    def close(self, result: RunResult, done: bool) -> None:
        if not self.files:
            return
        try:
            if done:
                self._checkpoint(result, done=True)
            else:  # interrupted: make what the last checkpoint counts durable
                for f in self.files.values():
                    f.flush()
                    os.fsync(f.fileno())
                self._save(self.state, sync=True)
        finally:
            for f in self.files.values():
                f.close()
            self.files = {}
