"""InternVL 2 / 2.5 / 3 (dynamic high resolution): 448 px tiles on the closest-aspect grid, plus a thumbnail.

Reference: transformers 5.23 `InternVLProcessor` (models/internvl/processing_internvl.py) with
`GotOcr2ImageProcessorPil` (models/got_ocr2/image_processing_pil_got_ocr2.py: `get_optimal_tiled_canvas`,
`crop_image_to_patches`, `get_number_of_image_patches`), set up as OpenGVLab/InternVL3-1B-hf; and
OpenGVLab's own code (OpenGVLab/InternVL `internvl_chat/internvl/train/dataset.py` @ 1831ceb9:
`find_closest_aspect_ratio`, `dynamic_preprocess`; the model cards' `load_image` / `build_transform`).

* Plan: among the grids (cols, rows) with min_tiles <= cols * rows <= max_tiles (checkpoint: 1 and 12),
  ordered by tile count, the first whose cols / rows is closest to width / height; on an exact tie a later
  grid wins while the image's area exceeds half its canvas (0.5 * 448² * cols * rows). The image is resized
  (aspect not kept, small images upscaled) to (448 * rows, 448 * cols) and cut into tiles row-major; when
  that makes more than one tile, the whole image resized to 448 x 448 is appended (thumbnail last). A tile
  is 32 x 32 patches of 14 px, pixel-shuffled by 0.5 into 256 tokens.
* Pixels: Pillow bicubic, x / 255, ImageNet mean / std -> pixel_values (tiles, 3, 448, 448) float32, and
  num_patches (tiles per image).
* Sequence: each `<IMG_CONTEXT>` of the prompt becomes `<img>` + `<IMG_CONTEXT>` x 256 * tiles + `</img>`
  (OpenGVLab's `chat()` writes the same span for its "<image>" placeholder).

The two tilers differ (`tiler=`):
* "transformers" (default): candidates (cols, rows) listed by increasing cols, then stably sorted by tile
  count; inputs converted as transformers does (see io: EXIF transpose for files, alpha onto white).
* "opengvlab": `dynamic_preprocess` builds the candidates as a Python set and sorts it by tile count, so
  grids with the same count come in the set's order. The order only matters when two grids with the same
  tile count tie exactly and nothing is closer, which cannot happen with min_tiles = 1 (for any max_tiles up
  to 40 a third grid is strictly closer to their midpoint) but does with min_tiles > 1, e.g. min = max = 4
  and a 2500 x 1000 (w x h) image: transformers takes 4 x 1 (cols x rows), OpenGVLab 2 x 2. Inputs are read as
  `load_image` does: `Image.open(f).convert("RGB")`, no EXIF transpose, alpha dropped.
Pixels are otherwise the same: torchvision's Resize((448, 448)) leaves the 448 px tiles untouched and
ToTensor's float32 x / 255 has the bits of transformers' rescale for all 256 levels.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TILE = 448  # preprocessor_config.json size {"height": 448, "width": 448}; config.json vision image_size
TOKENS_PER_TILE = 256  # (448 // 14) ** 2 * 0.5 ** 2: InternVLProcessor image_seq_length
TILERS = ("transformers", "opengvlab")


@lru_cache(maxsize=64)
def _candidates(min_tiles: int, max_tiles: int, tiler: str) -> tuple[tuple[int, int], ...]:
    """The (cols, rows) grids in the order the tiler tries them."""
    if tiler == "transformers":
        # get_all_supported_aspect_ratios: width-major list, stably sorted by tile count
        grids = [(w, h) for w in range(1, max_tiles + 1) for h in range(1, max_tiles + 1) if min_tiles <= w * h <= max_tiles]
    else:
        # dynamic_preprocess: the same set expression, so the same iteration order within a tile count
        grids = set(
            (i, j)
            for n in range(min_tiles, max_tiles + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if i * j <= max_tiles and i * j >= min_tiles
        )
    return tuple(sorted(grids, key=lambda g: g[0] * g[1]))


def closest_grid(size: tuple[int, int], candidates: tuple[tuple[int, int], ...], tile: int = TILE) -> tuple[int, int]:
    """(cols, rows): get_optimal_tiled_canvas / find_closest_aspect_ratio, expression for expression."""
    height, width = size
    aspect_ratio = width / height
    area = width * height
    best_diff, best = float("inf"), (1, 1)
    for grid in candidates:
        diff = abs(aspect_ratio - grid[0] / grid[1])
        if diff < best_diff:
            best_diff, best = diff, grid
        elif diff == best_diff and area > 0.5 * tile * tile * grid[0] * grid[1]:
            best = grid  # a tie prefers the later (larger) grid while the image fills over half of it
    return best


def _check_tiles(min_tiles: Any, max_tiles: Any) -> None:
    for name, value in (("min_tiles", min_tiles), ("max_tiles", max_tiles)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidOptionError(f"{name} must be a positive integer number of 448 px tiles, got {value!r}")
    if min_tiles > max_tiles:
        raise InvalidOptionError(f"min_tiles ({min_tiles}) is above max_tiles ({max_tiles}); swap them or raise max_tiles")


@FAMILIES.register(
    "internvl",
    aliases=(
        "internvl2", "internvl2.5", "internvl3",
        "OpenGVLab/InternVL3-1B-hf", "OpenGVLab/InternVL3-1B", "OpenGVLab/InternVL2_5-8B",
    ),  # fmt: skip
)
class InternVL(VisionFamily):
    name = "internvl"
    tokenizer_name = None
    tokenizer_description = "the Qwen2.5 tokenizer.json of OpenGVLab/InternVL3-1B-hf (with <img>, </img>, <IMG_CONTEXT>)"
    reference = "transformers 5.23 InternVLProcessor + GotOcr2ImageProcessorPil (crop_to_patches), InternVL3-1B-hf settings"
    special_tokens = ("<img>", "</img>", "<IMG_CONTEXT>")
    image_start, image_end, image_token = special_tokens

    def __init__(
        self,
        *,
        min_tiles: int = 1,
        max_tiles: int = 12,
        tiler: str = "transformers",
        rgb: str = "reference",
        exif_transpose: bool | None = None,
    ):
        """min_tiles / max_tiles: the grid's tile count range (checkpoint 1 and 12; some OpenGVLab eval
        scripts use max 6). tiler: "transformers" or "opengvlab" (see the module docstring)."""
        if tiler not in TILERS:
            raise InvalidOptionError(f"tiler must be one of {', '.join(TILERS)}; got {tiler!r}")
        _check_tiles(min_tiles, max_tiles)
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        self.min_tiles, self.max_tiles, self.tiler = min_tiles, max_tiles, tiler
        if tiler == "opengvlab":
            # load_image: Image.open(f).convert("RGB"), nothing else
            self.rgb = "convert" if rgb == "reference" else rgb
            if exif_transpose is None:
                self.exif_transpose = False
        self.modality_tokens = {"image": self.image_token}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"min_tiles": self.min_tiles, "max_tiles": self.max_tiles, "tile_size": TILE}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        if self.max_tiles > 1:
            cols, rows = closest_grid((height, width), _candidates(self.min_tiles, self.max_tiles, self.tiler))
        else:
            cols, rows = 1, 1  # transformers skips the tiler (crop_to_patches needs max_patches > 1): one 448 px resize
        thumbnail = cols * rows > 1
        tiles = cols * rows + thumbnail
        tokens = TOKENS_PER_TILE * tiles
        details = {"grid": [rows, cols], "thumbnail": thumbnail}
        # + <img> and </img> (_get_num_multimodal_tokens: 2 + 256 * patches)
        return ImagePlan(self.name, (height, width), (TILE, TILE), None, tokens, self.limits, source, tokens + 2, tiles, details)

    # -- pixels ------------------------------------------------------------------------------------

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(tiles, 3, 448, 448) float32: the grid's tiles row-major, then the thumbnail.

        Each tile's channel is looked up straight from the resized uint8 canvas into its place in the
        output (one table lookup per value, no float planes, no transposed copy, no concatenation)."""
        rows, cols = plan.details["grid"]
        lut = pixels.normalize_lut(IMAGENET_MEAN, IMAGENET_STD, 1 / 255)
        thumb = 1 if plan.details["thumbnail"] else 0
        out = np.empty((rows * cols + thumb, 3, TILE, TILE), dtype=np.float32)
        canvas = np.asarray(pixels.resize_bicubic(rgb_image, (TILE * rows, TILE * cols)))
        for i in range(rows * cols):
            r, c = divmod(i, cols)
            block = canvas[r * TILE : (r + 1) * TILE, c * TILE : (c + 1) * TILE]
            for ch in range(3):
                # mode="clip": uint8 codes are always in range, and numpy's default checks each one
                np.take(lut[ch], block[:, :, ch], out=out[i, ch], mode="clip")
        if thumb:
            small = np.asarray(pixels.resize_bicubic(rgb_image, (TILE, TILE)))
            for ch in range(3):
                np.take(lut[ch], small[:, :, ch], out=out[-1, ch], mode="clip")
        return out

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """GotOcr2ImageProcessorPil's output with crop_to_patches: pixel_values and num_patches."""
        plans, blocks = self.planned_features(images)
        pixel_values = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, 3, TILE, TILE), np.float32)
        num_patches = np.array([p.tiles for p in plans], dtype=np.int64)
        return {"pixel_values": pixel_values, "num_patches": num_patches}, plans

    # -- sequence ----------------------------------------------------------------------------------

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (mmtok does not plan InternVL videos)")
        return [Special(self.image_start), Special(self.image_token, plan.tokens), Special(self.image_end)]
