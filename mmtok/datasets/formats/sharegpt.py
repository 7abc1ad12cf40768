"""ShareGPT rows as LLaMA-Factory reads them (hiyouga/LLaMA-Factory data/README.md):

    {"conversations": [{"from": "human", "value": "<image>Who are they?"}, {"from": "gpt", "value": "..."}],
     "system": "...", "tools": "...", "images": ["mllm_demo_data/1.jpg"]}

Tags human / gpt / observation / function_call / system (observation becomes ms-swift's tool_response,
function_call its tool_call). Column and tag names can be remapped as `dataset_info.json` does
(`columns`, `tags`); the OpenAI-style form is this format with role/content/user/assistant tags.
Written rows keep LLaMA-Factory's turn order (user/observation at odd turns, assistant/function_call
at even ones, after an optional system), which its converter needs; others raise bad_roles.
"""

from __future__ import annotations

from typing import Any

from ..sample import RecordError, Sample
from . import FORMATS, Format, media_list, require_list

DEFAULT_COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools", "images": "images", "videos": "videos"}
DEFAULT_TAGS = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
    "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
}  # fmt: skip
#: the roles LLaMA-Factory accepts at odd and even turns (data/README.md; converter.py accept_tags)
_POSITION_ROLES = (("user", "tool_response"), ("assistant", "tool_call"))
_TAG_ROLE = {"user_tag": "user", "assistant_tag": "assistant", "observation_tag": "tool_response",
             "function_tag": "tool_call", "system_tag": "system"}  # fmt: skip


@FORMATS.register("sharegpt", aliases=("llamafactory", "llama-factory"))
class ShareGPT(Format):
    name = "sharegpt"
    description = 'ShareGPT rows (LLaMA-Factory): {"conversations": [{"from", "value"}], "system", "images", "videos"}'

    def __init__(self, *, columns: dict | None = None, tags: dict | None = None):
        self.columns = {**DEFAULT_COLUMNS, **(columns or {})}
        self.tags = {**DEFAULT_TAGS, **(tags or {})}
        self.to_role = {self.tags[k]: role for k, role in _TAG_ROLE.items()}
        self.from_role = {role: self.tags[k] for k, role in _TAG_ROLE.items()}

    def detect(self, record: dict) -> bool:
        if self.columns["images"] not in record and ("image" in record or "video" in record):
            return False  # LLaVA's singular image / video keys
        return isinstance(record.get(self.columns["messages"]), list)

    def read(self, record: Any) -> Sample:
        if not isinstance(record, dict):
            raise RecordError("bad_format", f"a record must be a JSON object, got {type(record).__name__}")
        role_tag, content_tag = self.tags["role_tag"], self.tags["content_tag"]
        messages = []
        system = record.get(self.columns["system"])
        if system:
            messages.append({"role": "system", "content": system})
        for i, turn in enumerate(require_list(record, self.columns["messages"])):
            if not isinstance(turn, dict) or content_tag not in turn:
                raise RecordError("bad_format", f"conversation turn {i} must be an object with {role_tag!r} and {content_tag!r}")
            role = self.to_role.get(turn.get(role_tag))
            if role is None:
                raise RecordError(
                    "bad_roles", f"conversation turn {i} has {role_tag!r}: {turn.get(role_tag)!r}; known: {', '.join(self.to_role)}"
                )
            messages.append({"role": role, "content": turn[content_tag]})
        used = {self.columns[k] for k in ("messages", "system", "images", "videos")}
        return Sample(
            messages=messages,
            images=media_list(record, self.columns["images"]),
            videos=media_list(record, self.columns["videos"]),
            extra={k: v for k, v in record.items() if k not in used},
        )

    def write(self, sample: Sample) -> dict:
        out: dict = {}
        messages = list(sample.messages)
        if messages and messages[0].get("role") == "system":
            out[self.columns["system"]] = messages.pop(0).get("content")
        turns = []
        for i, m in enumerate(messages):
            if m.get("role") not in self.from_role:
                raise RecordError("bad_roles", f"ShareGPT rows hold no {m.get('role')!r} turns")
            if m["role"] not in _POSITION_ROLES[i % 2]:  # LLaMA-Factory drops such rows ("Invalid role tag")
                raise RecordError(
                    "bad_roles",
                    f"turn {i + 1} is {m['role']!r}; LLaMA-Factory's ShareGPT rows alternate user/observation (odd turns) "
                    "and assistant/function_call (even turns): merge consecutive turns of one side first",
                )
            turns.append({self.tags["role_tag"]: self.from_role[m["role"]], self.tags["content_tag"]: m.get("content")})
        out[self.columns["messages"]] = turns
        if sample.images:
            out[self.columns["images"]] = list(sample.images)
        if sample.videos:
            out[self.columns["videos"]] = list(sample.videos)
        for key, value in sample.extra.items():
            out.setdefault(key, value)
        return out
