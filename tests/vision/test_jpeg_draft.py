"""The opt-in draft JPEG decode: off by default (bit-identical), on = same plan, bounded deviation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mmtok.vision import fast_decode
from mmtok.vision.families import get_family
from mmtok.vision.io import load_rgb

SMALL_BUDGET = 256 * 28 * 28  # a 2,000 x 1,500 photo's target is then well under half its size


def jpeg(size=(2000, 1500), orientation: int | None = None, fmt: str = "JPEG") -> bytes:
    from skimage import data

    image = Image.fromarray(data.chelsea()).resize(size, Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buf, fmt, quality=90, exif=exif)
    else:
        image.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def test_off_by_default_is_the_exact_decode():
    blob = jpeg()
    exact = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))
    assert np.array_equal(np.asarray(load_rgb(blob)), exact)
    assert np.array_equal(np.asarray(load_rgb(blob, draft=None)), exact)


@pytest.mark.parametrize("orientation", [None, 6])
def test_on_keeps_plan_and_tokens_within_the_measured_bound(orientation):
    family = get_family("qwen2-vl", max_pixels=SMALL_BUDGET)
    blob = jpeg(orientation=orientation)
    (exact, plans) = family.preprocess_images([blob])
    rows, plan = fast_decode.draft_image_features(family, blob)
    assert plan == plans[0]  # the plan comes from the header: tokens and grid are the exact ones
    assert rows.shape == exact["pixel_values"].shape and rows.dtype == exact["pixel_values"].dtype
    deviation = float(np.abs(rows - exact["pixel_values"]).max())
    assert 0 < deviation <= fast_decode.MAX_DEVIATION
    drafted = load_rgb(blob, draft=plan.resized)
    assert plan.resized[0] <= drafted.height < plan.size[0] and plan.resized[1] <= drafted.width < plan.size[1]


def test_not_drafted_when_the_target_is_over_half_or_not_a_jpeg():
    blob = jpeg()
    exact = np.asarray(load_rgb(blob))
    assert load_rgb(blob, draft=(750, 1000)).size == (1000, 750)  # exactly half: drafted
    assert np.array_equal(np.asarray(load_rgb(blob, draft=(751, 1000))), exact)  # a side over half: exact
    png = jpeg((600, 450), fmt="PNG")
    assert np.array_equal(np.asarray(load_rgb(png, draft=(100, 100))), np.asarray(load_rgb(png)))


def test_bad_files_still_raise_the_typed_error():
    from mmtok.errors import NotAnImageError, TruncatedImageError

    with pytest.raises(NotAnImageError):
        load_rgb(b"not an image", draft=(10, 10))
    with pytest.raises(TruncatedImageError):
        load_rgb(jpeg()[:5000], draft=(10, 10))


def test_processor_option_batches_with_the_exact_plans():
    import mmtok
    import mmtok.parallel
    from mmtok.errors import InvalidOptionError

    processor = mmtok.get_processor("qwen2-vl", max_pixels=SMALL_BUDGET)
    batch = [jpeg(), jpeg((1600, 2400)), jpeg((600, 450), fmt="PNG")]  # the PNG decodes exactly
    exact = processor.preprocess_images(batch)
    fast = processor.preprocess_images(batch, workers=2, jpeg_draft=True)
    assert fast.plans == exact.plans
    assert np.array_equal(fast["image_grid_thw"], exact["image_grid_thw"])
    assert fast["pixel_values"].shape == exact["pixel_values"].shape
    assert np.abs(fast["pixel_values"] - exact["pixel_values"]).max() <= fast_decode.MAX_DEVIATION
    with pytest.raises(InvalidOptionError):
        mmtok.parallel.preprocess_images(get_family("llava-1.5"), batch, jpeg_draft=True)
