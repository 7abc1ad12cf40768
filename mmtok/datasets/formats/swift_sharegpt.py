"""ms-swift's ShareGPT flavour (modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md):

    {"system": "<system>", "conversation": [{"human": "<query1>", "assistant": "<response1>"}, ...]}

Each item of `conversation` is one round: a query and its response, as ms-swift's
MessagesPreprocessor.sharegpt_to_messages reads it (swift/dataset/preprocessor/core.py): the query
under "human" or "user" (or "tool", then a tool message), the response under "assistant", "gpt" or
"bot"; `conversations` / `messages` are accepted as the list's name too.
"""

from __future__ import annotations

from typing import Any

from ..sample import RecordError, Sample
from . import FORMATS, Format, media_list

LIST_KEYS = ("conversation", "conversations", "messages")
USER_KEYS = ("human", "user")
ASSISTANT_KEYS = ("assistant", "gpt", "bot")
_MEDIA_KEYS = ("images", "image", "videos", "video")


def _list_key(record: dict) -> str | None:
    return next((k for k in LIST_KEYS if isinstance(record.get(k), list)), None)


def _first(item: dict, keys: tuple[str, ...]) -> str | None:
    return next((k for k in keys if k in item), None)


@FORMATS.register("swift-sharegpt", aliases=("swift-conversation",))
class SwiftShareGPT(Format):
    name = "swift-sharegpt"
    description = 'ms-swift ShareGPT rows: {"system", "conversation": [{"human": query, "assistant": response}]}'

    def detect(self, record: dict) -> bool:
        key = _list_key(record)
        if key is None or not record[key]:
            return False
        rounds = record[key]
        return all(
            isinstance(r, dict) and "role" not in r and "from" not in r and _first(r, ASSISTANT_KEYS) and _first(r, USER_KEYS + ("tool",))
            for r in rounds
        )

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        key = _list_key(record)
        if key is None:
            raise RecordError("bad_format", f"an ms-swift ShareGPT record needs a 'conversation' list of rounds; it has {', '.join(sorted(record))}")
        messages = []
        if record.get("system") is not None:
            messages.append({"role": "system", "content": record["system"]})
        for i, item in enumerate(record[key]):
            query_key = _first(item, ("tool",) + USER_KEYS) if isinstance(item, dict) else None
            answer_key = _first(item, ASSISTANT_KEYS) if isinstance(item, dict) else None
            if query_key is None or answer_key is None:
                raise RecordError("bad_format", f"conversation round {i} must be an object with 'human' and 'assistant'")
            messages.append({"role": "tool" if query_key == "tool" else "user", "content": item[query_key]})
            messages.append({"role": "assistant", "content": item[answer_key]})
        used = {key, "system"} | set(_MEDIA_KEYS)
        return Sample(
            messages=messages,
            images=media_list(record, "images", "image"),
            videos=media_list(record, "videos", "video"),
            extra={k: v for k, v in record.items() if k not in used},
        )

    def write(self, sample: Sample) -> dict:
        messages = list(sample.messages)
        out: dict = {}
        if messages and messages[0].get("role") == "system":
            out["system"] = messages.pop(0).get("content")
        rounds = []
        for i in range(0, len(messages), 2):
            pair = messages[i:i + 2]
            if len(pair) != 2 or pair[0].get("role") not in ("user", "tool") or pair[1].get("role") != "assistant":
                roles = " -> ".join(str(m.get("role")) for m in messages)
                raise RecordError("bad_roles", f"ms-swift ShareGPT rows hold user (or tool) + assistant rounds only, not {roles}")
            query_key = "tool" if pair[0]["role"] == "tool" else "human"
            rounds.append({query_key: pair[0].get("content"), "assistant": pair[1].get("content")})
        out["conversation"] = rounds
        if sample.images:
            out["images"] = list(sample.images)
        if sample.videos:
            out["videos"] = list(sample.videos)
        for key, value in sample.extra.items():
            out.setdefault(key, value)
        return out
