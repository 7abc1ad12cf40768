"""LLaMA-Factory's `dataset_info.json`: which file each named dataset is in, and how to read it.

Follows hiyouga/LLaMA-Factory data/README.md and src/llamafactory/data/parser.py (`get_dataset_list`,
`DatasetAttr.join`): an entry names a local `file_name` (relative to the dataset_dir, the folder of
dataset_info.json) or a hub/script source (`hf_hub_url`, `ms_hub_url`, `om_hub_url`, `script_url`,
`cloud_file_name`, which take precedence over file_name there); `formatting` is "alpaca" (default) or
"sharegpt" ("openai" in newer versions); `columns` and `tags` rename the keys. Media paths are
resolved against `media_dir`, which defaults to the dataset_dir (src/llamafactory/hparams/data_args.py).

mmtok reads local files only, never downloads. Columns and tags an entry leaves out keep their
defaults here (LLaMA-Factory sets them to None when the entry has a `columns` / `tags` map), which
reads the same rows, with the standard tag names also accepted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..errors import MmtokError, UnknownNameError
from .formats import Format, get_format

DATA_CONFIG = "dataset_info.json"
REMOTE_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")
_SHAREGPT_COLUMNS = ("messages", "system", "tools", "images", "videos")
_ALPACA_COLUMNS = ("prompt", "query", "response", "history", "system", "tools", "images", "videos")


class DatasetInfoError(MmtokError, ValueError):
    """A dataset_info.json (or one of its entries) mmtok cannot use."""

    exit_code = 2


class RemoteDatasetError(DatasetInfoError):
    """An entry whose data is on a hub or behind a loading script, not in a local file."""

    def __init__(self, name: str, source: str, info_path: str):
        self.name, self.source = name, source
        super().__init__(
            f"{info_path}: dataset {name!r} is loaded from {source}; mmtok reads local files only and never downloads. "
            "Download the data, then give mmtok the file (or add a file_name entry for it)"
        )


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of a dataset_info.json. `format_name` / `format_options` rebuild `format` (for
    RecordTask(fmt=..., format_options=...))."""

    name: str
    file: str  # absolute path of the data file
    format: Format
    root: str  # where media paths are resolved: the dataset_dir (LLaMA-Factory's media_dir default)
    format_name: str = "sharegpt"
    format_options: dict = field(default_factory=dict)
    ranking: bool = False


def info_path(path: str | os.PathLike) -> str:
    """The dataset_info.json of `path`: the file itself, or the one in the folder `path`."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        path = os.path.join(path, DATA_CONFIG)
    if not os.path.isfile(path):
        raise DatasetInfoError(f"{path}: no such file; pass a dataset_info.json or the folder holding it (LLaMA-Factory's dataset_dir)")
    return path


def is_dataset_info(path: str | os.PathLike) -> bool:
    """Whether `path` is a dataset_info.json, or a folder that holds one."""
    path = os.fspath(path)
    return os.path.basename(path) == DATA_CONFIG or os.path.isfile(os.path.join(path, DATA_CONFIG))


def load_dataset_info(path: str | os.PathLike, name: str | None = None) -> list[DatasetEntry]:
    """The entries named `name` (comma-separated names allowed, as LLaMA-Factory's `dataset:`), or,
    with name=None, every entry that has a local file (hub and script entries are skipped).

    Raises UnknownNameError for a name the file lacks, RemoteDatasetError for a named entry that is
    not a local file, DatasetInfoError for a malformed file or entry.
    """
    path = info_path(path)
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except ValueError as e:
        raise DatasetInfoError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise DatasetInfoError(f"{path}: expected a JSON object of named datasets, got a {type(info).__name__}")
    if name is None:
        return [_entry(n, attrs, path) for n, attrs in info.items() if isinstance(attrs, dict) and not _remote(attrs)]
    out = []
    for one in (n.strip() for n in name.split(",")):
        if one not in info:
            raise UnknownNameError(f"dataset in {path}", one, list(info))
        out.append(_entry(one, info[one], path))
    return out


def _remote(attrs: dict) -> str | None:
    for key in REMOTE_KEYS:
        if key in attrs:
            return f"{key} {attrs[key]!r}"
    return None


def _entry(name: str, attrs, path: str) -> DatasetEntry:
    if not isinstance(attrs, dict):
        raise DatasetInfoError(f"{path}: dataset {name!r} must be an object with file_name, formatting, columns, ...")
    source = _remote(attrs)
    if source is not None:
        raise RemoteDatasetError(name, source, path)
    if not isinstance(attrs.get("file_name"), str):
        raise DatasetInfoError(f"{path}: dataset {name!r} has no file_name (nor a hub or script source)")
    folder = os.path.dirname(path)
    file = os.path.normpath(os.path.join(folder, attrs["file_name"]))
    if os.path.isdir(file):
        raise DatasetInfoError(f"{path}: dataset {name!r} is the folder {file}; mmtok reads one .json/.jsonl file at a time, pass it")
    formatting = attrs.get("formatting", "alpaca")
    columns = attrs.get("columns") or {}
    tags = attrs.get("tags") or {}
    if not isinstance(columns, dict) or not isinstance(tags, dict):
        raise DatasetInfoError(f"{path}: dataset {name!r}: 'columns' and 'tags' must be objects")
    if formatting == "alpaca":
        fmt_name, options = "alpaca", {"columns": _pick(columns, _ALPACA_COLUMNS)}
    elif formatting in ("sharegpt", "openai"):  # openai: the same columns and tags (OpenAIDatasetConverter)
        fmt_name, options = "sharegpt", {"columns": _pick(columns, _SHAREGPT_COLUMNS), "tags": _str_values(tags)}
    else:
        raise DatasetInfoError(f"{path}: dataset {name!r} has formatting {formatting!r}; LLaMA-Factory's are alpaca, sharegpt and openai")
    return DatasetEntry(
        name=name, file=file, format=get_format(fmt_name, **options), root=folder,
        format_name=fmt_name, format_options=options, ranking=bool(attrs.get("ranking", False)),
    )  # fmt: skip


def _pick(columns: dict, names: tuple[str, ...]) -> dict:
    return {k: v for k, v in columns.items() if k in names and isinstance(v, str) and v}


def _str_values(tags: dict) -> dict:
    return {k: v for k, v in tags.items() if isinstance(v, str) and v}


__all__ = ["DatasetEntry", "DatasetInfoError", "RemoteDatasetError", "info_path", "is_dataset_info", "load_dataset_info"]
