"""MiniCPM-V 2.6 (LLaVA-UHD slicing): a downscaled source image plus up to 9 slices, 64 tokens each.

Reference: the remote code of openbmb/MiniCPM-V-2_6 on the Hugging Face Hub (not in transformers):
`image_processing_minicpmv.py` (`MiniCPMVImageProcessor`: get_sliced_grid, find_best_resize,
get_refine_size, split_to_patches, slice_image, reshape_by_patch, get_slice_image_placeholder) and
`processing_minicpmv.py` (`MiniCPMVProcessor._convert_images_texts_to_inputs`), with the checkpoint's
preprocessor_config.json (max_slice_nums 9, scale_resolution 448, patch_size 14, image_feature_size 64,
use_image_id true, norm mean = std = 0.5). Transcribed for the tests in tests/reference_minicpm_v.py.

* Plan: with ratio = w * h / 448², multiple = min(ceil(ratio), max_slice_nums). If multiple <= 1 the image is
  not sliced: one source image resized (up or down) to about 448² keeping its aspect, sides multiples of 14.
  Otherwise the grid (cols, rows) is the first, among the factorisations of multiple - 1, multiple and
  multiple + 1 (1 and counts above max_slice_nums left out), whose log(cols / rows) is closest to log(w / h);
  the source image is downscaled only (kept as is, to multiples of 14, when w * h <= 448²), and the refine
  image (each slice about 448², multiples of 14) is cut into cols x rows slices row-major. The perceiver
  resampler turns every piece, whatever its size, into 64 tokens: tokens = 64 * (1 + cols * rows).
* Pixels: Pillow bicubic, float32 x / 255, (x - 0.5) / 0.5, then each piece reshaped by patch to
  (3, 14, 14 * patches); pixel_values is a list of those arrays (pieces differ in size), tgt_sizes the
  (rows, cols) patch grid of each piece, image_sizes the (width, height) of each image.
* Sequence: each "(<image>./</image>)" of the prompt becomes `<image_id>`n`</image_id>` (n: the image's index
  in its prompt, from 0, written as text) + `<image>` + `<unk>` x 64 + `</image>`, then the slices: rows
  joined by "\\n", each row cols x (`<slice>` + `<unk>` x 64 + `</slice>`). `total_tokens` counts the index as
  one token (Qwen2's tokenizer writes one token per digit: images 10 and up add one per extra digit) and
  each "\\n" as one.

Reference quirks mmtok does not copy: the processor counts placeholders with the regex
"(<image>./</image>)", where "." is any character and the parentheses are a group, but splits the text at
the literal string; the image processor infers the channel axis from the first image, so an image 1 or 3
pixels high is read as channels-first and normalisation fails.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special, Text
from .. import io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily

SCALE_RESOLUTION = 448
PATCH_SIZE = 14
QUERY_NUM = 64  # image_feature_size: the resampler's queries
NORM = (0.5, 0.5, 0.5)


def ensure_divide(length: float, patch_size: int) -> int:
    # Python's round() (banker's rounding on ties), as the reference
    return max(round(length / patch_size) * patch_size, patch_size)


def find_best_resize(original_size: tuple[float, float], allow_upscale: bool = False) -> tuple[int, int]:
    """(width, height), expression for expression as the reference (int() truncates)."""
    width, height = original_size
    if (width * height > SCALE_RESOLUTION * SCALE_RESOLUTION) or allow_upscale:
        r = width / height
        height = int(SCALE_RESOLUTION / math.sqrt(r))
        width = int(height * r)
    return ensure_divide(width, PATCH_SIZE), ensure_divide(height, PATCH_SIZE)


def get_refine_size(original_size: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """(width, height) of the image the slices are cut from."""
    width, height = original_size
    grid_x, grid_y = grid
    refine_width = ensure_divide(width, grid_x)
    refine_height = ensure_divide(height, grid_y)
    best = find_best_resize((refine_width / grid_x, refine_height / grid_y), allow_upscale=True)
    return best[0] * grid_x, best[1] * grid_y


def get_sliced_grid(image_size: tuple[int, int], max_slice_nums: int) -> tuple[int, int] | None:
    """(cols, rows), or None when the image is not sliced; image_size is (width, height)."""
    original_width, original_height = image_size
    log_ratio = math.log(original_width / original_height)
    ratio = original_width * original_height / (SCALE_RESOLUTION * SCALE_RESOLUTION)
    multiple = min(math.ceil(ratio), max_slice_nums)
    if multiple <= 1:
        return None
    best, min_error = (1, 1), float("inf")
    for count in (multiple - 1, multiple, multiple + 1):
        if count == 1 or count > max_slice_nums:
            continue
        for m in range(1, count + 1):
            if count % m == 0:
                error = abs(log_ratio - math.log(m / (count // m)))
                if error < min_error:  # strict: the first of equals wins
                    best, min_error = (m, count // m), error
    return best


def reshape_by_patch(planes: np.ndarray, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """(3, H, W) -> (3, p, (H/p) * (W/p) * p): reshape_by_patch's torch unfold + permute, as a transpose.
    out[c, ky, (py * gw + px) * p + kx] = planes[c, py * p + ky, px * p + kx]."""
    c, h, w = planes.shape
    gh, gw = h // patch_size, w // patch_size
    blocks = planes.reshape(c, gh, patch_size, gw, patch_size).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(blocks).reshape(c, patch_size, gh * gw * patch_size)


@FAMILIES.register("minicpm-v-2.6", aliases=("minicpm-v-2_6", "minicpm_v_2_6", "minicpm-v", "openbmb/MiniCPM-V-2_6"))
class MiniCPMV26(VisionFamily):
    name = "minicpm-v-2.6"
    tokenizer_name = None
    tokenizer_description = "the Qwen2 tokenizer.json of openbmb/MiniCPM-V-2_6 (with <image>, <slice>, <image_id>, <unk>, ...)"
    reference = "openbmb/MiniCPM-V-2_6 remote code: MiniCPMVImageProcessor + MiniCPMVProcessor (preprocessor_config.json)"
    special_tokens = ("<image>", "</image>", "<slice>", "</slice>", "<image_id>", "</image_id>", "<unk>")
    placeholder = "(<image>./</image>)"  # what chat() and the processor expect per image

    def __init__(
        self, *, max_slice_nums: int = 9, use_image_id: bool = True, rgb: str = "reference", exif_transpose: bool | None = None
    ):
        """max_slice_nums: at most this many slices (the checkpoint's 9; chat() takes it per call, and its
        video recipe uses 1, which never slices). use_image_id: write <image_id>n</image_id> (2.6: true)."""
        if not isinstance(max_slice_nums, int) or isinstance(max_slice_nums, bool) or max_slice_nums < 1:
            raise InvalidOptionError(f"max_slice_nums must be a positive integer, got {max_slice_nums!r}")
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        # The reference takes PIL images and calls convert("RGB") (users open files with Image.open):
        # no EXIF transpose, alpha dropped.
        if rgb == "reference":
            self.rgb = "convert"
        if exif_transpose is None:
            self.exif_transpose = False
        self.max_slice_nums = max_slice_nums
        self.use_image_id = bool(use_image_id)
        self.modality_tokens = {"image": "<unk>"}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"max_slice_nums": self.max_slice_nums, "scale_resolution": SCALE_RESOLUTION}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        grid = get_sliced_grid((width, height), self.max_slice_nums)
        if grid is None:
            source_w, source_h = find_best_resize((width, height), allow_upscale=True)
            details: dict = {"grid": None}
            cols = rows = 0
        else:
            cols, rows = grid
            source_w, source_h = find_best_resize((width, height))
            refine_w, refine_h = get_refine_size((width, height), grid)
            details = {"grid": [rows, cols], "slice_size": [refine_h // rows, refine_w // cols]}
        tiles = 1 + cols * rows
        tokens = QUERY_NUM * tiles
        # <image> </image>, <slice> </slice> per slice, "\n" between rows, <image_id> "0" </image_id>
        structure = 2 + 2 * cols * rows + max(rows - 1, 0) + (3 if self.use_image_id else 0)
        return ImagePlan(
            self.name, (height, width), (source_h, source_w), None, tokens, self.limits, source, tokens + structure, tiles, details
        )

    # -- pixels ------------------------------------------------------------------------------------

    def _pieces(self, rgb_image, plan: ImagePlan) -> list[np.ndarray]:
        """The source image then the slices row-major, each (3, H, W) normalised float32."""
        lut = pixels.normalize_lut(NORM, NORM, 1 / 255)  # float32 x / 255 has these bits (all 256 levels)
        pieces = [pixels.normalized_planes(np.asarray(pixels.resize_bicubic(rgb_image, plan.resized)), lut)]
        if plan.details["grid"] is not None:
            rows, cols = plan.details["grid"]
            slice_h, slice_w = plan.details["slice_size"]
            refine_image = pixels.resize_bicubic(rgb_image, (slice_h * rows, slice_w * cols))
            refine = pixels.normalized_planes(np.asarray(refine_image), lut)
            for r in range(rows):
                for c in range(cols):
                    pieces.append(refine[:, r * slice_h : (r + 1) * slice_h, c * slice_w : (c + 1) * slice_w])
        return pieces

    def image_features(self, rgb_image, plan: ImagePlan) -> list[np.ndarray]:
        """One (3, 14, 14 * patches) float32 array per piece (source image first, then the slices)."""
        return [reshape_by_patch(piece) for piece in self._pieces(rgb_image, plan)]

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, Any], list[ImagePlan]]:
        """MiniCPMVImageProcessor's keys, flattened over the batch (the reference nests them per prompt):
        pixel_values (list of arrays), tgt_sizes (pieces, 2) and image_sizes (images, 2) as (width, height)."""
        plans, pixel_values, tgt = [], [], []
        for image in images:
            rgb = self.load(image)
            plan = self.plan_size((rgb.height, rgb.width), source=io.describe(image))
            pixel_values += self.image_features(rgb, plan)
            # the (rows, cols) of 14 px patches of each piece: the source image, then every slice
            tgt.append((plan.resized[0] // PATCH_SIZE, plan.resized[1] // PATCH_SIZE))
            if plan.details["grid"] is not None:
                rows, cols = plan.details["grid"]
                slice_h, slice_w = plan.details["slice_size"]
                tgt += [(slice_h // PATCH_SIZE, slice_w // PATCH_SIZE)] * (rows * cols)
            plans.append(plan)
        data = {
            "pixel_values": pixel_values,
            "tgt_sizes": np.array(tgt, dtype=np.int64).reshape(-1, 2),
            "image_sizes": np.array([(p.size[1], p.size[0]) for p in plans], dtype=np.int64).reshape(-1, 2),
        }
        return data, plans

    # -- sequence ----------------------------------------------------------------------------------

    def template_text(self, kind: str) -> str:
        return self.placeholder if kind == "image" else ""

    def text_placeholder(self, kind: str) -> str:
        return self.template_text(kind)

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (pass video frames as images)")
        pieces: list[Piece] = []
        if self.use_image_id:
            pieces += [Special("<image_id>"), Text(str(media.index)), Special("</image_id>")]
        pieces += [Special("<image>"), Special("<unk>", QUERY_NUM), Special("</image>")]
        if plan.details["grid"] is not None:
            rows, cols = plan.details["grid"]
            for r in range(rows):
                if r:
                    pieces.append(Text("\n"))
                pieces += [Special("<slice>"), Special("<unk>", QUERY_NUM), Special("</slice>")] * cols
        return pieces
