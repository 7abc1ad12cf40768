"""Qwen2-VL pixel values: bit-identical to transformers' Qwen2VLImageProcessorPil in this environment."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import ImageModeError
from conftest import QWEN_MODELS, reference_image_processor


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape
    # compare bits, not values: -0.0 == 0.0 and NaN != NaN would hide differences
    mismatched = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert mismatched == 0, f"{mismatched} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


def check(image, ref_processor=None, model="qwen2-vl", **limits):
    ref_processor = ref_processor or reference_image_processor(model, **limits)
    ref = ref_processor(image, return_tensors="np")
    proc = mmtok.get_processor(model, **limits)
    mine = proc.preprocess_images([image])
    assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
    assert mine["image_grid_thw"].dtype == np.int64
    np.testing.assert_array_equal(mine["image_grid_thw"], ref["image_grid_thw"])
    # the plan from the size alone agrees with what the pixel path produced
    plan = proc.plan(image)
    assert list(plan.grid_thw) == ref["image_grid_thw"][0].tolist()
    assert plan.patches == ref["pixel_values"].shape[0]
    return mine


@pytest.mark.parametrize("model", QWEN_MODELS)
def test_sample_photos_bit_identical(photos, model):
    ref_processor = reference_image_processor(model)
    for name, array in photos:
        check(Image.fromarray(array), ref_processor, model)
        if array.ndim == 3:
            check(array, ref_processor, model)  # numpy input too
        else:
            # the reference cannot tell a 2-D array's channels; mmtok reads it as grayscale (mode "L")
            ref = ref_processor(Image.fromarray(array, "L"), return_tensors="np")
            mine = mmtok.get_processor(model).preprocess_images([array])
            assert_bit_identical(mine["pixel_values"], ref["pixel_values"])


def test_sample_photo_files_as_paths(photo_files, ref_image_processor):
    """A path goes through transformers' load_image (EXIF transpose, convert) before the processor."""
    from transformers.image_utils import load_image

    for path in photo_files:
        ref = ref_image_processor(load_image(str(path)), return_tensors="np")
        mine = mmtok.get_processor("qwen2-vl").preprocess_images([str(path)])
        assert_bit_identical(mine["pixel_values"], ref["pixel_values"])


def _noise(rng, h, w, c=3):
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8) if c > 1 else rng.integers(0, 256, (h, w), dtype=np.uint8)


def generated_images(rng):
    """Several hundred images: random sizes, tiny and thin ones, every Pillow mode users meet."""
    sizes = [(1, 1), (1, 50), (50, 1), (1, 200), (200, 1), (10, 10), (13, 13), (27, 29), (28, 28), (56, 56)]
    sizes += [(70, 70), (2, 399), (399, 2), (3, 599), (600, 3)]  # aspect ratio just under 200
    sizes += [(int(h), int(w)) for h, w in rng.integers(1, 400, size=(200, 2)) if max(h, w) / min(h, w) <= 200]
    sizes += [(int(h), int(w)) for h, w in rng.integers(400, 1500, size=(12, 2))]
    for h, w in sizes:
        yield Image.fromarray(_noise(rng, h, w), "RGB")
    modes = ["L", "LA", "P", "PA", "RGBA", "CMYK", "1", "I;16", "I", "F", "YCbCr", "HSV", "La", "RGBa"]
    for mode in modes:
        for h, w in rng.integers(1, 300, size=(8, 2)):
            base = Image.fromarray(_noise(rng, int(h), int(w), 4), "RGBA")
            if mode == "P":
                yield base.convert("RGB").quantize(64)
            elif mode == "PA":
                p = base.convert("RGB").quantize(64)
                p.info["transparency"] = 3  # a transparent palette entry
                yield p
            elif mode == "I;16":
                yield Image.fromarray(rng.integers(0, 65536, (int(h), int(w)), dtype=np.uint16))  # mode I;16
            elif mode == "I":
                yield Image.fromarray(rng.integers(-(2**20), 2**20, (int(h), int(w)), dtype=np.int32))  # mode I
            elif mode == "F":
                yield Image.fromarray(rng.random((int(h), int(w)), dtype=np.float32) * 300)  # mode F
            else:
                yield base.convert(mode)


@pytest.mark.parametrize("model", QWEN_MODELS)
def test_generated_images_bit_identical(model):
    # Qwen2.5-VL shares Qwen2-VL's settings, so it gets a quarter of the images
    ref_image_processor = reference_image_processor(model)
    rng = np.random.default_rng(20261122)
    count = 0
    for n, image in enumerate(generated_images(rng)):
        if model == "qwen2.5-vl" and n % 4:
            continue
        try:
            ref_image_processor(image, return_tensors="np")
        except ValueError as exc:  # Pillow cannot convert "La" to RGB: the reference fails, mmtok names it
            assert "conversion from" in str(exc)
            with pytest.raises(ImageModeError, match=image.mode):
                mmtok.get_processor(model).preprocess_images([image])
            continue
        check(image, ref_image_processor, model)
        count += 1
    assert count > (75 if model == "qwen2.5-vl" else 300)


def test_large_8000x6000(ref_image_processor):
    """48 M pixels, over the 12.8 M pixel budget: scaled down by the floor branch."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (75, 100, 3), dtype=np.uint8)  # smooth content compresses the test's time
    image = Image.fromarray(small).resize((8000, 6000), Image.Resampling.BILINEAR)
    mine = check(image, ref_image_processor)
    assert mine.plans[0].size == (6000, 8000)


@pytest.mark.parametrize("limits", [{"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280}, {"min_pixels": 256 * 28 * 28, "max_pixels": 512 * 28 * 28}])
def test_other_limits(limits, photos):
    ref = reference_image_processor(**limits)
    for _, array in photos[:3]:
        check(Image.fromarray(array), ref, **limits)


def test_alpha_policies_named():
    """The three RGB policies differ exactly where the references do: transparent pixels."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[:20, :, 3] = 255  # top half opaque, bottom half fully transparent
    image = Image.fromarray(rgba, "RGBA")
    buf = io.BytesIO()
    image.save(buf, "PNG")
    from mmtok.vision.io import load_rgb

    composite = np.asarray(load_rgb(image))  # PIL input, reference: composite on white
    plain_path = np.asarray(load_rgb(buf.getvalue()))  # bytes input, reference: load_image's plain convert
    forced = np.asarray(load_rgb(image, rgb="convert"))
    assert composite[30, 0].tolist() == [255, 255, 255]
    assert plain_path[30, 0].tolist() == [10, 20, 30]
    assert forced[30, 0].tolist() == [10, 20, 30]
    assert composite[0, 0].tolist() == plain_path[0, 0].tolist() == [10, 20, 30]


def test_exif_orientation_path_matches_load_image(tmp_path, ref_image_processor):
    from transformers.image_utils import load_image

    rng = np.random.default_rng(3)
    for orientation in range(1, 9):
        image = Image.fromarray(_noise(rng, 60, 100))
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"o{orientation}.jpg"
        image.save(path, exif=exif.tobytes())
        ref = ref_image_processor(load_image(str(path)), return_tensors="np")
        proc = mmtok.get_processor("qwen2-vl")
        mine = proc.preprocess_images(str(path))
        assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
        assert proc.plan(str(path)).grid_thw == tuple(ref["image_grid_thw"][0].tolist())
