"""The checks `mmtok data validate` runs on one canonical sample. Each returns `Problem`s naming the
message, image, video or box at fault and the fix.

What each check follows:

* roles (`check_roles`): the rules of the trainer that reads the format.
  - ms-swift rows ("swift", "swift-query"): `RowPreprocessor._check_messages` (swift/dataset/
    preprocessor/core.py) allows the roles system, user, assistant, tool_call, tool_response, tool.
    `StdTemplateInputs.from_dict` takes a system message from position 0 only; the template's
    `_swift_prepare_inputs` merges runs of user or of assistant turns and a run of tool turns after an
    assistant turn, and `_swift_encode` then asserts each (query, response) pair is (user | tool,
    assistant). tool_call turns are assistant turns (the agent template folds them in). So: no system
    after the first message, at least one assistant turn, and after merging the turns alternate
    query/assistant starting with a query. A trailing user turn is allowed (ms-swift gives it an
    empty response).
  - LLaMA-Factory ShareGPT rows ("sharegpt"): `SharegptDatasetConverter` (src/llamafactory/data/
    converter.py): after a leading system turn, turn k must be user or observation for even k and
    assistant or function_call for odd k, and the number of turns must be even. LLaVA's `preprocess`
    asserts the same human/gpt alternation, so "llava" rows follow this rule too.
* empty turns (`check_turns`): ms-swift rejects a None content; a user, assistant or tool turn whose
  text is empty or whitespace only trains on nothing. An empty system message is ms-swift's and
  LLaMA-Factory's way of saying "no system prompt" and is accepted. A turn holding only an <image>
  tag is not empty.
* grounding (`check_objects`): ms-swift's grounding rows (docs/source_en/Customization/
  Custom-dataset.md#grounding): each `<ref-object>` / `<bbox>` tag takes the next item of
  objects["ref"] / objects["bbox"], so more tags than items fail (fewer tags than items is what the
  documented examples do, and is accepted); boxes are [x1, y1, x2, y2] or points [x, y]; bbox_type
  "real" (pixels of the image), "norm1" ([0, 1]) or "norm1000" ([0, 1000]); `image_id` picks the
  image of each box. ms-swift silently swaps reversed corners; a reversed box is reported here, since
  it is usually an [x, y, w, h] box or a mistake.
* media (`MediaChecker`): the path as the trainer resolves it (relative to the dataset root);
  symlinks are resolved before deciding whether it leaves the root, and a path that does is not
  opened. Images are checked from the header ("header") or decoded with Pillow ("decode");
  videos are opened with PyAV (mmtok.vision.video_io) and, with "decode", their first frame decoded.
"""

from __future__ import annotations

import base64
import math
import os
from collections import OrderedDict
from typing import Any

from ..errors import ImageError, VideoError
from .sample import IMAGE_TAG, ROLES, VIDEO_TAG, Problem, Sample

REF_TAG, BBOX_TAG = "<ref-object>", "<bbox>"
BBOX_RANGES = {"norm1": 1.0, "norm1000": 1000.0}  # plus "real": the image's width and height
BBOX_TYPES = ("real", "norm1", "norm1000")
MEDIA_MODES = ("decode", "header", "none")
_SWIFT_QUERY, _SWIFT_RESPONSE = {"user", "tool"}, {"assistant"}
_STRICT_ODD, _STRICT_EVEN = {"user", "tool_response", "tool"}, {"assistant", "tool_call"}
_TOOL_ROLES = ("tool_call", "tool_response", "tool")  # ms-swift json.dumps their dict / list contents
_ROLE_STYLE = {"sharegpt": "llama-factory", "llava": "llava"}  # every other format: ms-swift


def _content_text(sample: Sample) -> str:
    return "".join(m.get("content") for m in sample.messages if isinstance(m.get("content"), str))


# --- roles and turns ------------------------------------------------------------------------------


def check_roles(sample: Sample, fmt: str = "swift") -> list[Problem]:
    """Role problems under the rule of the trainer reading `fmt` (see the module docstring)."""
    messages = sample.messages
    if not messages:
        return [Problem("bad_roles", "the record has no messages; add a user turn and an assistant turn")]
    roles = [m.get("role") for m in messages]
    out = [
        Problem("bad_roles", f"message {i} has role {r!r}; use one of {', '.join(ROLES)}")
        for i, r in enumerate(roles)
        if r not in ROLES
    ]
    if out:
        return out
    style = _ROLE_STYLE.get(fmt, "ms-swift")
    start = 0
    while start < len(roles) and roles[start] == "system" and (start == 0 or style != "ms-swift"):
        start += 1
    out += [
        Problem("bad_roles", f"message {i} is a system message after the first; put the system prompt first, once")
        for i in range(start, len(roles))
        if roles[i] == "system"
    ]
    if not any(r in ("assistant", "tool_call") for r in roles):
        out.append(Problem("bad_roles", "the record has no assistant turn, so there is nothing to train on; add the answer"))
        return out
    if out:
        return out
    order = _swift_order(roles, start) if style == "ms-swift" else _strict_order(roles, start, style)
    return [order] if order else []


def _swift_order(roles: list[str], start: int) -> Problem | None:
    merged: list[tuple[int, str]] = []  # (first message index, role) after ms-swift's merging
    for i in range(start, len(roles)):
        role = {"tool_call": "assistant", "tool_response": "tool"}.get(roles[i], roles[i])
        if merged and merged[-1][1] == role:
            continue
        merged.append((i, role))
    for k, (i, role) in enumerate(merged):
        expected = _SWIFT_QUERY if k % 2 == 0 else _SWIFT_RESPONSE
        if role not in expected:
            want = "a user (or tool) turn" if k % 2 == 0 else "an assistant turn"
            after = f"after message {merged[k - 1][0]} ({roles[merged[k - 1][0]]})" if k else "first"
            return Problem(
                "bad_roles",
                f"message {i} is a {roles[i]!r} turn {after}, where ms-swift expects {want}; "
                "make the turns alternate user/assistant, starting with the user",
            )
    return None


def _strict_order(roles: list[str], start: int, style: str) -> Problem | None:
    trainer = "LLaMA-Factory" if style == "llama-factory" else "LLaVA"
    turns = roles[start:]
    for k, role in enumerate(turns):
        expected = _STRICT_ODD if k % 2 == 0 else _STRICT_EVEN
        if role not in expected:
            want = "a user (or observation) turn" if k % 2 == 0 else "an assistant (or function_call) turn"
            return Problem(
                "bad_roles",
                f"message {start + k} is a {role!r} turn where {trainer} expects {want} (turns must alternate "
                "user/assistant, starting with the user); fix the order or merge the turns",
            )
    if len(turns) % 2:
        return Problem(
            "bad_roles",
            f"message {start + len(turns) - 1}, the last, is a {turns[-1]!r} turn with no answer, and {trainer} skips "
            "conversations with an odd number of turns; add the assistant's answer or drop the turn",
        )
    return None


def check_turns(sample: Sample) -> list[Problem]:
    """empty_turn for None / empty / whitespace-only contents; bad_format for non-string ones (tool
    turns may hold JSON objects, which ms-swift's StdTemplateInputs.from_dict dumps to strings)."""
    out = []
    for i, message in enumerate(sample.messages):
        role = message.get("role")
        if "content" not in message:
            out.append(Problem("bad_format", f"message {i} ({role}) has no 'content' key; add the turn's text"))
            continue
        content = message["content"]
        if content is None:
            out.append(Problem("empty_turn", f"message {i} ({role}) has null content; write the turn's text or drop it"))
        elif not isinstance(content, str) and not (role in _TOOL_ROLES and isinstance(content, (dict, list))):
            kind = type(content).__name__
            out.append(Problem("bad_format", f"message {i} ({role}) has content of type {kind}; write it as a string with <image>/<video> tags"))
        elif isinstance(content, str) and not content.strip() and role != "system":
            what = "empty" if not content else "whitespace only"
            out.append(Problem("empty_turn", f"message {i} ({role}) is {what}; write the turn's text or drop the turn"))
    return out


def check_tags(sample: Sample) -> list[Problem]:
    """tag_mismatch when the <image> / <video> tags and the media lists differ in number."""
    text = _content_text(sample)
    out = []
    for tag, items, kind in ((IMAGE_TAG, sample.images, "image"), (VIDEO_TAG, sample.videos, "video")):
        n = text.count(tag)
        if n != len(items):
            out.append(
                Problem(
                    "tag_mismatch",
                    f"{n} {tag} tag(s) for {len(items)} {kind}(s); put exactly one {tag} where each {kind} goes "
                    f"(or fix the '{kind}s' list)",
                )
            )
    return out


# --- grounding ------------------------------------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bad(message: str) -> Problem:
    return Problem("bad_bbox", message)


def check_objects(sample: Sample, sizes: list[tuple[int, int] | None]) -> list[Problem]:
    """bad_bbox problems of the grounding `objects`; `sizes` are the images' (height, width) (None:
    unknown, then "real" boxes are not range-checked)."""
    text = _content_text(sample)
    n_ref, n_bbox = text.count(REF_TAG), text.count(BBOX_TAG)
    objects = sample.objects
    if objects is None:
        if n_ref or n_bbox:
            return [_bad(f"the messages have {n_ref} {REF_TAG} and {n_bbox} {BBOX_TAG} tag(s) but the record has no "
                         "'objects'; add objects {'ref': [...], 'bbox': [...]}")]  # fmt: skip
        return []
    if not isinstance(objects, dict):
        return [_bad(f"'objects' must be a dict with 'ref' and 'bbox', got {type(objects).__name__}")]
    out = []
    refs, boxes = objects.get("ref") or [], objects.get("bbox")
    if not isinstance(refs, list):
        out.append(_bad(f"objects['ref'] must be a list of strings, got {type(refs).__name__}"))
        refs = []
    if not isinstance(boxes, list):
        got = "missing" if boxes is None else type(boxes).__name__
        return out + [_bad(f"objects['bbox'] must be a list of boxes [x1, y1, x2, y2] or points [x, y] ({got})")]
    for n, tag, items, key, noun in ((n_ref, REF_TAG, refs, "ref", "ref(s)"), (n_bbox, BBOX_TAG, boxes, "bbox", "box(es)")):
        if n > len(items):
            out.append(_bad(f"{n} {tag} tag(s) but {len(items)} {noun} in objects['{key}']; add the missing ones or remove tags"))
    bbox_type = objects.get("bbox_type") or "real"
    if bbox_type not in BBOX_TYPES:
        out.append(_bad(f"unknown bbox_type {bbox_type!r}; use one of {', '.join(BBOX_TYPES)}"))
        bbox_type = None
    image_ids = objects.get("image_id")
    if image_ids is None:
        image_ids = [0] * len(boxes)
    elif not isinstance(image_ids, list) or len(image_ids) != len(boxes):
        n = len(image_ids) if isinstance(image_ids, list) else type(image_ids).__name__
        out.append(_bad(f"objects['image_id'] must list one image index per box ({len(boxes)} boxes, got {n})"))
        image_ids = [0] * len(boxes)
    for i, (box, image_id) in enumerate(zip(boxes, image_ids)):
        out += _check_box(i, box, image_id, bbox_type, sizes)
    return out


def _check_box(i: int, box: Any, image_id: Any, bbox_type: str | None, sizes: list) -> list[Problem]:
    where = f"box {i} {box!r}"
    if not isinstance(image_id, int) or isinstance(image_id, bool) or not 0 <= image_id < len(sizes):
        if not sizes:
            return [_bad(f"{where} has no image to refer to (the record has no images); add the image or drop the objects")]
        return [_bad(f"{where} has image_id {image_id!r}, but the record has {len(sizes)} image(s); use 0 to {len(sizes) - 1}")]
    if not isinstance(box, (list, tuple)) or len(box) not in (2, 4):
        n = len(box) if isinstance(box, (list, tuple)) else type(box).__name__
        return [_bad(f"{where} has {n} values; a box is [x1, y1, x2, y2], a point [x, y]")]
    if not all(_number(v) for v in box):
        return [_bad(f"{where} holds a value that is not a finite number; write the coordinates as numbers")]
    if len(box) == 4 and (box[2] < box[0] or box[3] < box[1]):
        return [_bad(f"{where} has x2 < x1 or y2 < y1; write it as [x1, y1, x2, y2] (top-left, bottom-right), not [x, y, w, h]")]
    if bbox_type is None:
        return []
    if bbox_type == "real":
        size = sizes[image_id]
        if size is None:
            return []
        high_x, high_y, what = size[1], size[0], f"image {image_id + 1} ({size[1]} x {size[0]} px, width x height)"
    else:
        high_x = high_y = BBOX_RANGES[bbox_type]
        what = f"[0, {high_x:g}] ({bbox_type})"
    xs, ys = box[0::2], box[1::2]
    if min(xs) < 0 or min(ys) < 0 or max(xs) > high_x or max(ys) > high_y:
        return [_bad(f"{where} is outside {what}; fix the coordinates or the bbox_type")]
    return []


# --- media ----------------------------------------------------------------------------------------


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def locate(item: Any, root: str) -> tuple[str, Any]:
    """(kind, value) of one media item: ("path", absolute path) | ("data", bytes) | ("url", url) |
    ("bytes", None) | ("bad", description)."""
    if isinstance(item, dict):
        if item.get("path"):
            item = item["path"]
        elif item.get("bytes") is not None:
            return "bytes", None
        else:
            return "bad", "a dict without 'path' or 'bytes'"
    if not isinstance(item, str):
        return "bad", f"a {type(item).__name__}"
    if item.startswith("data:"):
        try:
            return "data", base64.b64decode(item.split(",", 1)[1], validate=False)
        except (IndexError, ValueError):
            return "data", b""
    if _is_url(item):
        return "url", item
    path = item[7:] if item.startswith("file://") else item
    return "path", os.path.normpath(path if os.path.isabs(path) else os.path.join(root, path))


class MediaChecker:
    """Checks media items, caching each file's result (datasets reuse images). Picklable: the cache
    is dropped on pickling."""

    def __init__(self, root: str, media: str = "decode", cache_size: int = 100_000):
        if media not in MEDIA_MODES:
            from ..errors import InvalidOptionError

            raise InvalidOptionError(f"media must be one of {', '.join(MEDIA_MODES)}; got {media!r}")
        self.root, self.media, self.cache_size = os.path.abspath(root), media, cache_size
        self._real_root = os.path.realpath(self.root)
        self._cache: OrderedDict = OrderedDict()

    def __getstate__(self):
        return {**self.__dict__, "_cache": OrderedDict()}

    def _cached(self, key, compute):
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = compute()
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return hit

    def _escape(self, kind: str, index: int, item: Any, path: str) -> Problem | None:
        real = self._cached(("real", path), lambda: os.path.realpath(path))
        if real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep):
            return None
        shown = item.get("path") if isinstance(item, dict) else item
        return Problem(
            "path_escape",
            f"{kind} {index + 1} {shown!r} resolves to {real}, outside the dataset root {self._real_root}; "
            "move the file under the root or pass --root with a folder that holds it",
        )

    def image(self, index: int, item: Any) -> tuple[list[Problem], Any]:
        """(problems, ImageHeader or None when unknown) of image `index`."""
        return self._check("image", index, item, _image_result)

    def video(self, index: int, item: Any) -> tuple[list[Problem], Any]:
        """(problems, VideoMetadata or None when unknown) of video `index`."""
        return self._check("video", index, item, _video_result)

    def _check(self, kind: str, index: int, item: Any, result) -> tuple[list[Problem], Any]:
        where, value = locate(item, self.root)
        name = f"{kind} {index + 1}"
        if where == "bad":
            return [Problem("bad_format", f"{name} is {value}; give a path string")], None
        if where == "path":
            escape = self._escape(kind, index, item, value)
            if escape:
                return [escape], None
        if self.media == "none" or where in ("url", "bytes") or (where == "data" and kind == "video"):
            return [], None
        if where == "data":
            code, detail, info = result(value, self.media)
        else:
            code, detail, info = self._cached((kind, value), lambda: result(value, self.media))
        if code is None:
            return [], info
        return [Problem(code, f"{name} ({_shown(item)}): {detail}")], None


_MISSING_FIX = "fix the path (relative paths are taken from the dataset root) or pass --root"


def _shown(item: Any) -> str:
    item = item.get("path", "<bytes>") if isinstance(item, dict) else item
    return item if len(item) <= 200 else item[:60] + "..."


def _image_result(source: str | bytes, media: str) -> tuple[str | None, str, Any]:
    """(code or None, detail, header) of one image file or its bytes."""
    from ..vision.headers import read_header

    if isinstance(source, str) and not os.path.exists(source):
        return "missing_media", f"no such file {source}; {_MISSING_FIX}", None
    name = source if isinstance(source, str) else "<base64 image>"
    try:
        header = read_header(source, name=name)
    except (ImageError, OSError) as e:
        return "corrupt_media", _detail(e, name), None
    if media == "decode":
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                image.load()
        except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
            detail = str(e) or type(e).__name__
            return "corrupt_media", f"Pillow cannot decode it ({detail}); re-encode or replace it, or drop the record", None
    return None, "", header


def _video_result(path: str, media: str) -> tuple[str | None, str, Any]:
    """(code or None, detail, VideoMetadata) of one video file; "decode" also decodes its first frame."""
    from ..vision.video_io import decode_frames, read_metadata

    if not os.path.exists(path):
        return "missing_media", f"no such file {path}; {_MISSING_FIX}", None
    try:
        meta = read_metadata(path)
        if media == "decode":
            decode_frames(path, [0])
    except VideoError as e:
        return "video_unreadable", _detail(e, path), None
    return None, "", meta


def _detail(error: Exception, name: str) -> str:
    text = str(error)
    return text[len(name) + 2 :] if text.startswith(name + ": ") else text


__all__ = ["BBOX_TYPES", "MEDIA_MODES", "MediaChecker", "check_objects", "check_roles", "check_tags", "check_turns", "locate"]
