"""Reading dataset files record by record, keeping each record's line number and raw text.

JSONL: one record per line; a line that does not parse is a `bad_json` record of its own, and blank
lines are skipped. JSON: one array of records (or one object, taken as one record); each element keeps
the line it starts on and its exact text. A JSON file that does not parse as a whole raises
DatasetFileError, since no record boundary can be trusted after the error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import MmtokError
from .sample import RecordError


class DatasetFileError(MmtokError, ValueError):
    """A dataset file that cannot be read at all (missing, or a JSON file broken as a whole)."""

    exit_code = 2


@dataclass(frozen=True)
class RawRecord:
    line: int  # 1-based line of the file where the record starts
    text: str  # the record's exact text in the file


def dataset_root(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Media paths are relative to --root when given, else to the dataset file's folder."""
    return os.path.abspath(root if root is not None else os.path.dirname(os.path.abspath(path)))


def iter_raw(path: str | os.PathLike) -> Iterator[RawRecord]:
    """The records of a .jsonl or .json file, in order."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetFileError(f"{path}: no such dataset file; pass a .jsonl or .json file")
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if path.endswith(".jsonl") or not head.startswith(b"["):
        if not path.endswith(".jsonl") and head.startswith(b"{") and _is_single_object(path):
            yield from _iter_json(path)
            return
        yield from _iter_jsonl(path)
    else:
        yield from _iter_json(path)


def _is_single_object(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
        return True
    except ValueError:
        return False


def _iter_jsonl(path: str) -> Iterator[RawRecord]:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for number, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if text.strip():
                yield RawRecord(number, text)


def _iter_json(path: str) -> Iterator[RawRecord]:
    with open(path, encoding="utf-8") as f:
        data = f.read()
    decoder = json.JSONDecoder()
    try:
        pos = _skip_ws(data, 0)
        if data.startswith("{", pos):
            decoder.raw_decode(data, pos)
            yield RawRecord(data.count("\n", 0, pos) + 1, data[pos:].strip())
            return
        if not data.startswith("[", pos):
            raise ValueError("expected a JSON array of records")
        pos = _skip_ws(data, pos + 1)
        line, counted = 1, 0
        while not data.startswith("]", pos):
            _, end = decoder.raw_decode(data, pos)
            line += data.count("\n", counted, pos)
            counted = pos
            yield RawRecord(line, data[pos:end])
            pos = _skip_ws(data, end)
            if data.startswith(",", pos):
                pos = _skip_ws(data, pos + 1)
            elif not data.startswith("]", pos):
                raise ValueError(f"expected ',' or ']' at character {pos}")
    except ValueError as e:
        raise DatasetFileError(f"{path}: not a valid JSON array of records ({e}); fix the file or convert it to JSONL") from None


def _skip_ws(data: str, pos: int) -> int:
    while pos < len(data) and data[pos] in " \t\r\n":
        pos += 1
    return pos


def parse(raw: RawRecord) -> Any:
    """The record's JSON value; RecordError("bad_json") when it does not parse or is not an object."""
    try:
        value = json.loads(raw.text)
    except ValueError as e:
        raise RecordError("bad_json", f"line {raw.line} does not parse as JSON ({e})") from None
    if not isinstance(value, dict):
        raise RecordError("bad_json", f"line {raw.line} is a JSON {type(value).__name__}, not an object")
    return value
