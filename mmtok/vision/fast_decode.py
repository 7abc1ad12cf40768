"""Opt-in fast JPEG decode: DCT-domain downscaling (libjpeg's scaled IDCT) before the exact resize.

Never the default: the pixels differ from the reference's (which decodes at full size, then resizes
with Pillow's bicubic filter), although the plan, the grid and the token count do not, since they come
from the header's size. Pillow's `Image.draft` makes libjpeg decode at 1/2, 1/4 or 1/8 of the stored
size, the smallest of those still at least the target; the exact bicubic resize then goes from there
to the planned size. It is used only when the target is at most half the stored size in both sides
(otherwise there is no scale to gain) and only for JPEGs; anything else decodes exactly.

Use: `processor.preprocess_images(images, jpeg_draft=True)` (Qwen2-VL-style families), or
`io.load_rgb(source, draft=(height, width))` with the size the image will be resized to.

Measured on the scikit-image photos (astronaut, chelsea, coffee, rocket, immunohistochemistry)
enlarged to 12 MP (4000x3000, bicubic, JPEG quality 90), Qwen2-VL, one core, load 1.3-1.6, best of 3
(`python -m mmtok.vision.fast_decode [MAX_PIXELS ...]` prints them):

    max_pixels   tokens   exact s/image   draft s/image   speed-up   max |diff|   mean |diff|   99.9%
      200,704       256       0.118           0.022          5.3x       0.088       0.0040      0.044
    1,003,520     1,280       0.117           0.050          2.3x       0.085       0.0029      0.029
    3,010,560     3,840       0.148           0.082          1.8x       0.142       0.0039      0.043

(decode + features; |diff| is over pixel_values, in normalised units, where one uint8 step is
~0.015; plan, image_grid_thw and tokens are identical in every case.) The checkpoint's default
budget (12,845,056 pixels) never drafts a 12 MP photo: its target is more than half the size.
"""

from __future__ import annotations

import io
from typing import Any

#: tests hold the draft path to this (max |pixel_values difference| measured above, plus margin)
MAX_DEVIATION = 0.25


def open_draft(data: str | bytes, size: tuple[int, int], *, exif_transpose: bool):
    """`data` (a path or encoded bytes) opened with a draft decode to at least `size` (height, width,
    as displayed, i.e. after the EXIF rotation when `exif_transpose`), and loaded; None when it is
    not a JPEG, the target is more than half its size, or anything goes wrong (the exact path then
    decodes it and reports the error as usual)."""
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
        if image.format != "JPEG":
            image.close()
            return None
        height, width = size
        if exif_transpose and image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            height, width = width, height  # the stored image is rotated a quarter turn
        if 2 * height > image.height or 2 * width > image.width:
            image.close()
            return None
        image.draft("RGB", (width, height))  # Pillow picks the largest 1/2^k scale still >= the size
        image.load()
        return image
    except Exception:  # noqa: BLE001 - the exact decode that follows raises the right typed error
        return None


def draft_image_features(family, image: Any):
    """(rows, plan) for one image with the draft decode: the plan from the header (so the token
    count is the exact one), the pixels from a draft-decoded image resized to the planned size.
    For families whose `image_features` resizes to `plan.resized` (the Qwen families)."""
    from .io import load_rgb

    plan = family.plan(image)
    rgb = load_rgb(image, rgb=family.rgb, exif_transpose=family.exif_transpose, draft=plan.resized)
    return family.image_features(rgb, plan), plan


def check_family(family) -> None:
    """Refuse families `preprocess_one` does not know how to lay out."""
    from ..errors import InvalidOptionError
    from .families.qwen2_vl import QwenVLFamily

    if not isinstance(family, QwenVLFamily):
        raise InvalidOptionError(f"jpeg_draft is implemented for the Qwen2-VL-style families only, not {family.name}")


def preprocess_one(family, image: Any) -> tuple[dict, list]:
    """family.preprocess_images([image]) with the draft decode, for the Qwen2-VL-style families (whose
    output is the image's patch rows and its grid); mmtok.parallel joins these into a batch."""
    import numpy as np

    rows, plan = draft_image_features(family, image)
    return {"pixel_values": rows, "image_grid_thw": np.array([plan.grid_thw], dtype=np.int64)}, [plan]


def _measure(max_pixels: int) -> None:
    """Print the numbers the module docstring quotes."""
    import time

    import numpy as np
    from PIL import Image
    from skimage import data

    from .families import get_family

    family = get_family("qwen2-vl", max_pixels=max_pixels)
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    worst, means, tails, exact_t, draft_t = 0.0, [], [], [], []
    for photo in photos:
        buf = io.BytesIO()
        Image.fromarray(photo).resize((4000, 3000), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
        blob = buf.getvalue()
        times = {"exact": [], "draft": []}
        for _ in range(3):
            start = time.perf_counter()
            exact = family.preprocess_images([blob])
            times["exact"].append(time.perf_counter() - start)
            start = time.perf_counter()
            rows, plan = draft_image_features(family, blob)
            times["draft"].append(time.perf_counter() - start)
        assert plan == exact[1][0] and rows.shape == exact[0]["pixel_values"].shape
        diff = np.abs(rows - exact[0]["pixel_values"])
        worst, means, tails = max(worst, float(diff.max())), [*means, float(diff.mean())], [*tails, float(np.quantile(diff, 0.999))]
        exact_t.append(min(times["exact"]))
        draft_t.append(min(times["draft"]))
    print(f"max_pixels {max_pixels:,}: exact {np.mean(exact_t):.3f} s, draft {np.mean(draft_t):.3f} s per image ({np.mean(exact_t) / np.mean(draft_t):.1f}x)")
    print(f"max |diff| {worst:.3f}, mean {np.mean(means):.4f}, 99.9th percentile {max(tails):.3f}")


if __name__ == "__main__":
    import sys

    for budget in sys.argv[1:] or ["1003520"]:
        _measure(int(budget))
