"""Dataset formats: one reader/writer each, registered by name.

A format turns one JSON record (a dict) into a canonical `Sample` (`read`) and back (`write`), and
says whether a record looks like its own (`detect`). Add a format by adding a module that registers
a `Format` subclass in FORMATS and listing the module below.
"""

from __future__ import annotations

from typing import Any

from ...registry import Registry
from ..sample import RecordError, Sample

FORMATS: Registry["Format"] = Registry(
    "dataset format",
    modules=(
        "mmtok.datasets.formats.swift",
        "mmtok.datasets.formats.llava",
        "mmtok.datasets.formats.sharegpt",
        "mmtok.datasets.formats.alpaca",
        "mmtok.datasets.formats.swift_sharegpt",
    ),
)

#: the order auto-detection tries formats in: the most specific keys first. A record two formats
#: accept reads into the same messages and media with either (tests/datasets/test_formats.py checks it):
#: a list of {"human", "assistant"} rounds is ms-swift's ShareGPT flavour; "messages" is ms-swift's
#: standard form (LLaMA-Factory's OpenAI form reads the same); instruction + input/output
#: is alpaca (ms-swift's AutoPreprocessor rule), before the query-response aliases; "conversations"
#: with only human/gpt/system turns and no media lists or system/tools columns is LLaVA's, and
#: every other "conversations" row is LLaMA-Factory's ShareGPT.
DETECT_ORDER = ("swift-sharegpt", "swift", "alpaca", "swift-query", "llava", "sharegpt")


class Format:
    """Base class of dataset formats. Subclasses set `name` and `description`."""

    name = ""
    description = ""
    #: whether rows of this format keep ms-swift's grounding "objects" (with <ref-object> / <bbox>)
    holds_objects = False

    def detect(self, record: dict) -> bool:
        raise NotImplementedError

    def read(self, record: Any) -> Sample:
        """The record as a Sample; RecordError("bad_format" | "bad_roles" | ..., message) when it cannot be."""
        raise NotImplementedError

    def write(self, sample: Sample) -> dict:
        raise NotImplementedError


def get_format(name: str, **options) -> Format:
    return FORMATS.get(name, **options)


def detect_format(record: Any) -> Format:
    """The first format in DETECT_ORDER whose `detect` accepts `record`."""
    if isinstance(record, dict):
        for name in DETECT_ORDER:
            fmt = FORMATS.get(name)
            if fmt.detect(record):
                return fmt
    keys = ", ".join(sorted(record)) if isinstance(record, dict) else type(record).__name__
    raise RecordError(
        "bad_format",
        f"cannot tell the dataset format of a record with keys {keys}; pass --format (one of {', '.join(FORMATS.names())})",
    )


def require_list(record: dict, key: str, where: str = "record") -> list:
    value = record.get(key)
    if not isinstance(value, list):
        got = "missing" if value is None else type(value).__name__
        raise RecordError("bad_format", f"{where}: {key!r} must be a list ({got})")
    return value


def media_list(record: dict, key: str, alias: str | None = None) -> list:
    """`images` / `videos` as a list: absent -> [], one string -> [it] (ms-swift's and LLaVA's habit)."""
    value = record.get(key)
    if value is None and alias is not None:
        value = record.get(alias)
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]
    if not isinstance(value, list):
        raise RecordError("bad_format", f"{key!r} must be a list of paths, got {type(value).__name__}")
    return list(value)
