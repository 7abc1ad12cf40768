"""LLaVA-NeXT (LLaVA-1.6) "anyres" images.

Reference: transformers 5.23 `models/llava_next/` (`LlavaNextImageProcessorPil`, `LlavaNextProcessor`
`_get_number_of_features` / `_get_unpadded_features`; the model's `pack_image_features`), with the
llava-hf/llava-v1.6-mistral-7b-hf checkpoint's preprocessor_config.json (size shortest_edge 336, crop
336, the five pinpoints below, bicubic, CLIP mean/std) and processor_config.json (patch_size 14,
vision_feature_select_strategy "default", num_additional_image_tokens 1).

* Plan: the canvas of `image_grid_pinpoints` that keeps the most of the image
  (geometry.anyres_best_resolution); the image is resized into it, aspect ratio kept
  (geometry.anyres_fit), and the canvas cut into 336 x 336 tiles; a base image (the whole image
  resized, distorted, to 336 x 336) comes first. tiles = 1 + rows * cols.
* Tokens (all `<image>` positions): the base image's 24 x 24 = 576 features, then the tiles' feature
  grid (24 rows x 24 cols per tile) with the rows / columns that saw only the padding cut off
  (geometry.anyres_unpadded_grid), each remaining row followed by one learned `image_newline`
  embedding: rows * cols + rows + 576. The processor counts the base as 576 + 1 (the CLS,
  num_additional_image_tokens) and takes the 1 back for the "default" strategy, which drops the CLS.
  The newlines are embeddings, not text: total_tokens = tokens.
* Pixels: the resized image pasted centred (extra pixel bottom / right) on a black uint8 canvas,
  then x/255 and mean/std (so the padding is the normalised black, not 0); pixel_values is
  (images, max tiles, 3, 336, 336) float32, images with fewer tiles padded with 0.0 tiles, and
  image_sizes (images, 2) int64 holds each original (height, width).
* Sequence: the prompt's `<image>` becomes `<image>` x tokens; the Llama/Mistral tokenizer puts `<s>` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError
from ...sequence.pieces import Media, Piece, Special
from .. import geometry, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


@dataclass(frozen=True)
class AnyresSpec:
    """The numbers that fix an anyres image input."""

    tile_size: int  # crop_size / size of the checkpoint: tiles and base image are tile_size squares
    patch_size: int  # the vision tower's patch: tile_size // patch_size features per side
    pinpoints: tuple[tuple[int, int], ...]  # image_grid_pinpoints, (height, width) canvases
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    num_additional_image_tokens: int = 0  # processor_config.json: features the tower adds (CLS)
    vision_feature_select_strategy: str = "full"  # "default" drops the CLS again
    rescale_factor: float = 1 / 255
    image_token: str = "<image>"

    @property
    def grid(self) -> int:
        return self.tile_size // self.patch_size

    @property
    def base_tokens(self) -> int:
        """The base image's features as the processor counts them (_get_number_of_features)."""
        dropped = 1 if self.vision_feature_select_strategy == "default" else 0
        return self.grid * self.grid + self.num_additional_image_tokens - dropped


def check_pinpoints(pinpoints, tile_size: int) -> tuple[tuple[int, int], ...]:
    """image_grid_pinpoints as (height, width) tuples of positive multiples of the tile size."""
    try:
        out = tuple((int(h), int(w)) for h, w in pinpoints)
    except (TypeError, ValueError):
        out = ()
    if not out or any(h <= 0 or w <= 0 or h % tile_size or w % tile_size for h, w in out):
        raise InvalidOptionError(
            f"image_grid_pinpoints must be a non-empty list of [height, width] pairs, positive multiples of "
            f"{tile_size}; got {pinpoints!r}"
        )
    return out


class AnyresFamily(VisionFamily):
    """LLaVA-NeXT-style tiling: best pinpoint canvas, fit and pad, tiles plus a base image."""

    spec: AnyresSpec
    bos_token: str | None = None

    def __init__(
        self, *, image_grid_pinpoints=None, rgb: str = "reference", exif_transpose: bool | None = None, **unsupported
    ):
        """image_grid_pinpoints: the canvases to choose from, [[height, width], ...] (the checkpoint's by default)."""
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise InvalidOptionError(
                f"{self.name} takes no {', '.join(given)}: its images are tiled on the canvases of "
                "image_grid_pinpoints; drop the option"
            )
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        spec = self.spec
        given_pinpoints = image_grid_pinpoints is not None
        self.pinpoints = check_pinpoints(image_grid_pinpoints, spec.tile_size) if given_pinpoints else spec.pinpoints
        self.modality_tokens = {"image": spec.image_token}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"tile_size": self.spec.tile_size, "image_grid_pinpoints": [list(p) for p in self.pinpoints]}

    def feature_grid(self, unpadded: tuple[int, int]) -> tuple[int, int]:
        """The (rows, cols) of tile features that reach the LLM, each row closed by a newline."""
        return unpadded

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        spec = self.spec
        canvas = geometry.anyres_best_resolution((height, width), self.pinpoints)
        fitted = geometry.anyres_fit((height, width), canvas)
        tile_rows, tile_cols = canvas[0] // spec.tile_size, canvas[1] // spec.tile_size
        unpadded = geometry.anyres_unpadded_grid((height, width), (spec.grid * tile_rows, spec.grid * tile_cols))
        rows, cols = self.feature_grid(unpadded)
        tokens = rows * cols + rows + spec.base_tokens
        details = {
            "canvas": list(canvas),
            "fitted": list(fitted),
            "tile_grid": [tile_rows, tile_cols],
            "unpadded_grid": list(unpadded),
            "feature_grid": [rows, cols],
            "newlines": rows,
            "base_tokens": spec.base_tokens,
        }
        return ImagePlan(
            self.name, (height, width), (spec.tile_size, spec.tile_size), None, tokens, self.limits, source,
            tiles=1 + tile_rows * tile_cols, details=details,
        )  # fmt: skip

    # -- pixels ------------------------------------------------------------------------------------

    def _lut(self) -> np.ndarray:
        spec = self.spec
        return pixels.normalize_lut(spec.image_mean, spec.image_std, spec.rescale_factor)

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(tiles, 3, tile, tile) float32: the base image, then the canvas tiles in raster order."""
        tile = self.spec.tile_size
        lut = self._lut()
        (canvas_h, canvas_w), (fit_h, fit_w) = plan.details["canvas"], plan.details["fitted"]
        tile_rows, tile_cols = plan.details["tile_grid"]
        out = np.empty((plan.tiles, 3, tile, tile), dtype=np.float32)
        out[0] = pixels.normalized_planes(np.asarray(pixels.resize_bicubic(rgb_image, (tile, tile))), lut)
        # The reference pads the uint8 image with 0 before rescaling and normalising, and splits after.
        canvas = np.zeros((canvas_h, canvas_w, 3), dtype=np.uint8)
        top, left = (canvas_h - fit_h) // 2, (canvas_w - fit_w) // 2
        canvas[top : top + fit_h, left : left + fit_w] = np.asarray(pixels.resize_bicubic(rgb_image, (fit_h, fit_w)))
        planes = pixels.normalized_planes(canvas, lut)
        tiles = out[1:].reshape(tile_rows, tile_cols, 3, tile, tile)
        tiles[...] = planes.reshape(3, tile_rows, tile, tile_cols, tile).transpose(1, 3, 0, 2, 4)
        return out

    def _features_and_plans(self, images: list[Any]) -> tuple[list[np.ndarray], list[ImagePlan]]:
        plans, features = self.planned_features(images)
        return features, plans

    def _batch(self, features: list[np.ndarray], plans: list[ImagePlan]) -> dict[str, np.ndarray]:
        """pixel_values padded with 0.0 tiles to the batch's most tiles (`_pad_for_batching`), image_sizes."""
        tile = self.spec.tile_size
        most = max((f.shape[0] for f in features), default=0)
        pixel_values = np.zeros((len(features), most, 3, tile, tile), dtype=np.float32)
        for row, f in zip(pixel_values, features):
            row[: f.shape[0]] = f
        image_sizes = np.array([p.size for p in plans], dtype=np.int64).reshape(-1, 2)
        return {"pixel_values": pixel_values, "image_sizes": image_sizes}

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        features, plans = self._features_and_plans(images)
        return self._batch(features, plans), plans

    # -- sequence ----------------------------------------------------------------------------------

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        return [Special(self.spec.image_token, plan.tokens)]


@FAMILIES.register(
    "llava-next",
    aliases=(
        "llava_next",
        "llava-1.6",
        "llava-v1.6",
        "llava-hf/llava-v1.6-mistral-7b-hf",
        "llava-hf/llava-v1.6-vicuna-7b-hf",
        "llava-hf/llava-v1.6-vicuna-13b-hf",
    ),
)
class LlavaNext(AnyresFamily):
    name = "llava-next"
    tokenizer_name = None
    tokenizer_description = "the Llama/Mistral tokenizer.json of llava-hf/llava-v1.6-mistral-7b-hf (<image> = 32000)"
    reference = (
        "transformers 5.23 LlavaNextProcessor + LlavaNextImageProcessorPil, llava-hf/llava-v1.6-mistral-7b-hf settings"
    )
    bos_token = "<s>"
    special_tokens = ("<image>",)
    spec = AnyresSpec(
        tile_size=336,
        patch_size=14,
        pinpoints=((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)),
        image_mean=OPENAI_CLIP_MEAN,
        image_std=OPENAI_CLIP_STD,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
    )
