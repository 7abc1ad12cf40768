"""Grounding boxes and points in the Qwen family's conventions: convert, write and read them.

Boxes are (x1, y1, x2, y2), points (x, y); sizes are (height, width). "Original pixels" are pixels of
the image as the processor sees it (after EXIF orientation). Each model writes coordinates in a frame:

| model      | text                                                        | frame                            |
|------------|-------------------------------------------------------------|----------------------------------|
| qwen-vl    | ``<ref>dog</ref><box>(x1,y1),(x2,y2)</box>``                | relative, integers in [0, 1000)  |
| qwen2-vl   | ``<|object_ref_start|>dog<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`` | relative [0, 1000] |
| qwen2.5-vl | JSON ``{"bbox_2d": [x1, y1, x2, y2], "label": "dog"}``, ``point_2d`` | absolute pixels of the RESIZED image |
| qwen3-vl   | the same JSON                                               | relative [0, 1000]               |

Conversions, each as the official source writes it (Python's round() is banker's rounding, and the
order of the float operations is kept, so ties round exactly as there):

* to a relative frame: ``round(x / w * 1000)`` clamped to [0, 1000]: QwenLM/Qwen2.5-VL
  ``qwen-vl-finetune/tools/process_bbox.ipynb``, ``convert_to_qwen2vl_format`` (its published example:
  [146, 137, 615, 415] on 428 x 640 -> [228, 320, 961, 970]). Qwen3-VL uses the same: its maintainers
  point to that section (QwenLM/Qwen3-VL#1486, #1633). Qwen-VL (v1) has no published encoder; its
  README says "normalized values in the range [0, 1000)", so the same rounding is clamped to 999.
* to Qwen2.5-VL: ``round(x * (new_w / w))`` clamped to [0, new_w - 1], where (new_h, new_w) is the
  smart-resized size for the limits used at inference: ``convert_to_qwen25vl_format`` in the same
  notebook ([146, 137, 615, 415] on 428 x 640 -> resized 420 x 644 -> [147, 134, 619, 407]).
* back to original pixels: ``x / frame * size``, exactly (floats). The official drawing code truncates
  that with int(): Qwen-VL's tokenizer ``draw_bbox_on_latest_picture`` (``int(x / 1000 * w)``), the
  Qwen2.5-VL cookbook ``spatial_understanding.ipynb`` (``int(x / input_width * width)``, input_width =
  image_grid_thw[2] * 14) and the Qwen3-VL cookbook ``2d_grounding.ipynb`` (``int(x / 1000 * width)``);
  pass ``rounding="int"`` to get those integers, ``rounding="round"`` for the nearest pixel.

Model -> original -> model is the identity for every integer model coordinate up to the clamp
(0..999 for qwen-vl, 0..1000 for qwen2-vl / qwen3-vl, 0..new-1 for qwen2.5-vl); original -> model ->
original is within half a frame step (size / frame) of the input, or one and a half steps on the
right/bottom edge where a coordinate is clamped.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmptyImageError, GroundingError, GroundingParseError
from ..registry import Registry

__all__ = [
    "Convention", "Grounding", "convention", "model_frame", "scale_to_frame", "scale_from_frame",
    "to_model_coords", "from_model_coords", "format_groundings", "parse_groundings", "to_model", "from_model",
]


@dataclass(frozen=True)
class Convention:
    """How one model writes coordinates."""

    name: str
    text: str  # "qwen-vl-tags", "qwen2-vl-tags" or "json"
    relative: bool  # True: [0, scale] of the original image; False: pixels of the resized image
    scale: int = 1000
    high: int | None = 1000  # largest value written (clamp); None: resized side - 1
    points: bool = False  # whether the text format has points


CONVENTIONS: Registry[Convention] = Registry("grounding model")
for _c, _aliases in (
    (Convention("qwen-vl", "qwen-vl-tags", True, high=999), ("qwen_vl", "qwen-vl-chat", "Qwen/Qwen-VL", "Qwen/Qwen-VL-Chat")),
    (Convention("qwen2-vl", "qwen2-vl-tags", True), ()),
    (Convention("qwen2.5-vl", "json", False, high=None, points=True), ()),
    (Convention("qwen3-vl", "json", True, points=True), ()),
):
    CONVENTIONS.register(_c.name, aliases=_aliases)(lambda c=_c: c)


def convention(model: str) -> Convention:
    """The convention of `model`: a name above, or any name or alias of a registered model family."""
    if model not in CONVENTIONS:
        from ..vision.families import FAMILIES

        if model in FAMILIES and FAMILIES.canonical(model) in CONVENTIONS:
            model = FAMILIES.canonical(model)
    return CONVENTIONS.get(model)


@dataclass(frozen=True)
class Grounding:
    """One box and/or point with its label; `attrs` keeps the other keys of a JSON object."""

    label: str | None = None
    box: tuple | None = None  # (x1, y1, x2, y2)
    point: tuple | None = None  # (x, y)
    attrs: dict = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"label": self.label}
        if self.box is not None:
            out["box"] = list(self.box)
        if self.point is not None:
            out["point"] = list(self.point)
        if self.attrs:
            out["attrs"] = dict(self.attrs)
        return out


# --- numbers ----------------------------------------------------------------------------------------


def _size(image_size: Any) -> tuple[int, int]:
    from ..vision.io import describe, image_size as read_size

    size = read_size(image_size)
    if size[0] <= 0 or size[1] <= 0:
        raise EmptyImageError(describe(image_size), size)
    return size


def model_frame(model: str, image_size: Any, *, min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[int, int]:
    """(height, width) of the frame `model` writes coordinates in for an image of `image_size`.

    (1000, 1000) for the relative conventions; the smart-resized size for qwen2.5-vl, from
    `mmtok.plan_image("qwen2.5-vl", ...)` with `min_pixels`/`max_pixels` (default: the checkpoint's,
    3,136 and 12,845,056; use the limits the model ran with). `image_size` is (height, width) or any
    image input `mmtok.plan_image` takes (a path is read for its header only).
    """
    conv = convention(model)
    if conv.relative:
        return conv.scale, conv.scale
    from ..vision.families import get_family

    return get_family(conv.name, min_pixels=min_pixels, max_pixels=max_pixels).plan_size(_size(image_size)).resized


def _high(conv: Convention, frame: tuple[int, int]) -> tuple[int, int]:
    return (conv.high, conv.high) if conv.high is not None else (frame[0] - 1, frame[1] - 1)


def scale_to_frame(coords, size: tuple[int, int], frame: tuple[int, int], *, high: tuple[int, int], relative: bool = True) -> tuple[int, ...]:
    """Original-pixel coordinates (x, y, x, y, ...) -> integers in `frame`, clamped to [0, high].

    relative=True computes round(v / size * frame) (convert_to_qwen2vl_format); False computes
    round(v * (frame / size)) (convert_to_qwen25vl_format). The two orders round ties differently.
    """
    out = []
    for i, v in enumerate(coords):
        axis = 1 - i % 2  # x is width (axis 1), y is height (axis 0)
        scaled = v / size[axis] * frame[axis] if relative else v * (frame[axis] / size[axis])
        out.append(max(0, min(round(scaled), high[axis])))
    return tuple(out)


def scale_from_frame(coords, frame: tuple[int, int], size: tuple[int, int], *, rounding: str | None = None) -> tuple:
    """Model coordinates (x, y, x, y, ...) in `frame` -> original pixels, v / frame * size.

    rounding: None (exact floats), "int" (int(), as the official drawing code) or "round".
    """
    if rounding not in (None, "int", "round"):
        raise GroundingError(f"rounding must be None, 'int' or 'round'; got {rounding!r}")
    out = []
    for i, v in enumerate(coords):
        axis = 1 - i % 2
        px = v / frame[axis] * size[axis]
        out.append(px if rounding is None else int(px) if rounding == "int" else round(px))
    return tuple(out)


def to_model_coords(model: str, coords, image_size: Any, *, min_pixels: int | None = None, max_pixels: int | None = None) -> tuple[int, ...]:
    """One box or point in original pixels -> the integers `model` writes."""
    conv, size = convention(model), _size(image_size)
    frame = model_frame(conv.name, size, min_pixels=min_pixels, max_pixels=max_pixels)
    return scale_to_frame(_numbers(coords, "coordinates"), size, frame, high=_high(conv, frame), relative=conv.relative)


def from_model_coords(model: str, coords, image_size: Any, *, min_pixels: int | None = None, max_pixels: int | None = None, rounding: str | None = None) -> tuple:
    """One box or point as `model` wrote it -> original pixels (floats unless `rounding`)."""
    size = _size(image_size)
    frame = model_frame(model, size, min_pixels=min_pixels, max_pixels=max_pixels)
    return scale_from_frame(_numbers(coords, "coordinates"), frame, size, rounding=rounding)


def _numbers(values, what: str, arity: tuple[int, ...] = (2, 4)) -> tuple:
    try:
        values = tuple(values)
    except TypeError:
        raise GroundingError(f"{what} {values!r}: expected a box (x1, y1, x2, y2) or a point (x, y)") from None
    ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    if not ok or len(values) not in arity:
        need = " or ".join(str(n) for n in arity)
        raise GroundingError(f"{what} {list(values)!r}: expected {need} finite numbers (a box is x1, y1, x2, y2; a point x, y)")
    return values


def _items(boxes_or_points, labels) -> list[Grounding]:
    """Groundings from Grounding objects, boxes (4 numbers), points (2 numbers), or a single one."""
    if isinstance(boxes_or_points, Grounding):
        boxes_or_points = [boxes_or_points]
    items = list(boxes_or_points)
    if items and isinstance(items[0], numbers.Real):
        items = [items]  # one box or point given flat
    out = []
    for item in items:
        if isinstance(item, Grounding):
            out.append(item)
            continue
        values = _numbers(item, "box or point")
        out.append(Grounding(box=values) if len(values) == 4 else Grounding(point=values))
    if labels is not None:
        labels = [labels] * len(out) if isinstance(labels, str) else list(labels)
        if len(labels) != len(out):
            raise GroundingError(f"{len(labels)} labels for {len(out)} boxes/points; give one label per item, or one for all")
        out = [Grounding(lab, g.box, g.point, g.attrs) for g, lab in zip(out, labels)]
    return out


# --- text ---------------------------------------------------------------------------------------

_TAGS = {  # format -> (ref start, ref end, box start, box end)
    "qwen-vl-tags": ("<ref>", "</ref>", "<box>", "</box>"),
    "qwen2-vl-tags": ("<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>"),
}
_BOX_BODY = re.compile(r"\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*,\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*")
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)```", re.S | re.I)
_JSON_HINT = ("JSON grounding (bbox_2d / point_2d) is Qwen2.5-VL's (absolute pixels of the resized image) or "
              "Qwen3-VL's (relative 0-1000); pass model='qwen2.5-vl' or 'qwen3-vl'")


def format_groundings(model: str, items: list[Grounding], *, fence: bool = True) -> str:
    """Write groundings that are already in `model`'s coordinates in its text format.

    Tags: a label is written once before a run of boxes that share it (Qwen-VL's from_list_format), so
    an unlabelled box right after a labelled run reads back with that label: put unlabelled boxes first.
    JSON: the layout Qwen2.5-VL prints in its cookbook, a tab-indented list in a ```json fence.
    """
    conv = convention(model)
    if conv.text == "json":
        rows = []
        for g in items:
            obj: dict[str, Any] = {}
            if g.box is not None:
                obj["bbox_2d"] = list(g.box)
            if g.point is not None:
                obj["point_2d"] = list(g.point)
            if g.label is not None:
                obj["label"] = g.label
            rows.append("\t" + json.dumps({**obj, **g.attrs}, ensure_ascii=False))
        body = "[\n" + ",\n".join(rows) + ("\n]" if rows else "]")
        return f"```json\n{body}\n```" if fence else body
    ref_start, ref_end, box_start, box_end = _TAGS[conv.text]
    text, previous = "", object()
    for g in items:
        if g.box is None:
            raise GroundingError(f"{conv.name} writes boxes only, not points; give boxes (x1, y1, x2, y2)")
        if g.label is not None and g.label != previous:
            text += ref_start + g.label + ref_end
        previous = g.label
        text += box_start + "(%d,%d),(%d,%d)" % tuple(g.box) + box_end
    return text


def parse_groundings(model: str, text: str) -> list[Grounding]:
    """The boxes and points in `model`'s output, in the model's own coordinates."""
    conv = convention(model)
    if conv.text == "json":
        out = _parse_json(conv.name, text)
    else:
        out = _parse_tags(conv, text)
    if conv.relative:
        for g in out:
            for v in (g.box or ()) + (g.point or ()):
                if not 0 <= v <= conv.scale:
                    raise GroundingParseError(
                        conv.name, text, f"coordinate {v} is outside the model's relative range [0, {conv.scale}]",
                        "absolute pixels of the resized image are Qwen2.5-VL's convention (model='qwen2.5-vl')",
                    )
    return out


def _parse_tags(conv: Convention, text: str) -> list[Grounding]:
    ref_start, ref_end, box_start, box_end = _TAGS[conv.text]
    other = "qwen-vl-tags" if conv.text == "qwen2-vl-tags" else "qwen2-vl-tags"
    if _TAGS[other][2] in text:
        name = other.removesuffix("-tags")
        raise GroundingParseError(conv.name, text, f"has {_TAGS[other][2]} tags, which {name} writes", f"pass model={name!r}")
    token = re.compile(f"{re.escape(ref_start)}(.*?){re.escape(ref_end)}|{re.escape(box_start)}(.*?){re.escape(box_end)}", re.S)
    out: list[Grounding] = []
    label, last_end, found = None, 0, 0
    for m in token.finditer(text):
        if m.group(1) is not None:
            label, last_end = m.group(1).strip(), m.end()
            continue
        found += 1
        body = _BOX_BODY.fullmatch(m.group(2))
        if body is None:
            raise GroundingParseError(conv.name, m.group(0), "a box must read (x1,y1),(x2,y2) with integers")
        if text[last_end:m.start()].strip():  # text between the label and this box: the label is over
            label = None
        out.append(Grounding(label, tuple(int(v) for v in body.groups())))
        last_end = m.end()
    if text.count(box_start) != found or text.count(box_end) != found:
        raise GroundingParseError(conv.name, text, f"has an unclosed or stray {box_start} / {box_end} tag")
    if not found:
        if '"bbox_2d"' in text or '"point_2d"' in text:
            raise GroundingParseError(conv.name, text, "has no box tags but JSON grounding", _JSON_HINT)
        # decoded with skip_special_tokens=True the tags are gone; the bare pairs remain (Qwen-VL's
        # eval_mm/evaluate_grounding.py reads them the same way, with r'\((.*?)\),\((.*?)\)')
        out = [Grounding(None, tuple(int(v) for v in m.groups())) for m in _BOX_BODY.finditer(text)]
    return out


def _parse_json(model: str, text: str) -> list[Grounding]:
    for name, tags in _TAGS.items():
        if tags[2] in text:
            raise GroundingParseError(model, text, f"has {tags[2]} box tags, not JSON", f"pass model={name.removesuffix('-tags')!r}")
    fenced = _FENCE.findall(text)
    values = []
    if fenced:
        for block in fenced:
            values += _json_values(model, block, whole=True)
    else:
        start = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
        if start < 0:
            raise GroundingParseError(model, text, "has no JSON list or object of boxes/points")
        values = _json_values(model, text[start:], whole=False)
    out = []
    for value in values:
        for obj in value if isinstance(value, list) else [value]:
            out.append(_json_item(model, obj))
    return out


def _json_values(model: str, chunk: str, *, whole: bool) -> list:
    """JSON values in `chunk`, separated by whitespace or commas (models also write one per line)."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(chunk) and (chunk[i].isspace() or chunk[i] == ","):
            i += 1
        if i == len(chunk) or (values and not whole and chunk[i] not in "[{"):
            return values
        try:
            value, i = decoder.raw_decode(chunk, i)
        except json.JSONDecodeError as e:
            if e.pos >= len(chunk.rstrip()) or e.msg.startswith("Unterminated string"):
                raise GroundingParseError(model, chunk, "ends inside a JSON value", "the output looks truncated; raise max_new_tokens") from None
            raise GroundingParseError(model, chunk[e.pos:e.pos + 60], f"is not valid JSON ({e.msg})") from None
        values.append(value)


def _json_item(model: str, obj) -> Grounding:
    if not isinstance(obj, dict):
        raise GroundingParseError(model, json.dumps(obj), "expected an object with bbox_2d or point_2d")
    if "bbox_2d" not in obj and "point_2d" not in obj:
        raise GroundingParseError(model, json.dumps(obj, ensure_ascii=False), "has neither bbox_2d nor point_2d")
    coords = {}
    for key, n in (("bbox_2d", 4), ("point_2d", 2)):
        if key in obj:
            try:
                coords[key] = _numbers(obj[key], key, (n,))
            except GroundingError:
                raise GroundingParseError(model, json.dumps(obj, ensure_ascii=False), f"{key} must be {n} numbers") from None
    label = obj.get("label")
    attrs = {k: v for k, v in obj.items() if k not in ("bbox_2d", "point_2d", "label")}
    return Grounding(None if label is None else str(label), coords.get("bbox_2d"), coords.get("point_2d"), attrs)


# --- both together --------------------------------------------------------------------------------


def to_model(model: str, boxes_or_points, image_size: Any, *, min_pixels: int | None = None, max_pixels: int | None = None, labels=None, fence: bool = True) -> str:
    """Boxes/points in original pixels -> the text `model` would write for them (a training target).

    `boxes_or_points`: boxes (x1, y1, x2, y2), points (x, y) or Grounding objects; `labels`: one per
    item, or one string for all. min_pixels/max_pixels matter for qwen2.5-vl only (see model_frame).
    """
    conv, size = convention(model), _size(image_size)
    frame = model_frame(conv.name, size, min_pixels=min_pixels, max_pixels=max_pixels)
    high = _high(conv, frame)
    items = []
    for g in _items(boxes_or_points, labels):
        if g.point is not None and not conv.points:
            raise GroundingError(f"{conv.name} has no point format; give boxes (x1, y1, x2, y2)")
        scale = [None if c is None else scale_to_frame(c, size, frame, high=high, relative=conv.relative) for c in (g.box, g.point)]
        items.append(Grounding(g.label, scale[0], scale[1], g.attrs))
    return format_groundings(conv.name, items, fence=fence)


def from_model(model: str, text: str, image_size: Any, *, min_pixels: int | None = None, max_pixels: int | None = None, rounding: str | None = None) -> list[Grounding]:
    """The boxes and points in `model`'s output text, in original-image pixels.

    Reads tags (also bare "(x1,y1),(x2,y2)" pairs left by skip_special_tokens=True) or JSON (also
    inside ```json fences, one object or a list, or several objects one per line). Raises
    GroundingParseError naming the offending text for malformed output, for another model's format, and
    for relative coordinates outside [0, 1000].
    """
    size = _size(image_size)
    frame = model_frame(model, size, min_pixels=min_pixels, max_pixels=max_pixels)
    out = []
    for g in parse_groundings(model, text):
        box, point = (None if c is None else scale_from_frame(c, frame, size, rounding=rounding) for c in (g.box, g.point))
        out.append(Grounding(g.label, box, point, g.attrs))
    return out
