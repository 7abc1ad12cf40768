"""Region tokens in the style of Groma (Ma et al. 2024, arXiv 2404.13013; FoundationVision/Groma
``groma/constants.py``, ``groma/model/roi_align.py``; research brief A8).

Groma does not give a region a codebook id. Boxes (from a region proposer, or the user) are numbered,
and each one gets an index token ``<r_i>`` (REGION_IDX_TOKENS ``<r0>``...``<r99>``) plus a ``<region>``
placeholder for its continuous feature (RoIAlign-pooled from the vision encoder). The prompt lists
``<roi> <r0><region> <r1><region> ... </roi>``. A model then refers to a region, or grounds an answer,
by writing ``<r_i>`` instead of coordinates; user boxes are matched to the proposals by IoU and
rewritten to ``<r_i>``.

Here:

* `RegionVocabulary`: the ``<r0>..<rN-1>``, ``<roi>``, ``</roi>``, ``<region>`` tokens added to a text
  tokenizer (mmtok.text.added_tokens); `prompt(boxes)` / `refer(text)` / `ground(text)`: boxes ->
  tokens -> boxes, exactly (the table of boxes is kept beside the ids, as Groma keeps its proposals).
* `crop_regions`: each box cropped from the image (integer pixel box: x1, y1 floored, x2, y2 ceiled,
  clipped to the image) and resized (bicubic) to the image tokenizer's size, so a discrete image
  tokenizer can give every region its own ids (`encode_regions`).
* `roi_align`: RoIAlign (He et al. 2017, Mask R-CNN) without torchvision: bilinear samples on a regular
  grid in each output bin, averaged (torchvision ``roi_align`` semantics with ``aligned=True``: pixel
  centres at +0.5, and ``sampling_ratio`` <= 0 meaning ceil(bin size) samples per bin side);
  `box_average`: the plain mean of the latent cells whose centres lie inside the box.
  `region_features`: one pooled latent vector per box from a tokenizer's encoder, optionally
  quantized to one code id per region.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np

from ..errors import GroundingError, InvalidOptionError

__all__ = [
    "RegionVocabulary", "check_boxes", "box_iou", "match_boxes", "crop_box", "crop_regions", "encode_regions",
    "roi_align", "box_average", "region_features",
]

WRAPPERS = {"begin": "<roi>", "end": "</roi>", "feature": "<region>"}  # Groma DEFAULT_TOKENS bor, eor, region


def check_boxes(boxes, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Boxes (N, 4) as x1, y1, x2, y2 pixels (float64); GroundingError for wrong arity, x2 <= x1, y2 <= y1,
    or (with image_size = (height, width)) a box outside the image."""
    try:
        array = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        raise GroundingError(f"boxes {boxes!r}: pass numbers as [[x1, y1, x2, y2], ...] in pixels") from None
    if array.ndim == 1 and array.size == 4:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 4 or not np.isfinite(array).all():
        raise GroundingError(f"boxes of shape {array.shape}: pass finite numbers as [[x1, y1, x2, y2], ...] in pixels")
    bad = np.nonzero((array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1]))[0]
    if bad.size:
        raise GroundingError(f"box {bad[0]} {array[bad[0]].tolist()} has x2 <= x1 or y2 <= y1; pass x1, y1, x2, y2 with x2 > x1 and y2 > y1")
    if image_size is not None:
        h, w = image_size
        out = np.nonzero((array[:, 0] < 0) | (array[:, 1] < 0) | (array[:, 2] > w) | (array[:, 3] > h))[0]
        if out.size:
            raise GroundingError(f"box {out[0]} {array[out[0]].tolist()} is outside the {w} x {h} (width x height) image; clip it first")
    return array


def box_iou(a, b) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x1, y1, x2, y2 boxes."""
    a, b = check_boxes(a), check_boxes(b)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def match_boxes(queries, proposals) -> list[int]:
    """For each query box, the index of the proposal with the highest IoU (Groma rewrites user boxes so)."""
    return [int(i) for i in box_iou(queries, proposals).argmax(1)]


class RegionVocabulary:
    """`<r0>..<r{n-1}>` index tokens + Groma's ``<roi>``, ``</roi>``, ``<region>`` added to a text
    tokenizer (name, path or object); `out` writes the extended tokenizer.json."""

    def __init__(self, tokenizer, n_regions: int = 100, *, template: str = "<r{}>", out: str | os.PathLike | None = None):
        from ..text import get_tokenizer
        from ..text.added_tokens import add_special_tokens, region_tokens

        if n_regions < 1:
            raise InvalidOptionError(f"n_regions {n_regions}: pass the largest number of regions per image (Groma: 100)")
        base = tokenizer if not isinstance(tokenizer, (str, os.PathLike)) else get_tokenizer(tokenizer)
        self.base, self.n_regions, self.template = base, int(n_regions), template
        self.tokens = region_tokens(self.n_regions, template)
        added = add_special_tokens(base, [*self.tokens, *WRAPPERS.values()], out=out)
        self.tokenizer, self.ids, self.path = added.tokenizer, added.ids, added.path
        self._index_by_id = {added.ids[t]: i for i, t in enumerate(self.tokens)}
        head, _, tail = template.partition("{}")
        self._pattern = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))

    def token(self, index: int) -> str:
        if not 0 <= index < self.n_regions:
            raise GroundingError(f"region index {index}: this vocabulary has region tokens <r0>..<r{self.n_regions - 1}>")
        return self.tokens[index]

    def prompt(self, boxes) -> str:
        """The Groma region list for these boxes: ``<roi><r0><region><r1><region>...</roi>``."""
        n = len(check_boxes(boxes))
        if n > self.n_regions:
            raise GroundingError(f"{n} boxes but only {self.n_regions} region tokens; keep the top {self.n_regions} boxes or build a larger vocabulary")
        body = "".join(self.token(i) + WRAPPERS["feature"] for i in range(n))
        return WRAPPERS["begin"] + body + WRAPPERS["end"]

    def encode(self, text: str) -> list[int]:
        """Text with region and wrapper tokens spelled out -> ids (those spellings become the special tokens)."""
        return self.tokenizer.encode(text, allowed_special=set(self.ids))

    def indices(self, text_or_ids) -> list[int]:
        """The region indices referred to, in order, in a text or an id sequence."""
        if isinstance(text_or_ids, str):
            found = [int(m.group(1)) for m in self._pattern.finditer(text_or_ids)]
            for i in found:
                self.token(i)
            return found
        return [self._index_by_id[int(t)] for t in text_or_ids if int(t) in self._index_by_id]

    def refer(self, text_or_ids, boxes) -> np.ndarray:
        """The boxes (K, 4) that the region tokens in a text or id sequence refer to: tokens -> boxes."""
        boxes = check_boxes(boxes)
        idx = self.indices(text_or_ids)
        if idx and max(idx) >= len(boxes):
            raise GroundingError(f"the text refers to {self.token(max(idx))} but only {len(boxes)} boxes were given")
        return boxes[idx] if idx else np.zeros((0, 4))

    def tag(self, query_boxes, boxes) -> list[str]:
        """User boxes -> the region token of the best-matching (IoU) box: boxes -> tokens."""
        return [self.token(i) for i in match_boxes(query_boxes, boxes)]

    def ground(self, text: str, boxes, fmt: str = "[{:g}, {:g}, {:g}, {:g}]") -> str:
        """Replace every ``<r_i>`` in `text` by box i's coordinates (fmt), e.g. for display."""
        boxes = check_boxes(boxes)

        def one(m):
            i = int(m.group(1))
            if i >= len(boxes):
                raise GroundingError(f"the text refers to {m.group(0)} but only {len(boxes)} boxes were given")
            return fmt.format(*boxes[i].tolist())

        return self._pattern.sub(one, text)

    def expand(self, text: str) -> str:
        """Replace every ``<r_i>`` by ``<r_i><region>``, so each reference carries its feature slot."""
        return self._pattern.sub(lambda m: m.group(0) + WRAPPERS["feature"], text)


def _pixel_box(box, h: int, w: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    x1, y1 = max(0, math.floor(x1)), max(0, math.floor(y1))
    x2, y2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
    if x2 <= x1 or y2 <= y1:
        raise GroundingError(f"box {list(box)} has no pixels inside the {w} x {h} image")
    return x1, y1, x2, y2


def crop_box(image: np.ndarray, box, size: int) -> np.ndarray:
    """One box of a uint8 (H, W, 3) image, cropped (integer pixel box, see module docstring) and resized
    (bicubic) to size x size."""
    from PIL import Image

    image = np.asarray(image)
    pil = Image.fromarray(image)
    crop = pil.crop(_pixel_box(box, image.shape[0], image.shape[1]))
    return np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC))


def crop_regions(image: np.ndarray, boxes, size: int) -> np.ndarray:
    """uint8 (N, size, size, 3): every box cropped and resized."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InvalidOptionError(f"image of shape {image.shape} and dtype {image.dtype}: pass a uint8 RGB array (H, W, 3)")
    boxes = check_boxes(boxes)
    return np.stack([crop_box(image, b, size) for b in boxes])


def encode_regions(image: np.ndarray, boxes, ckpt):
    """Each box's crop tokenized by a discrete image tokenizer: long ids (N, *token_shape)."""
    from . import require_torch
    from .data import to_tensor
    from .sequence import _model

    torch = require_torch()
    model = _model(ckpt)
    with torch.no_grad():
        return model.encode(to_tensor(crop_regions(image, boxes, model.size)))


def _as_map(features):
    from . import require_torch

    torch = require_torch()
    f = torch.as_tensor(features)
    if f.ndim != 3 or not f.is_floating_point():
        raise InvalidOptionError(f"feature map of shape {tuple(f.shape)}: pass one float map (C, H, W)")
    return f


def _bilinear(f, y, x):
    """torchvision's bilinear_interpolate: samples of f (C, H, W) at (y, x) (same shape); 0 outside."""
    from . import require_torch

    torch = require_torch()
    _, h, w = f.shape
    outside = (y < -1) | (y > h) | (x < -1) | (x > w)
    y, x = y.clamp(min=0), x.clamp(min=0)
    y0, x0 = y.floor().long().clamp(max=h - 1), x.floor().long().clamp(max=w - 1)
    y = torch.where(y0 >= h - 1, y0.to(y.dtype), y)
    x = torch.where(x0 >= w - 1, x0.to(x.dtype), x)
    y1, x1 = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    v = hy * hx * f[:, y0, x0] + hy * lx * f[:, y0, x1] + ly * hx * f[:, y1, x0] + ly * lx * f[:, y1, x1]
    return torch.where(outside, torch.zeros_like(v), v)


def roi_align(features, boxes, output_size: int | tuple[int, int] = 1, spatial_scale: float = 1.0, sampling_ratio: int = -1):
    """RoIAlign of one feature map (C, H, W) over boxes (N, 4, input pixels) -> (N, C, oh, ow).

    Box coordinates are multiplied by `spatial_scale` (feature cells per input pixel) and shifted by
    -0.5 (aligned=True). Each output bin averages sr_h x sr_w bilinear samples at the centres of a
    regular sub-grid, sr = sampling_ratio if > 0 else ceil(bin size)."""
    from . import require_torch

    torch = require_torch()
    f = _as_map(features)
    boxes = check_boxes(boxes)
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    out = []
    for x1, y1, x2, y2 in boxes * spatial_scale - 0.5:
        bin_h, bin_w = (y2 - y1) / oh, (x2 - x1) / ow
        sh = sampling_ratio if sampling_ratio > 0 else max(1, math.ceil(bin_h))
        sw = sampling_ratio if sampling_ratio > 0 else max(1, math.ceil(bin_w))
        ys = y1 + (torch.arange(oh, dtype=f.dtype)[:, None] + (torch.arange(sh, dtype=f.dtype)[None] + 0.5) / sh) * bin_h
        xs = x1 + (torch.arange(ow, dtype=f.dtype)[:, None] + (torch.arange(sw, dtype=f.dtype)[None] + 0.5) / sw) * bin_w
        yy = ys.reshape(oh, 1, sh, 1).expand(oh, ow, sh, sw)
        xx = xs.reshape(1, ow, 1, sw).expand(oh, ow, sh, sw)
        out.append(_bilinear(f, yy, xx).mean(dim=(-2, -1)))
    return torch.stack(out) if out else f.new_zeros((0, f.shape[0], oh, ow))


def box_average(features, boxes, spatial_scale: float = 1.0):
    """The mean feature (N, C) over the cells of a (C, H, W) map whose centres lie inside each box
    (box in input pixels, times spatial_scale); the nearest cell if none does."""
    from . import require_torch

    torch = require_torch()
    f = _as_map(features)
    _, h, w = f.shape
    cy, cx = torch.arange(h, dtype=torch.float64) + 0.5, torch.arange(w, dtype=torch.float64) + 0.5
    out = []
    for x1, y1, x2, y2 in check_boxes(boxes) * spatial_scale:
        rows = ((cy >= y1) & (cy <= y2)).nonzero().flatten()
        cols = ((cx >= x1) & (cx <= x2)).nonzero().flatten()
        if rows.numel() == 0:
            rows = torch.tensor([min(h - 1, max(0, int((y1 + y2) / 2)))])
        if cols.numel() == 0:
            cols = torch.tensor([min(w - 1, max(0, int((x1 + x2) / 2)))])
        out.append(f[:, rows][:, :, cols].mean(dim=(1, 2)))
    return torch.stack(out)


def region_features(image: np.ndarray, boxes, ckpt, *, pool: str = "roi_align", output_size: int = 1, quantize: bool = False):
    """Per-box latent features from a tokenizer's encoder over the whole image (resized to its size).

    The image is resized (bicubic, no crop) to size x size, the boxes scaled with it; the encoder's
    latent grid is pooled per box (`pool`: "roi_align" or "average") -> float (N, dim * output_size^2).
    With `quantize`, output_size must be 1 and the result is one code id per box (N,), the region's
    discrete token (a residual quantizer: (N, stages))."""
    from PIL import Image

    from . import require_torch
    from .data import to_tensor
    from .sequence import _model

    torch = require_torch()
    model = _model(ckpt)
    if len(model.token_shape) != 2:
        raise InvalidOptionError(f"region features need a 2-D latent grid; the {model.arch} tokenizer makes a 1-D sequence (use crop_regions/encode_regions)")
    image = np.asarray(image)
    h, w = image.shape[:2]
    boxes = check_boxes(boxes, (h, w)) * np.array([model.size / w, model.size / h] * 2)
    resized = np.asarray(Image.fromarray(image).resize((model.size, model.size), Image.Resampling.BICUBIC))
    with torch.no_grad():
        latents = model.encode_latents(model.check_images(to_tensor(resized[None])))[0].permute(2, 0, 1)
        scale = model.token_shape[0] / model.size
        if pool == "roi_align":
            pooled = roi_align(latents, boxes, output_size, spatial_scale=scale).flatten(1)
        elif pool == "average":
            pooled = box_average(latents, boxes, spatial_scale=scale)
        else:
            raise InvalidOptionError(f"pool {pool!r}: pass 'roi_align' or 'average'")
        if not quantize:
            return pooled
        if pooled.shape[1] != model.quantizer.dim:
            raise InvalidOptionError("quantize=True needs output_size=1 (one latent vector per region)")
        return model.quantizer.encode(pooled)
