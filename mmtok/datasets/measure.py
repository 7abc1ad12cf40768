"""Exact token lengths of canonical samples for one model, from image headers alone.

A sample's `<image>` / `<video>` tags become media items at the tags' places (ms-swift's templates
replace each tag in place, so the text around a tag is kept as written), the model's chat template
is applied as `mmtok.get_processor(model)` applies it, and each image is planned from its header:
the length is what `len(input_ids)` will be before any truncation.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import MmtokError
from .sample import IMAGE_TAG, VIDEO_TAG, RecordError, Sample

_TAGS = re.compile(f"({re.escape(IMAGE_TAG)}|{re.escape(VIDEO_TAG)})")


@dataclass
class Lengths:
    """Token counts of one sample. `media_spans` holds (kind, index, start, end) for every image and
    video span in the token sequence."""

    total: int
    visual: int
    media_spans: list[tuple[str, int, int, int]] = field(default_factory=list)
    images: int = 0
    videos: int = 0
    image_pixels: int = 0  # sum of the resized images' pixels (what a vision encoder sees)

    @property
    def text(self) -> int:
        return self.total - self.visual

    def cut_inside(self, max_length: int) -> tuple[str, int] | None:
        """(kind, index) of the media span a right truncation at max_length would cut, else None."""
        for kind, index, start, end in self.media_spans:
            if start < max_length < end:
                return kind, index
        return None

    def to_dict(self) -> dict:
        return {"text_tokens": self.text, "visual_tokens": self.visual, "total_tokens": self.total}


def resolve_media(path: Any, root: str | None) -> Any:
    """A media path relative to the dataset's root (the dataset file's folder, or --root); absolute
    paths, URLs and data URLs are kept as they are."""
    if not isinstance(path, str) or root is None or "://" in path or path.startswith("data:") or os.path.isabs(path):
        return path
    return os.path.join(root, path)


def to_messages(sample: Sample, root: str | None = None) -> list[dict]:
    """The sample as Hugging Face content-list messages with resolved media paths. Raises
    RecordError("tag_mismatch") when the tags and the media lists disagree in number."""
    n_image, n_video = sample.tag_counts()
    if n_image != len(sample.images) or n_video != len(sample.videos):
        raise RecordError(
            "tag_mismatch",
            f"{n_image} <image> tag(s) for {len(sample.images)} image(s) and {n_video} <video> tag(s) for "
            f"{len(sample.videos)} video(s); put one tag where each item goes",
        )
    images, videos = iter(sample.images), iter(sample.videos)
    out = []
    for message in sample.messages:
        content = message.get("content")
        if not isinstance(content, str):
            raise RecordError("bad_format", f"a {message.get('role')!r} message's content must be a string")
        if IMAGE_TAG not in content and VIDEO_TAG not in content:
            out.append({"role": message.get("role"), "content": content})
            continue
        items = []
        for part in _TAGS.split(content):
            if part == IMAGE_TAG:
                items.append({"type": "image", "image": resolve_media(_media_path(next(images)), root)})
            elif part == VIDEO_TAG:
                items.append({"type": "video", "video": resolve_media(_media_path(next(videos)), root)})
            elif part:
                items.append({"type": "text", "text": part})
        out.append({"role": message.get("role"), "content": items})
    return out


def _media_path(item: Any) -> Any:
    # ms-swift also accepts {"path": ...} / {"bytes": ...} image dicts (datasets' Image feature)
    if isinstance(item, dict):
        return item.get("path") or item.get("bytes")
    return item


class Measurer:
    """Measures samples for one model. Picklable: the processor is built lazily in each process."""

    def __init__(self, model: str, **options):
        self.model, self.options = model, options
        self._processor = None
        self._plans: dict = {}  # (height, width) -> plan: datasets reuse sizes, and planning is pure

    def __getstate__(self):
        return {"model": self.model, "options": self.options, "_processor": None, "_plans": {}}

    def _plan(self, source: Any):
        if isinstance(source, tuple):
            plan = self._plans.get(source)
            if plan is None:
                if len(self._plans) > 65536:
                    self._plans.clear()
                plan = self._plans[source] = self.processor.family.plan(source)
            return plan
        return self.processor.family.plan(source)

    @property
    def processor(self):
        if self._processor is None:
            from .. import get_processor

            self._processor = get_processor(self.model, **self.options)
        return self._processor

    def measure(self, sample: Sample, root: str | None = None) -> Lengths:
        """Lengths of one sample. Raises RecordError for tag mismatches and an image error (a
        subclass of MmtokError) for media whose header cannot be read."""
        processor = self.processor
        messages = to_messages(sample, root)
        rendered, sources, video_sources = processor._render([messages], False, {})
        plans = [self._plan(source) for source in sources]
        video_plans = [processor.family.plan_video(source) for source in video_sources]
        ids, marks = next(processor._sequences(rendered, plans, video_plans))
        spans = [(m[1].kind, m[1].index, m[2], m[3]) for m in marks if m[0] == "media"]
        pixels = sum(p.resized[0] * p.resized[1] for p in plans if p.resized)
        return Lengths(
            total=len(ids),
            visual=sum(end - start for _, _, start, end in spans),
            media_spans=spans,
            images=len(plans),
            videos=len(video_plans),
            image_pixels=pixels,
        )


__all__ = ["Lengths", "Measurer", "MmtokError", "resolve_media", "to_messages"]
