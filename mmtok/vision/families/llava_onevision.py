"""LLaVA-OneVision images: anyres on 384 tiles with the "anyres_max_9" feature budget.

Reference: transformers 5.23 `models/llava_onevision/` (`LlavaOnevisionImageProcessorPil`,
`LlavaOnevisionProcessor` `replace_image_token` / `_get_number_of_features` /
`_get_unpadded_features`; the model's `get_image_features` / `pack_image_features`), with the
llava-hf/llava-onevision-qwen2-7b-ov-hf settings: preprocessor_config.json (size 384 x 384, bicubic,
the 36 pinpoints 384 * (1..6) x 384 * (1..6), mean = std = 0.5, from the SigLIP tower) and
processor_config.json (num_image_tokens 729, vision_feature_select_strategy "full",
vision_aspect_ratio "anyres_max_9").

* One image in its sample (the default, `multi_image=False`): as LLaVA-NeXT (see llava_next) with
  384 tiles and 27 x 27 = 729 features per tile and for the base image (SigLIP has no CLS). Then the
  budget: when the unpadded grid holds more than 9 tiles' worth of features by a factor over 1.1^2
  (ratio = sqrt(rows * cols / (9 * 729)) > 1.1), the model resizes the feature map (bilinear) to
  int(rows // ratio) x int(cols // ratio). tokens = rows * cols + rows (newlines) + 729.
* Several images in one sample (`multi_image=True`, the processor's nested `images=[[a, b], ...]`,
  batch_num_images != 1): no tiling; each image is padded to a square with the colour
  int(mean * 255) = (127, 127, 127), image centred, and resized to 384 x 384: 729 + 1 newline = 730
  tokens. A flat `images=[a, b]` list (what encode_text mirrors) counts as one image per sample, so
  the default matches it, and a nested sample with one image is tiled, so multi_image=True refuses a
  lone image.
* Output: pixel_values (images, max tiles, 3, 384, 384) float32 padded with 0.0 tiles, image_sizes
  (images, 2) int64 and batch_num_images int64: [1] * images, or [images] with multi_image=True
  (the reference's per-sample counts; the model only asks whether each count is 1).
* Sequence: `<image>` x tokens in the Qwen2 tokenizer's text, no BOS. Videos are not covered.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError
from .. import io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .llava_next import AnyresFamily, AnyresSpec

_ASPECT = re.compile(r"anyres_max_(\d+)")


@FAMILIES.register(
    "llava-onevision",
    aliases=(
        "llava_onevision",
        "llava-ov",
        "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
        "llava-hf/llava-onevision-qwen2-7b-ov-hf",
        "llava-hf/llava-onevision-qwen2-72b-ov-hf",
    ),
)
class LlavaOnevision(AnyresFamily):
    name = "llava-onevision"
    tokenizer_name = None
    tokenizer_description = "the Qwen2 tokenizer.json of llava-hf/llava-onevision-qwen2-7b-ov-hf (<image> = 151646)"
    reference = (
        "transformers 5.23 LlavaOnevisionProcessor + LlavaOnevisionImageProcessorPil, "
        "llava-hf/llava-onevision-qwen2-7b-ov-hf settings"
    )
    special_tokens = ("<image>",)
    spec = AnyresSpec(
        tile_size=384,
        patch_size=14,
        pinpoints=tuple((384 * i, 384 * j) for i in range(1, 7) for j in range(1, 7)),
        image_mean=(0.5, 0.5, 0.5),
        image_std=(0.5, 0.5, 0.5),
    )

    def __init__(self, *, multi_image: bool = False, vision_aspect_ratio: str = "anyres_max_9", **options):
        """multi_image: every image is one of several in its sample (see the module docstring).
        vision_aspect_ratio: "anyres_max_N", the feature budget in tiles (N = 9 for the checkpoints)."""
        super().__init__(**options)
        found = _ASPECT.fullmatch(vision_aspect_ratio) if isinstance(vision_aspect_ratio, str) else None
        if not found or int(found.group(1)) < 1:
            raise InvalidOptionError(f"vision_aspect_ratio must be 'anyres_max_N' with N >= 1; got {vision_aspect_ratio!r}")
        if not isinstance(multi_image, bool):
            raise InvalidOptionError(f"multi_image must be True or False; got {multi_image!r}")
        self.vision_aspect_ratio = vision_aspect_ratio
        self.max_num_patches = int(found.group(1))
        self.multi_image = multi_image

    @property
    def limits(self) -> dict:
        return {**super().limits, "vision_aspect_ratio": self.vision_aspect_ratio, "multi_image": self.multi_image}

    # -- plan --------------------------------------------------------------------------------------

    def feature_grid(self, unpadded: tuple[int, int]) -> tuple[int, int]:
        rows, cols = unpadded
        grid = self.spec.grid
        ratio = math.sqrt(rows * cols / (self.max_num_patches * grid**2))
        if ratio > 1.1:  # the model interpolates the feature map down to this grid
            return int(rows // ratio), int(cols // ratio)
        return rows, cols

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        if not self.multi_image:
            return super().plan_size(size, source)
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        spec = self.spec
        # the base features, and the one image_newline the model appends to a multi-image feature
        tokens = spec.base_tokens + 1
        details = {"padded_square": max(height, width), "newlines": 1, "base_tokens": spec.base_tokens}
        return ImagePlan(
            self.name, (height, width), (spec.tile_size, spec.tile_size), None, tokens, self.limits, source, details=details
        )

    # -- pixels ------------------------------------------------------------------------------------

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        if "padded_square" not in plan.details:
            return super().image_features(rgb_image, plan)
        from PIL import Image

        # LlavaOnevisionImageProcessorPil.pad_to_square, on uint8, with int(mean * 255) as background
        side = plan.details["padded_square"]
        height, width = plan.size
        if height == width:
            square = rgb_image
        else:
            background = tuple(int(x * 255) for x in self.spec.image_mean)
            canvas = np.empty((side, side, 3), dtype=np.uint8)
            canvas[...] = background
            top, left = (side - height) // 2, (side - width) // 2
            canvas[top : top + height, left : left + width] = np.asarray(rgb_image)
            square = Image.fromarray(canvas)
        resized = pixels.resize_bicubic(square, plan.resized)
        return pixels.normalized_planes(np.asarray(resized), self._lut())[None]

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        if self.multi_image and len(images) == 1:
            raise InvalidOptionError(
                f"{self.name} with multi_image=True takes the images of samples holding several; got one "
                f"image ({io.describe(images[0])}), which the reference tiles (batch_num_images [1]): use multi_image=False"
            )
        features, plans = self._features_and_plans(images)
        data = self._batch(features, plans)
        counts = [len(images)] if self.multi_image and images else [1] * len(images)
        data["batch_num_images"] = np.array(counts, dtype=np.int64)
        return data, plans
