"""LLaVA's fine-tuning rows (haotian-liu/LLaVA docs/Finetune_Custom_Data.md):

    {"id": "...", "image": "part-000001/xxx.jpg",
     "conversations": [{"from": "human", "value": "<image>\\nWrite a prompt ..."}, {"from": "gpt", "value": "..."}]}

`image` is one path resolved against the image folder (LLaVA-OneVision's data also writes a list, and
LLaVA-Video a `video`); `from` is "human" or "gpt" ("system" is accepted as a leading turn).
"""

from __future__ import annotations

from typing import Any

from ..sample import RecordError, Sample
from . import FORMATS, Format, media_list, require_list

FROM_ROLE = {"human": "user", "gpt": "assistant", "system": "system"}
ROLE_FROM = {v: k for k, v in FROM_ROLE.items()}


@FORMATS.register("llava", aliases=("llava-conversations",))
class Llava(Format):
    name = "llava"
    description = 'LLaVA rows: {"image": path, "conversations": [{"from": "human"|"gpt", "value"}]}'

    def detect(self, record: dict) -> bool:
        turns = record.get("conversations")
        if not isinstance(turns, list) or any(k in record for k in ("images", "videos", "system", "tools")):
            return False  # LLaMA-Factory's ShareGPT columns
        return all(isinstance(t, dict) and t.get("from") in FROM_ROLE for t in turns)

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        messages = []
        for i, turn in enumerate(require_list(record, "conversations")):
            if not isinstance(turn, dict) or "value" not in turn:
                raise RecordError("bad_format", f"conversation turn {i} must be an object with 'from' and 'value'")
            role = FROM_ROLE.get(turn.get("from"))
            if role is None:
                raise RecordError(
                    "bad_roles", f"conversation turn {i} has 'from': {turn.get('from')!r}; LLaVA knows {', '.join(FROM_ROLE)}"
                )
            messages.append({"role": role, "content": turn["value"]})
        return Sample(
            messages=messages,
            images=media_list(record, "image"),
            videos=media_list(record, "video"),
            extra={k: v for k, v in record.items() if k not in ("conversations", "image", "video")},
        )

    def write(self, sample: Sample) -> dict:
        out: dict = {}
        if "id" in sample.extra:
            out["id"] = sample.extra["id"]
        if sample.images:
            out["image"] = sample.images[0] if len(sample.images) == 1 else list(sample.images)
        if sample.videos:
            out["video"] = sample.videos[0] if len(sample.videos) == 1 else list(sample.videos)
        turns = []
        for m in sample.messages:
            if m.get("role") not in ROLE_FROM:
                raise RecordError("bad_roles", f"LLaVA rows hold only system/user/assistant turns, not {m.get('role')!r}")
            turns.append({"from": ROLE_FROM[m["role"]], "value": m.get("content")})
        out["conversations"] = turns
        return out
