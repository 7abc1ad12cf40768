"""Pixtral (and Mistral-Small-3.1): native resolution in 16 px units, [IMG] rows ended by [IMG_BREAK].

Reference: transformers 5.23 `models/pixtral/` (`PixtralImageProcessorPil`, `PixtralProcessor`) with
the checkpoints' preprocessor_config.json / processor_config.json (mistral-community/pixtral-12b:
patch 16, longest_edge 1024; mistralai/Mistral-Small-3.1-24B-Instruct-2503: patch 14, spatial merge 2,
longest_edge 1540), and mistral-common's `ImageEncoder._image_to_num_tokens`
(mistralai/mistral-common src/mistral_common/tokens/tokenizers/image.py @ 05a47dc4).

* Plan. With unit u = patch_size * spatial_merge_size (16, or 28 for Mistral-Small-3.1): an image whose
  longest side exceeds `longest_edge` is scaled down by ratio = max(H, W) / longest_edge, each side
  floored (transformers, `downscale="floor"`, the default) or rounded with Python's banker's round
  (mistral-common, `downscale="round"`; 2 % of large images differ by one row or column of tokens);
  never scaled up. Then each side is ceiled to a multiple of u: an h x w grid of tokens, the image
  resized to exactly (u*h, u*w). A side that the downscale takes to 0 (aspect ratio beyond
  longest_edge, or twice it when rounding) makes the reference fail; mmtok raises AspectRatioError.
* Pixels (transformers). RGB, Pillow bicubic to (u*h, u*w), x/255, CLIP mean/std; pixel_values
  (N, 3, Hmax, Wmax) float32, each image zero-padded at the bottom/right to the largest in the
  call; image_sizes (N, 2) int64. mistral-common resizes with OpenCV (cv2.INTER_CUBIC on float32)
  instead; its pixels are not reproduced, with either `downscale`.
* Sequence. Each [IMG] in the prompt becomes h rows of [IMG] x w, each followed by [IMG_BREAK],
  the last one replaced by [IMG_END]. tokens = h*w (the positions that receive vision features);
  total_tokens = h*(w + 1) (the breaks and the end are special tokens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import AspectRatioError, EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

IMG, IMG_BREAK, IMG_END = "[IMG]", "[IMG_BREAK]", "[IMG_END]"
DOWNSCALE = ("floor", "round")


@dataclass(frozen=True)
class PixtralSpec:
    """One checkpoint's settings."""

    patch_size: int
    spatial_merge_size: int
    longest_edge: int

    @property
    def unit(self) -> int:
        """Pixels per token side (PixtralProcessor passes patch_size * spatial_merge_size as the image
        processor's patch_size)."""
        return self.patch_size * self.spatial_merge_size


class PixtralFamily(VisionFamily):
    spec: PixtralSpec
    tokenizer_name = None
    bos_token = "<s>"  # the checkpoints' tokenizers prepend it
    special_tokens = (IMG, IMG_BREAK, IMG_END)
    modality_tokens = {"image": IMG}

    def __init__(
        self,
        *,
        longest_edge: int | None = None,
        downscale: str = "floor",
        rgb: str = "reference",
        exif_transpose: bool | None = None,
        **unsupported,
    ):
        """longest_edge: the image processor's size["longest_edge"]; downscale: "floor" (transformers)
        or "round" (mistral-common) for the sides of a downscaled image."""
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise InvalidOptionError(f"{self.name} takes no {', '.join(given)}; its options are longest_edge and downscale")
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        self.longest_edge = self.spec.longest_edge if longest_edge is None else longest_edge
        if not isinstance(self.longest_edge, int) or isinstance(self.longest_edge, bool) or self.longest_edge <= 0:
            raise InvalidOptionError(f"longest_edge must be a positive number of pixels; got {longest_edge!r}")
        if downscale not in DOWNSCALE:
            raise InvalidOptionError(
                f"downscale must be 'floor' (transformers) or 'round' (mistral-common); got {downscale!r}"
            )
        self.downscale = downscale

    @property
    def limits(self) -> dict:
        return {"longest_edge": self.longest_edge, "unit": self.spec.unit, "downscale": self.downscale}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        ratio = max(height / self.longest_edge, width / self.longest_edge)
        h, w = height, width
        if ratio > 1:
            # transformers floors ("to ensure the image is always smaller"); mistral-common uses round()
            cut = math.floor if self.downscale == "floor" else round
            h, w = int(cut(height / ratio)), int(cut(width / ratio))
        if h <= 0 or w <= 0:
            limit = self.longest_edge if self.downscale == "floor" else 2 * self.longest_edge
            raise AspectRatioError(source or "image", (height, width), limit)
        unit = self.spec.unit
        rows, cols = (h - 1) // unit + 1, (w - 1) // unit + 1
        tokens = rows * cols
        return ImagePlan(
            self.name, (height, width), (rows * unit, cols * unit), None, tokens, self.limits, source,
            total_tokens=tokens + rows, details={"rows": rows, "cols": cols},
        )

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(3, u*h, u*w) float32."""
        resized = pixels.resize_bicubic(rgb_image, plan.resized)
        lut = pixels.normalize_lut(OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, 1 / 255)
        return pixels.normalized_planes(np.asarray(resized), lut)

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        plans, planes = self.planned_features(images)
        sizes = np.array([p.resized for p in plans], dtype=np.int64).reshape(-1, 2)
        height, width = sizes.max(axis=0) if len(plans) else (0, 0)
        # _pad_for_batching: zeros (after normalisation) at the bottom and right
        values = np.zeros((len(planes), 3, height, width), dtype=np.float32)
        for i, plane in enumerate(planes):
            values[i, :, : plane.shape[1], : plane.shape[2]] = plane
        return {"pixel_values": values, "image_sizes": sizes}, plans

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (Pixtral has no video input)")
        rows, cols = plan.details["rows"], plan.details["cols"]
        row = [Special(IMG, cols), Special(IMG_BREAK)]
        return row * (rows - 1) + [Special(IMG, cols), Special(IMG_END)]


@FAMILIES.register("pixtral", aliases=("pixtral-12b", "mistral-community/pixtral-12b", "mistralai/Pixtral-12B-2409"))
class Pixtral(PixtralFamily):
    name = "pixtral"
    tokenizer_description = "the Tekken tokenizer.json of mistral-community/pixtral-12b"
    reference = "transformers 5.23 PixtralProcessor + PixtralImageProcessorPil, mistral-community/pixtral-12b settings"
    spec = PixtralSpec(patch_size=16, spatial_merge_size=1, longest_edge=1024)


@FAMILIES.register(
    "mistral-small-3.1",
    aliases=("mistral3", "mistralai/Mistral-Small-3.1-24B-Instruct-2503", "mistralai/Mistral-Small-3.1-24B-Base-2503"),
)
class MistralSmall31(PixtralFamily):
    name = "mistral-small-3.1"
    tokenizer_description = "the tokenizer.json of mistralai/Mistral-Small-3.1-24B-Instruct-2503"
    reference = (
        "transformers 5.23 PixtralProcessor (spatial_merge_size 2) + PixtralImageProcessorPil, "
        "mistralai/Mistral-Small-3.1-24B-Instruct-2503 settings"
    )
    spec = PixtralSpec(patch_size=14, spatial_merge_size=2, longest_edge=1540)
