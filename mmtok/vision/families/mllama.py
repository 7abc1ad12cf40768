"""Llama 3.2 Vision (Mllama): tiles of 560 px on the best canvas of at most 4 tiles, seen through
cross-attention.

Reference: transformers 5.23 `models/mllama/` (`MllamaImageProcessorPil`, `MllamaProcessor`) with the
meta-llama/Llama-3.2-11B-Vision(-Instruct) preprocessor_config.json: size 560 x 560, max_image_tiles 4,
resample 2 (bilinear), CLIP mean/std, rescale 1/255.

* Plan: the arrangements of at most `max_image_tiles` tiles, (tiles_h, tiles_w) in the order
  `get_all_supported_aspect_ratios` lists them: (1,1), (1,2), (1,3), (1,4), (2,1), (2,2), (3,1), (4,1)
  for 4. Each canvas scales the image by min(560 th / H, 560 tw / W); the smallest scale >= 1 wins (the
  least upscaling), else the largest (the least downscaling), the smallest canvas breaking ties
  (`get_optimal_tiled_canvas`). The image is resized, aspect kept, so each side lies in [560, canvas
  side] (`get_image_size_fit_to_canvas`, floor, at least 1 px), padded with zeros bottom/right and cut
  into tiles in raster order. aspect_ratio_id = 1 + the arrangement's index (0 marks a padding image).
* Tokens: the language model gets one `<|image|>` per image (`tokens` = 1); its cross-attention layers
  attend to the vision encoder's output, (560 / 14)^2 + 1 = 1601 states per real tile (`details`
  "vision_tokens"), up to 4 x 1601 = 6404.
* Pixels: RGB, Pillow bilinear resize, zero padding (before rescale, so a padded pixel is (0 - mean) /
  std), x/255, CLIP mean/std; pixel_values (1, images, max_image_tiles, 3, 560, 560) float32, the
  tiles past an image's own left 0.0.
* Text: `MllamaProcessor` writes `<|begin_of_text|>` into the prompt after its leading `<|image|>`s
  unless the prompt holds it already (`prepare_prompt`), and adds `cross_attention_mask` (batch, length,
  images, max_image_tiles): an image's real tiles are visible from its `<|image|>` up to the next image
  token that is not right after it, or the end (`finish_text_encoding`). `Processor.encode_text` does
  not call these two hooks yet: apply `prepare_prompt` to each prompt before it, `finish_text_encoding`
  to its output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


@dataclass(frozen=True)
class MllamaSpec:
    """The numbers and tokens of Llama 3.2 Vision's checkpoints."""

    tile_size: int = 560  # preprocessor_config.json size
    patch_size: int = 14  # config.json vision_config.patch_size
    max_image_tiles: int = 4  # preprocessor_config.json
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255
    image_token: str = "<|image|>"
    bos_token: str = "<|begin_of_text|>"

    @property
    def states_per_tile(self) -> int:
        """The vision encoder's output per tile: one per patch plus the class embedding."""
        return (self.tile_size // self.patch_size) ** 2 + 1


@lru_cache(maxsize=16)
def tile_arrangements(max_tiles: int) -> tuple[tuple[int, int], ...]:
    """(tiles_h, tiles_w) of every canvas of at most `max_tiles` tiles, in the reference's order."""
    return tuple((a, b) for a in range(1, max_tiles + 1) for b in range(1, max_tiles + 1) if a * b <= max_tiles)


def best_canvas(height: int, width: int, max_tiles: int, tile: int) -> tuple[int, int]:
    """The chosen arrangement (tiles_h, tiles_w) for an image of height x width: the float
    comparisons are the reference's (`scales == selected_scale`, exact)."""
    arrangements = tile_arrangements(max_tiles)
    scales = [min(tile * th / height, tile * tw / width) for th, tw in arrangements]
    up = [s for s in scales if s >= 1]
    chosen = min(up) if up else max(scales)
    candidates = [a for a, s in zip(arrangements, scales) if s == chosen]
    return min(candidates, key=lambda a: a[0] * a[1])  # first smallest area, as np.argmin


def fit_to_canvas(height: int, width: int, canvas: tuple[int, int], tile: int) -> tuple[int, int]:
    """The resized (height, width): each side clipped into [tile, canvas side], the tighter side kept,
    the other scaled by it (floor, at least 1 px, at most its clipped target)."""
    target_h = min(max(height, tile), canvas[0])
    target_w = min(max(width, tile), canvas[1])
    scale_h, scale_w = target_h / height, target_w / width
    if scale_w < scale_h:
        return min(math.floor(height * scale_w) or 1, target_h), target_w
    return target_h, min(math.floor(width * scale_h) or 1, target_w)


@FAMILIES.register(
    "mllama",
    aliases=(
        "llama-3.2-vision",
        "meta-llama/Llama-3.2-11B-Vision",
        "meta-llama/Llama-3.2-11B-Vision-Instruct",
        "meta-llama/Llama-3.2-90B-Vision",
        "meta-llama/Llama-3.2-90B-Vision-Instruct",
    ),
)
class Mllama(VisionFamily):
    name = "mllama"
    tokenizer_name = None
    tokenizer_description = "the Llama 3 tokenizer.json of meta-llama/Llama-3.2-11B-Vision-Instruct"
    reference = "transformers 5.23 MllamaProcessor + MllamaImageProcessorPil, Llama-3.2-Vision checkpoint settings"
    spec = MllamaSpec()
    # The checkpoint's tokenizer adds no BOS itself; MllamaProcessor writes it into the prompt text.
    bos_token = None
    pad_token = "<|finetune_right_pad_id|>"  # the checkpoint's special_tokens_map.json
    special_tokens = (spec.bos_token, spec.image_token, pad_token)

    def __init__(self, *, max_image_tiles: int | None = None, **options):
        """max_image_tiles: the most tiles an image is cut into (checkpoint and processor default: 4)."""
        super().__init__(**options)
        tiles = self.spec.max_image_tiles if max_image_tiles is None else max_image_tiles
        if not isinstance(tiles, int) or isinstance(tiles, bool) or tiles <= 0:
            raise InvalidOptionError(f"max_image_tiles must be a positive integer, got {tiles!r}")
        self.max_image_tiles = tiles
        self.modality_tokens = {"image": self.spec.image_token}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"tile_size": self.spec.tile_size, "max_image_tiles": self.max_image_tiles}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        tile = self.spec.tile_size
        grid = best_canvas(height, width, self.max_image_tiles, tile)
        canvas = (grid[0] * tile, grid[1] * tile)
        resized = fit_to_canvas(height, width, canvas, tile)
        tiles = grid[0] * grid[1]
        details = {
            "canvas": list(canvas),
            "tile_grid": list(grid),
            "resized_image": list(resized),
            "aspect_ratio_id": tile_arrangements(self.max_image_tiles).index(grid) + 1,
            "vision_tokens": tiles * self.spec.states_per_tile,
            "vision_tokens_per_tile": self.spec.states_per_tile,
        }
        # one <|image|> per image; the vision side is in details
        return ImagePlan(
            self.name, (height, width), (tile, tile), None, 1, self.limits, source, tiles=tiles, details=details
        )

    # -- pixels ------------------------------------------------------------------------------------

    def image_features(self, rgb_image, plan: ImagePlan, out: np.ndarray | None = None) -> np.ndarray:
        """(max_image_tiles, 3, 560, 560) float32 for one RGB image, written into `out` (zeros) if given."""
        from PIL import Image

        spec = self.spec
        new_h, new_w = plan.details["resized_image"]
        resized = rgb_image.resize((new_w, new_h), resample=Image.Resampling.BILINEAR, reducing_gap=None)
        lut = pixels.normalize_lut(spec.image_mean, spec.image_std, spec.rescale_factor)
        canvas_h, canvas_w = plan.details["canvas"]
        canvas = np.empty((3, canvas_h, canvas_w), dtype=np.float32)
        canvas[:] = lut[:, :1, None]  # the zero padding, rescaled and normalised
        canvas[:, :new_h, :new_w] = pixels.normalized_planes(np.asarray(resized), lut)
        th, tw = plan.details["tile_grid"]
        t = spec.tile_size
        if out is None:
            out = np.zeros((self.max_image_tiles, 3, t, t), dtype=np.float32)
        out[: th * tw] = canvas.reshape(3, th, t, tw, t).transpose(1, 3, 0, 2, 4).reshape(th * tw, 3, t, t)
        return out

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """The image processor's output for one sample holding `images`: pixel_values (1, n, tiles, 3,
        560, 560), aspect_ratio_ids (1, n), aspect_ratio_mask (1, n, tiles) and num_tiles (1, n), int64."""
        t = self.spec.tile_size
        pixel_values = np.zeros((1, len(images), self.max_image_tiles, 3, t, t), dtype=np.float32)
        plans = []
        for j, image in enumerate(images):
            rgb = self.load(image)
            plans.append(self.plan_size((rgb.height, rgb.width), source=io.describe(image)))
            self.image_features(rgb, plans[-1], out=pixel_values[0, j])
        ids = np.array([[p.details["aspect_ratio_id"] for p in plans]], dtype=np.int64).reshape(1, -1)
        mask = np.zeros((1, len(plans), self.max_image_tiles), dtype=np.int64)
        mask[:, :, 0] = 1  # the reference marks the first tile of every slot, padding images included
        for j, plan in enumerate(plans):
            mask[0, j, : plan.tiles] = 1
        num_tiles = np.array([[p.tiles for p in plans]], dtype=np.int64).reshape(1, -1)
        data = {"pixel_values": pixel_values, "aspect_ratio_ids": ids, "aspect_ratio_mask": mask}
        data["num_tiles"] = num_tiles  # MllamaProcessor pops it (finish_text_encoding)
        return data, plans

    # -- sequence ----------------------------------------------------------------------------------

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (Llama 3.2 Vision takes no videos)")
        return [Special(self.spec.image_token, plan.tokens)]

    def prepare_prompt(self, text: str) -> str:
        """`build_string_from_input`: the prompt as MllamaProcessor tokenizes it, with
        `<|begin_of_text|>` after its leading `<|image|>`s unless the prompt holds one anywhere."""
        bos, image = self.spec.bos_token, self.spec.image_token
        if bos in text:
            return text
        leading = 0
        while text.startswith(image, leading * len(image)):
            leading += 1
        return image * leading + bos + text[leading * len(image) :]

    def finish_text_encoding(self, out: dict, images_per_sample: list[int], tokenizer) -> None:
        """Turn `encode_text`'s output into MllamaProcessor's, in place: the image arrays regrouped per
        sample (batch, most images in a sample, ...), num_tiles dropped (the processor pops it), and
        cross_attention_mask (batch, length, images, max_image_tiles) added. `out` holds input_ids and
        preprocess_images' arrays for all the batch's images in order; `tokenizer` gives the image id."""
        if "num_tiles" not in out:  # no images: the reference adds nothing either
            return
        ids = out["input_ids"]
        counts = [int(c) for c in images_per_sample]
        n_images = out["num_tiles"].shape[1]
        if len(counts) != ids.shape[0] or sum(counts) != n_images:
            raise InvalidOptionError(
                f"images_per_sample {counts} does not match {ids.shape[0]} sample(s) and {n_images} image(s)"
            )
        most = max(counts, default=0)
        starts = np.cumsum([0] + counts)[:-1]
        num_tiles = out.pop("num_tiles")[0]
        for key in ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask"):
            flat = out[key][0]
            grouped = np.zeros((len(counts), most) + flat.shape[1:], dtype=flat.dtype)
            for row, (start, count) in enumerate(zip(starts, counts)):
                grouped[row, :count] = flat[start : start + count]
            out[key] = grouped
        out["aspect_ratio_mask"][:, :, 0] = 1  # padding image slots too, as the reference
        image_id = tokenizer.special_tokens[self.spec.image_token]
        mask = np.zeros((len(counts), ids.shape[1], most, self.max_image_tiles), dtype=np.int64)
        for row, (start, count) in enumerate(zip(starts, counts)):
            for j, (first, last) in enumerate(attention_spans(ids[row], image_id)[:count]):
                mask[row, first:last, j, : num_tiles[start + j]] = 1
        out["cross_attention_mask"] = mask


def attention_spans(ids: np.ndarray, image_id: int) -> list[tuple[int, int]]:
    """[first, end) of the text positions each image token's image is visible from
    (`get_cross_attention_token_mask`): from the token to the next image token, the last one to the end
    of the (padded) row; a run of adjacent image tokens all see what follows the run."""
    places = [int(i) for i in np.flatnonzero(ids == image_id)]
    ends = places[1:] + [len(ids)]
    spans = [[p, e] for p, e in zip(places, ends)]
    last_end = len(ids)
    for span in reversed(spans):
        if span[0] == span[1] - 1:
            span[1] = last_end
        last_end = span[1]
    return [(a, b) for a, b in spans]
