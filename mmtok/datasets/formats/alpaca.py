"""Alpaca rows, as LLaMA-Factory reads them (hiyouga/LLaMA-Factory data/README.md, "Alpaca Format";
src/llamafactory/data/converter.py, AlpacaDatasetConverter):

    {"instruction": "human instruction (required)", "input": "human input (optional)",
     "output": "model response (required)", "system": "system prompt (optional)",
     "history": [["human instruction in the first round", "model response in the first round"]],
     "images": ["image path"]}

The user turn is the non-empty ones of instruction and input joined by "\\n" ("prompt\\nquery" in the
converter); each history pair becomes a user and an assistant turn before it. Column names can be
remapped as `dataset_info.json` does (`columns`: prompt, query, response, history, system, tools,
images, videos). ms-swift's AlpacaPreprocessor reads the same keys but always joins with "\\n", so an
empty input leaves a trailing newline there; mmtok follows LLaMA-Factory.
"""

from __future__ import annotations

from typing import Any

from ..sample import RecordError, Sample
from . import FORMATS, Format, media_list

DEFAULT_COLUMNS = {
    "prompt": "instruction", "query": "input", "response": "output", "history": "history",
    "system": "system", "tools": "tools", "images": "images", "videos": "videos",
}  # fmt: skip


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise RecordError("bad_format", f"{what} must be a string, got {type(value).__name__}")
    return value


@FORMATS.register("alpaca", aliases=("instruction",))
class Alpaca(Format):
    name = "alpaca"
    description = 'Alpaca rows (LLaMA-Factory, ms-swift): {"instruction", "input", "output", "system", "history", "images"}'

    def __init__(self, *, columns: dict | None = None):
        self.columns = {**DEFAULT_COLUMNS, **{k: v for k, v in (columns or {}).items() if v}}

    def detect(self, record: dict) -> bool:
        c = self.columns
        return c["prompt"] in record and (c["response"] in record or c["query"] in record)

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        c = self.columns
        if c["prompt"] not in record and c["query"] not in record:
            raise RecordError("bad_format", f"an alpaca record needs {c['prompt']!r} (the instruction); it has {', '.join(sorted(record))}")
        if c["response"] not in record:
            raise RecordError("bad_format", f"an alpaca record needs {c['response']!r} (the response)")
        messages = []
        system = record.get(c["system"])
        if system:
            messages.append({"role": "system", "content": _text(system, repr(c["system"]))})
        history = record.get(c["history"]) or []
        if not isinstance(history, list):
            raise RecordError("bad_format", f"{c['history']!r} must be a list of [instruction, response] pairs")
        for i, pair in enumerate(history):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise RecordError("bad_format", f"{c['history']!r} item {i} must be an [instruction, response] pair")
            messages.append({"role": "user", "content": _text(pair[0], f"history item {i} instruction")})
            messages.append({"role": "assistant", "content": _text(pair[1], f"history item {i} response")})
        parts = [_text(record[k], repr(k)) for k in (c["prompt"], c["query"]) if record.get(k)]
        messages.append({"role": "user", "content": "\n".join(parts)})
        messages.append({"role": "assistant", "content": _text(record[c["response"]], repr(c["response"]))})
        used = {c[k] for k in ("prompt", "query", "response", "history", "system", "images", "videos")}
        return Sample(
            messages=messages,
            images=media_list(record, c["images"]),
            videos=media_list(record, c["videos"]),
            extra={k: v for k, v in record.items() if k not in used},
        )

    def write(self, sample: Sample) -> dict:
        c = self.columns
        messages = list(sample.messages)
        out: dict = {}
        system = None
        if messages and messages[0].get("role") == "system":
            system = messages.pop(0).get("content")
        roles = [m.get("role") for m in messages]
        if len(messages) < 2 or len(messages) % 2 or roles != ["user", "assistant"] * (len(messages) // 2):
            raise RecordError(
                "bad_roles",
                f"alpaca rows hold only user/assistant pairs after an optional system message, not {' -> '.join(map(str, roles))}",
            )
        pairs = [[messages[i]["content"], messages[i + 1]["content"]] for i in range(0, len(messages), 2)]
        out[c["prompt"]], out[c["response"]] = pairs[-1][0], pairs[-1][1]
        if system is not None:
            out[c["system"]] = system
        if len(pairs) > 1:
            out[c["history"]] = pairs[:-1]
        if sample.images:
            out[c["images"]] = list(sample.images)
        if sample.videos:
            out[c["videos"]] = list(sample.videos)
        for key, value in sample.extra.items():
            out.setdefault(key, value)
        return out
