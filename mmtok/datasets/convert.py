"""Convert one record to another dataset format, writing grounding boxes as a target model needs them.

Follows ms-swift's grounding rows (modelscope/ms-swift docs/source_en/Customization/Custom-dataset.md,
"Grounding"): `<ref-object>` and `<bbox>` placeholders in the text, and
`"objects": {"ref": [...], "bbox": [[x1, y1, x2, y2] | [x, y], ...], "bbox_type": "real" | "norm1",
"image_id": [...]}`. Formats that hold `objects` (ms-swift's) keep them; for the others (LLaVA,
ShareGPT, alpaca), or with boxes="model", each placeholder is replaced with the model's own text,
as ms-swift's templates do at encode time (swift/template/base.py `_pre_tokenize`, `normalize_bbox`,
`replace_ref`, `replace_bbox`; swift/template/templates/qwen.py):

* i-th `<ref-object>` -> ref[i]; i-th `<bbox>` -> bbox[i], in text order over all messages.
* qwen-vl: `<ref>a dog</ref>`, `<box>(x1,y1),(x2,y2)</box>`, relative 0-1000 (QwenVLTemplate).
* qwen2-vl: `<|object_ref_start|>a dog<|object_ref_end|>`, `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`,
  relative 0-1000 (Qwen2VLTemplate, QWENVL_BBOX_FORMAT=legacy, its default).
* qwen2.5-vl (absolute pixels of the smart-resized image) and qwen3-vl (relative 0-1000) write JSON
  grounding (mmtok.sequence.grounding), so by default they get ms-swift's QWENVL_BBOX_FORMAT=new
  text: the ref as it is and the box as `[x1, y1, x2, y2]`, to sit inside the record's own
  `{"bbox_2d": <bbox>, "label": "<ref-object>"}`. bbox_format="legacy" writes the Qwen2-VL tags
  instead, as ms-swift does for these models by default.
* A point [x, y] is written `(x,y)` in tags (ms-swift's `_get_bbox_str`) and `[x, y]` in JSON.

Coordinates come from mmtok.sequence.grounding, from the image header's size (after EXIF
orientation). Deliberate differences from ms-swift, which computes `int(round(x / w * frame))`
unclamped: Qwen2.5-VL uses the official notebook's `round(x * (new_w / w))` clamped to
[0, new_w - 1] (convert_to_qwen25vl_format; ms-swift can write new_w for a box on the right edge,
and the two round exact ties differently); boxes outside the image, with the wrong arity or an
unknown bbox_type, more placeholders than refs or boxes, and reversed corners (x2 < x1: most often
[x, y, w, h], which ms-swift's `_check_objects` swaps) are rejected (`bad_bbox`), as
mmtok.datasets.checks rejects them, where ms-swift leaves extra placeholders as text. "norm1000"
boxes (relative 0-1000, which ms-swift does not read) are accepted too, and written as "norm1" when
kept. Objects left over after the last placeholder are dropped when the boxes are written as text
(ms-swift never uses them either). bbox_format="new" writes the plain form for every model.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any

from ..errors import ImageNotFoundError, MmtokError
from .formats import Format, get_format
from .measure import resolve_media
from .sample import RecordError, Sample
from .task import RecordTask

REF, BOX = "<ref-object>", "<bbox>"
_PLACEHOLDER = re.compile(f"({re.escape(REF)}|{re.escape(BOX)})")
BOXES = ("auto", "keep", "model")
BBOX_FORMATS = ("auto", "legacy", "new")
BBOX_TYPES = ("real", "norm1", "norm1000")


class GroundingModelNeededError(RecordError):
    """A record whose grounding boxes must be written as some model's text, and no model was given."""

    exit_code = 2

    def __init__(self, target: str):
        super().__init__(
            "bad_bbox",
            f"the record has grounding objects, which {target} rows cannot hold: pass --model (qwen-vl, qwen2-vl, "
            "qwen2.5-vl or qwen3-vl) to write them as that model's grounding text, or convert to swift, which keeps them",
        )


def convert_record(
    sample: Sample,
    to: str | Format,
    *,
    model: str | None = None,
    root: str | None = None,
    boxes: str = "auto",
    bbox_format: str = "auto",
    min_pixels: int | None = None,
    max_pixels: int | None = None,
) -> dict:
    """`sample` as a record of format `to`.

    boxes: "auto" keeps grounding objects where the target holds them and writes them as `model`'s
    text elsewhere; "keep" never rewrites them (RecordError for targets that cannot hold them);
    "model" always writes them as `model`'s text. root: the folder relative image paths are under
    (the image sizes are read from the headers). min_pixels/max_pixels: the limits Qwen2.5-VL's
    resize ran with (its boxes are in resized pixels; default the checkpoint's).
    Raises RecordError ("bad_bbox", "missing_media", "corrupt_media", "bad_roles", ...) for a record
    that cannot be converted.
    """
    fmt = get_format(to) if isinstance(to, str) else to
    if boxes not in BOXES:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"boxes must be one of {', '.join(BOXES)}; got {boxes!r}")
    if bbox_format not in BBOX_FORMATS:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"bbox_format must be one of {', '.join(BBOX_FORMATS)}; got {bbox_format!r}")
    if sample.objects is None:
        return fmt.write(sample)
    objects = check_objects(sample)
    rewrite = boxes == "model" or (boxes == "auto" and not fmt.holds_objects)
    if not rewrite:
        if not fmt.holds_objects:
            raise RecordError("bad_bbox", f"{fmt.name} rows cannot hold grounding objects; use --boxes model --model M")
        return fmt.write(_with_objects(sample, _kept(objects)))
    if model is None:
        raise GroundingModelNeededError(fmt.name)
    messages = write_groundings(sample, objects, model, root=root, bbox_format=bbox_format, min_pixels=min_pixels, max_pixels=max_pixels)
    return fmt.write(Sample(messages=messages, images=sample.images, videos=sample.videos, objects=None, extra=sample.extra))


def _with_objects(sample: Sample, objects: dict) -> Sample:
    return Sample(messages=sample.messages, images=sample.images, videos=sample.videos, objects=objects, extra=sample.extra)


def _kept(objects: dict) -> dict:
    """The objects as ms-swift reads them: norm1000 boxes become norm1 (ms-swift knows real and norm1)."""
    if objects["bbox_type"] != "norm1000":
        return objects["raw"]
    out = dict(objects["raw"])
    out["bbox"] = [[v / 1000 for v in box] for box in objects["bbox"]]
    out["bbox_type"] = "norm1"
    return out


def _placeholders(sample: Sample) -> tuple[int, int]:
    text = "".join(m.get("content") for m in sample.messages if isinstance(m.get("content"), str))
    return text.count(REF), text.count(BOX)


def check_objects(sample: Sample) -> dict:
    """The sample's grounding objects, checked: {"ref", "bbox", "bbox_type",
    "image_id" (one per box), "raw"}. RecordError("bad_bbox") names what is wrong."""
    raw = sample.objects
    if not isinstance(raw, dict):
        raise RecordError("bad_bbox", f"'objects' must be a dict with 'ref' and 'bbox', got {type(raw).__name__}")
    ref, bbox = raw.get("ref") or [], raw.get("bbox") or []
    if not isinstance(ref, list) or not all(isinstance(r, str) for r in ref):
        raise RecordError("bad_bbox", "objects 'ref' must be a list of strings (the texts of <ref-object>)")
    if not isinstance(bbox, list):
        raise RecordError("bad_bbox", "objects 'bbox' must be a list of boxes [x1, y1, x2, y2] or points [x, y]")
    bbox_type = raw.get("bbox_type") or "real"
    if bbox_type not in BBOX_TYPES:
        raise RecordError("bad_bbox", f"objects 'bbox_type' is {bbox_type!r}; use 'real' (pixels), 'norm1' (0-1) or 'norm1000' (0-1000)")
    boxes = []
    for i, box in enumerate(bbox):
        ok = isinstance(box, list) and len(box) in (2, 4)
        ok = ok and all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in box)
        if not ok:
            raise RecordError("bad_bbox", f"objects bbox {i} is {box!r}; a box is [x1, y1, x2, y2] and a point [x, y], in numbers")
        if len(box) == 4 and (box[2] < box[0] or box[3] < box[1]):
            raise RecordError("bad_bbox", f"objects bbox {i} {box} has x2 < x1 or y2 < y1; write it as [x1, y1, x2, y2] (top-left, bottom-right), not [x, y, w, h]")
        boxes.append(list(box))
    image_id = raw.get("image_id") or []
    if not isinstance(image_id, list) or not all(isinstance(j, int) and not isinstance(j, bool) for j in image_id):
        raise RecordError("bad_bbox", "objects 'image_id' must be a list of image indexes (0-based), one per box")
    if len(image_id) > len(boxes):
        raise RecordError("bad_bbox", f"objects has {len(image_id)} image_id values for {len(boxes)} boxes; give one per box")
    image_id = image_id + [0] * (len(boxes) - len(image_id))  # ms-swift's default: the first image
    for i, j in enumerate(image_id):
        if bbox_type == "real" and not 0 <= j < len(sample.images):
            raise RecordError("bad_bbox", f"objects bbox {i} is on image {j}, but the record has {len(sample.images)} image(s)")
    n_ref, n_box = _placeholders(sample)
    if n_ref > len(ref) or n_box > len(boxes):  # ms-swift would leave the extra placeholders as text
        raise RecordError(
            "bad_bbox",
            f"{n_ref} {REF} and {n_box} {BOX} placeholder(s) in the text for {len(ref)} ref(s) and {len(boxes)} bbox(es) "
            "in objects; give each placeholder its ref or box",
        )
    limit = {"norm1": 1, "norm1000": 1000}.get(bbox_type)
    for i, box in enumerate(boxes):
        if limit is not None and not all(0 <= v <= limit for v in box):
            raise RecordError("bad_bbox", f"objects bbox {i} {box} is outside [0, {limit}], the range of bbox_type {bbox_type!r}")
        if min(box) < 0:
            raise RecordError("bad_bbox", f"objects bbox {i} {box} has a negative coordinate")
    return {"ref": ref, "bbox": boxes, "bbox_type": bbox_type, "image_id": image_id, "raw": raw}


def _image_size(sample: Sample, index: int, root: str | None) -> tuple[int, int]:
    from ..vision.io import image_size
    from .measure import _media_path

    if not 0 <= index < len(sample.images):
        raise RecordError("bad_bbox", f"a box is on image {index}, but the record has {len(sample.images)} image(s)")
    path = resolve_media(_media_path(sample.images[index]), root)
    try:
        return image_size(path)
    except ImageNotFoundError as e:
        raise RecordError("missing_media", f"image {index + 1}: {e}") from None
    except MmtokError as e:
        raise RecordError("corrupt_media", f"image {index + 1}: {e}") from None


def model_coords(sample: Sample, objects: dict, model: str, *, root: str | None = None, min_pixels: int | None = None, max_pixels: int | None = None) -> list[tuple[int, ...]]:
    """Each box of the checked `objects` in `model`'s coordinates."""
    from ..sequence import grounding as g

    conv = g.convention(model)
    sizes: dict[int, tuple[int, int]] = {}
    out = []
    for i, (box, j) in enumerate(zip(objects["bbox"], objects["image_id"])):
        bbox_type = objects["bbox_type"]
        if bbox_type == "real" or not conv.relative:
            if j not in sizes:
                sizes[j] = _image_size(sample, j, root)
            size = sizes[j]
        if bbox_type == "real":
            h, w = size
            if any(v > (w if k % 2 == 0 else h) for k, v in enumerate(box)):
                raise RecordError("bad_bbox", f"objects bbox {i} {box} is outside image {j + 1} ({h} x {w} px, height x width)")
            out.append(g.to_model_coords(conv.name, box, size, min_pixels=min_pixels, max_pixels=max_pixels))
            continue
        unit = 1 if bbox_type == "norm1" else 1000
        frame = g.model_frame(conv.name, size if not conv.relative else (1, 1), min_pixels=min_pixels, max_pixels=max_pixels)
        high = (conv.high, conv.high) if conv.high is not None else (frame[0] - 1, frame[1] - 1)
        out.append(g.scale_to_frame(box, (unit, unit), frame, high=high, relative=conv.relative))
    return out


def _texts(model: str, bbox_format: str):
    """(ref -> text, coords -> text) for `model`."""
    from ..sequence import grounding as g

    conv = g.convention(model)
    style = conv.text
    if bbox_format == "legacy" and style == "json":
        style = "qwen2-vl-tags"
    elif bbox_format == "new":
        style = "json"
    if style == "json":
        return (lambda ref: ref), (lambda c: "[" + ", ".join(str(v) for v in c) + "]")
    ref_start, ref_end, box_start, box_end = g._TAGS[style]
    pairs = lambda c: ",".join(f"({x},{y})" for x, y in zip(c[::2], c[1::2]))  # noqa: E731  (ms-swift _get_bbox_str)
    return (lambda ref: ref_start + ref + ref_end), (lambda c: box_start + pairs(c) + box_end)


def write_groundings(sample: Sample, objects: dict, model: str, *, root: str | None = None, bbox_format: str = "auto", min_pixels: int | None = None, max_pixels: int | None = None) -> list[dict]:
    """The sample's messages with every <ref-object> / <bbox> replaced by `model`'s grounding text."""
    coords = model_coords(sample, objects, model, root=root, min_pixels=min_pixels, max_pixels=max_pixels)
    ref_text, box_text = _texts(model, bbox_format)
    refs, boxes = iter(objects["ref"]), iter(coords)
    out = []
    for message in sample.messages:
        content = message.get("content")
        if isinstance(content, str) and (REF in content or BOX in content):
            parts = [ref_text(next(refs)) if p == REF else box_text(next(boxes)) if p == BOX else p for p in _PLACEHOLDER.split(content)]
            message = {**message, "content": "".join(parts)}
        out.append(message)
    return out


__all__ = ["BOXES", "GroundingModelNeededError", "check_objects", "convert_record", "model_coords", "write_groundings"]
