"""Shared integer maths of image planning: rounding by a factor and Qwen-style smart resize.

Pure arithmetic on sizes; no imaging library. Sizes are always (height, width).

`smart_resize` follows transformers' `models/qwen2_vl/image_processing_pil_qwen2_vl.py::smart_resize`
(v5.23.0, unchanged since v4.57), operation for operation, because the float expressions decide
the last multiple of the factor: e.g. `height / beta / factor` is not always `height / (beta * factor)`.
"""

from __future__ import annotations

import math

from ..errors import AspectRatioError, EmptyImageError, InvalidOptionError


def round_by_factor(x: float, factor: int) -> int:
    """Nearest multiple of `factor`. Python's round() is banker's rounding and the reference relies
    on it: 70 / 28 = 2.5 rounds to 2, so a 70 px side becomes 56, not 84."""
    return round(x / factor) * factor


def floor_by_factor(x: float, factor: int) -> int:
    return math.floor(x / factor) * factor


def ceil_by_factor(x: float, factor: int) -> int:
    return math.ceil(x / factor) * factor


def check_limits(min_pixels: int, max_pixels: int) -> None:
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InvalidOptionError(f"{name} must be a positive integer number of pixels, got {value!r}")
    if min_pixels > max_pixels:
        raise InvalidOptionError(
            f"min_pixels ({min_pixels:,}) is above max_pixels ({max_pixels:,}); swap them or raise max_pixels"
        )


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int,
    min_pixels: int,
    max_pixels: int,
    max_ratio: float = 200,
    source: str = "image",
) -> tuple[int, int]:
    """Resize target for Qwen2-VL-style models: both sides multiples of `factor`, area within
    [min_pixels, max_pixels], aspect ratio kept as closely as the rounding allows.

    The over/under test uses the rounded size, but the rescale uses the original size (as the
    reference does). A side that rounds to 0 is not an error: the area is then below min_pixels and
    the ceil branch scales it up (transformers 4.57+ behaviour; older releases raised).
    """
    if height <= 0 or width <= 0:
        raise EmptyImageError(source, (height, width))
    if max(height, width) / min(height, width) > max_ratio:
        raise AspectRatioError(source, (height, width), max_ratio)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def smart_resize_qwen_vl_utils(
    height: int,
    width: int,
    *,
    factor: int,
    min_pixels: float,
    max_pixels: float,
    max_ratio: float = 200,
    source: str = "image",
) -> tuple[int, int]:
    """qwen-vl-utils 0.0.14's `smart_resize` (vision_process.py), which differs from transformers' in two
    places that change real sizes:

    * the first rounding is clamped to at least `factor` (`max(factor, round_by_factor(...))`), so a
      side under factor/2 is not sent to the upscaling branch: 10 x 2000 at factor 28 stays 28 x 1988
      here, while transformers scales it to 28 x 812;
    * the downscaling branch has no `max(factor, ...)` clamp, so a thin frame under a small max_pixels
      floors a side to 0. The reference then fails inside torchvision's resize; mmtok raises here.

    Limits may be floats (qwen-vl-utils' video budget is `total_pixels / nframes * 2`), compared as is.
    """
    if height <= 0 or width <= 0:
        raise EmptyImageError(source, (height, width))
    if max_pixels < min_pixels:  # the reference asserts this
        raise InvalidOptionError(
            f"min_pixels ({min_pixels:,}) is above max_pixels ({max_pixels:,}); lower min_pixels or raise max_pixels"
        )
    if max(height, width) / min(height, width) > max_ratio:
        raise AspectRatioError(source, (height, width), max_ratio)
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
        if h_bar == 0 or w_bar == 0:
            raise InvalidOptionError(
                f"{source}: height x width = {height} x {width} resized within max_pixels={max_pixels:,.0f} gives "
                f"{h_bar} x {w_bar}, a zero side (qwen-vl-utils 0.0.14 has no clamp there and fails on it); "
                "raise max_pixels / total_pixels, or pad the frames to a less extreme aspect ratio"
            )
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def video_smart_resize(
    num_frames: int,
    height: int,
    width: int,
    *,
    temporal_factor: int,
    factor: int,
    min_pixels: int,
    max_pixels: int,
    max_ratio: float = 200,
    source: str = "video",
) -> tuple[int, int]:
    """transformers 5.23's Qwen3-VL video `smart_resize` (models/qwen3_vl/video_processing_qwen3_vl.py):
    the pixel budget is over frames x height x width (T rounded to the temporal factor for the test,
    unrounded for the scale), so every frame of a short clip gets more pixels than of a long one.

    Sides under `factor` are first scaled up with int() truncation (5.x; 4.57 raised instead).
    """
    if height <= 0 or width <= 0:
        raise EmptyImageError(source, (height, width))
    if num_frames < temporal_factor:
        raise InvalidOptionError(
            f"{source}: {num_frames} frame(s) to resize, fewer than the temporal patch size {temporal_factor} "
            "(the reference raises); sample at least that many frames"
        )
    if height < factor or width < factor:
        scale = max(factor / height, factor / width)
        height = int(height * scale)
        width = int(width * scale)
    if max(height, width) / min(height, width) > max_ratio:
        raise AspectRatioError(source, (height, width), max_ratio)
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    t_bar = round(num_frames / temporal_factor) * temporal_factor
    if t_bar * h_bar * w_bar > max_pixels:
        beta = math.sqrt((num_frames * height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif t_bar * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (num_frames * height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


# -- LLaVA-NeXT "anyres" (shared by llava-next and llava-onevision) ------------------------------------
# transformers 5.23 `image_processing_utils.select_best_resolution` / `get_patch_output_size` and
# `LlavaNextProcessor._get_unpadded_features`, expression for expression: the float divisions decide
# ties and truncations (e.g. the unpad rounds to 7 decimals before int(), as the model's unpad_image).


def anyres_best_resolution(size: tuple[int, int], resolutions) -> tuple[int, int]:
    """The (height, width) canvas of `resolutions` that keeps the most of an image of `size` (pixels
    not upscaled past the original), the least wasted canvas breaking ties, the first one winning."""
    height, width = size
    best, best_effective, best_wasted = None, 0, float("inf")
    for res_h, res_w in resolutions:
        scale = min(res_w / width, res_h / height)
        effective = min(int(width * scale) * int(height * scale), width * height)
        wasted = res_w * res_h - effective
        if effective > best_effective or (effective == best_effective and wasted < best_wasted):
            best, best_effective, best_wasted = (res_h, res_w), effective, wasted
    return best


def anyres_fit(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The size an image of `size` is resized to inside the `target` canvas, aspect ratio kept: the
    tighter side fills it, the other is ceil()-ed (and capped at the canvas)."""
    height, width = size
    target_h, target_w = target
    scale_w, scale_h = target_w / width, target_h / height
    if scale_w < scale_h:
        return min(math.ceil(height * scale_w), target_h), target_w
    return target_h, min(math.ceil(width * scale_h), target_w)


def anyres_unpadded_grid(size: tuple[int, int], grid: tuple[int, int]) -> tuple[int, int]:
    """The feature grid (rows, cols) left when the rows or columns that saw only the canvas padding of
    an image of `size` are cut from a `grid` of features; as much is cut from both ends."""
    height, width = size
    rows, cols = grid
    if width / height > cols / rows:
        new_rows = int(round(height * (cols / width), 7))
        rows -= (rows - new_rows) // 2 * 2
    else:
        new_cols = int(round(width * (rows / height), 7))
        cols -= (cols - new_cols) // 2 * 2
    return rows, cols


def shortest_edge_resize(height: int, width: int, shortest_edge: int) -> tuple[int, int]:
    """The size whose shorter side is `shortest_edge`, aspect ratio kept: transformers'
    `get_resize_output_image_size(..., default_to_square=False)` (image_transforms.py, 5.23), itself
    torchvision's Resize(int) rule. The long side is int(shortest_edge * long / short), truncated, not
    rounded; a square stays square."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shortest_edge * long / short)
    return (new_long, shortest_edge) if width <= height else (shortest_edge, new_long)
