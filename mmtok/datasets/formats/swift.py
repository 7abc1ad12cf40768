"""ms-swift's two row forms (modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md).

* "swift": the standard form, `{"messages": [{"role", "content"}], "images": [...], "videos": [...],
  "objects": {...}}`, with `image` / `video` accepted as aliases of `images` / `videos`. It is the
  canonical form, so reading and writing keep every key.
* "swift-query": the older query-response form, `{"system", "query", "response", "history": [[q, r],
  ...]}`, with the aliases ms-swift's AutoPreprocessor accepts for query and response.
"""

from __future__ import annotations

from typing import Any

from ..sample import ROLES, RecordError, Sample
from . import FORMATS, Format, media_list, require_list

QUERY_KEYS = ("query", "prompt", "input", "instruction", "question", "problem")
RESPONSE_KEYS = ("response", "answer", "output", "target", "completion", "targets", "solution", "text")
_MEDIA_KEYS = ("images", "image", "videos", "video", "objects")


def _objects(record: dict) -> dict | None:
    objects = record.get("objects")
    if objects is None:
        return None
    if isinstance(objects, str):  # pyarrow forces objects to JSON strings in hub datasets (ms-swift FAQ Q55)
        import json

        try:
            objects = json.loads(objects)
        except ValueError as e:
            raise RecordError("bad_bbox", f"'objects' is a string that does not parse as JSON ({e})") from None
    if not isinstance(objects, dict):
        raise RecordError("bad_bbox", f"'objects' must be a dict with 'ref' and 'bbox', got {type(objects).__name__}")
    return objects


@FORMATS.register("swift", aliases=("ms-swift", "messages"))
class SwiftMessages(Format):
    name = "swift"
    holds_objects = True
    description = 'ms-swift standard rows: {"messages": [{"role", "content"}], "images", "videos", "objects"}'

    def detect(self, record: dict) -> bool:
        return isinstance(record.get("messages"), list)

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        messages = []
        for i, message in enumerate(require_list(record, "messages")):
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise RecordError("bad_format", f"message {i} must be an object with 'role' and 'content'")
            if message["role"] not in ROLES:  # ms-swift's _check_messages
                raise RecordError("bad_roles", f"message {i} has role {message['role']!r}; ms-swift knows {', '.join(ROLES)}")
            messages.append(message)
        extra = {k: v for k, v in record.items() if k not in ("messages",) + _MEDIA_KEYS}
        return Sample(
            messages=messages,
            images=media_list(record, "images", "image"),
            videos=media_list(record, "videos", "video"),
            objects=_objects(record),
            extra=extra,
        )

    def write(self, sample: Sample) -> dict:
        out: dict = {"messages": [dict(m) for m in sample.messages]}
        return _with_media(out, sample)


def _with_media(out: dict, sample: Sample) -> dict:
    """`out` with the sample's images, videos, objects and other keys, as both ms-swift forms write them."""
    if sample.images:
        out["images"] = list(sample.images)
    if sample.videos:
        out["videos"] = list(sample.videos)
    if sample.objects is not None:
        out["objects"] = sample.objects
    for key, value in sample.extra.items():
        out.setdefault(key, value)
    return out


def _first(record: dict, keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in record:
            return key, record[key]
    return None, None


@FORMATS.register("swift-query", aliases=("query-response", "swift-qr"))
class SwiftQuery(Format):
    name = "swift-query"
    holds_objects = True
    description = 'ms-swift query-response rows: {"system", "query", "response", "history": [[q, r], ...]}'

    def detect(self, record: dict) -> bool:
        if "instruction" in record and "input" in record:
            return False  # alpaca's
        return _first(record, QUERY_KEYS)[0] is not None and _first(record, RESPONSE_KEYS)[0] is not None

    @staticmethod
    def _not_alpaca(record: dict) -> None:
        # ms-swift's AutoPreprocessor reads instruction + input as alpaca (the two joined), never as a query
        if "instruction" in record and "input" in record:
            raise RecordError("bad_format", "a record with 'instruction' and 'input' is an alpaca record; read it with --format alpaca")

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        self._not_alpaca(record)
        qkey, query = _first(record, QUERY_KEYS)
        rkey, response = _first(record, RESPONSE_KEYS)
        if qkey is None or rkey is None:
            raise RecordError("bad_format", f"a query-response record needs one of {QUERY_KEYS} and one of {RESPONSE_KEYS}")
        messages = []
        if record.get("system") is not None:
            messages.append({"role": "system", "content": record["system"]})
        history = record.get("history") or []
        if not isinstance(history, list):
            raise RecordError("bad_format", f"'history' must be a list of [query, response] pairs, got {type(history).__name__}")
        for i, pair in enumerate(history):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise RecordError("bad_format", f"history item {i} must be a [query, response] pair")
            messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
        messages += [{"role": "user", "content": query}, {"role": "assistant", "content": response}]
        used = {qkey, rkey, "system", "history"} | set(_MEDIA_KEYS)
        return Sample(
            messages=messages,
            images=media_list(record, "images", "image"),
            videos=media_list(record, "videos", "video"),
            objects=_objects(record),
            extra={k: v for k, v in record.items() if k not in used},
        )

    def write(self, sample: Sample) -> dict:
        messages = list(sample.messages)
        out: dict = {}
        if messages and messages[0].get("role") == "system":
            out["system"] = messages.pop(0).get("content")
        roles = [m.get("role") for m in messages]
        if len(messages) < 2 or len(messages) % 2 or roles != ["user", "assistant"] * (len(messages) // 2):
            raise RecordError("bad_roles", "the query-response form holds only user/assistant pairs after an optional system message")
        pairs = [[messages[i]["content"], messages[i + 1]["content"]] for i in range(0, len(messages), 2)]
        out["query"], out["response"] = pairs[-1]
        if len(pairs) > 1:
            out["history"] = pairs[:-1]
        return _with_media(out, sample)
