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
