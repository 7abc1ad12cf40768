"""One fine-tuning record in mmtok's canonical form, and the problems a record can have.

Every dataset format reads into a `Sample` and writes from one. The canonical form is ms-swift's
standard row (modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md): `messages` whose
contents are strings with `<image>` / `<video>` tags at the media's places, `images` and `videos`
lists in tag order, and the grounding `objects` dict ({"ref", "bbox", "bbox_type", "image_id"}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import MmtokError

IMAGE_TAG = "<image>"
VIDEO_TAG = "<video>"

#: role names of the canonical form, ms-swift's `_check_messages` set
ROLES = ("system", "user", "assistant", "tool_call", "tool_response", "tool")

#: every reason a record can be rejected for, with what it means
REASONS = {
    "bad_json": "the line (or the record) does not parse as a JSON object",
    "bad_format": "the record is not in the dataset's format (a required key is missing or has the wrong type)",
    "missing_media": "an image or video file does not exist",
    "corrupt_media": "an image file is unreadable or truncated",
    "video_unreadable": "a video file cannot be opened or decoded",
    "tag_mismatch": "the number of <image> / <video> tags differs from the number of images / videos",
    "empty_turn": "a message has no content",
    "bad_roles": "a role is missing or unknown, or the roles are in an order trainers reject",
    "bad_bbox": "a grounding box is out of range, malformed, or has an unknown bbox_type",
    "path_escape": "a media path points outside the dataset root",
    "too_long": "the sample's length with expanded visual tokens is over max_length",
    "unprocessable_media": "an image the model's processor refuses (an aspect ratio over 200, too small to resize, ...)",
    "unmeasured": "the sample's length could not be computed for the model (a URL image, a model without a chat template)",
}


@dataclass
class Sample:
    """A record in canonical form. `extra` keeps every other key of the source record, so writers
    that can hold them (the ms-swift form) keep them."""

    messages: list[dict[str, str]]
    images: list[Any] = field(default_factory=list)
    videos: list[Any] = field(default_factory=list)
    objects: dict | None = None
    extra: dict = field(default_factory=dict)

    def tag_counts(self) -> tuple[int, int]:
        text = "".join(m.get("content") or "" for m in self.messages if isinstance(m.get("content"), str))
        return text.count(IMAGE_TAG), text.count(VIDEO_TAG)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a record: a code from REASONS and a message naming the item and the fix."""

    code: str
    message: str

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class RecordError(MmtokError, ValueError):
    """A record that cannot be read in its format. Carries the `Problem`."""

    def __init__(self, code: str, message: str):
        if code not in REASONS:
            raise ValueError(f"unknown reason code {code!r}")
        self.problem = Problem(code, message)
        super().__init__(message)
