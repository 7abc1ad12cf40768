"""The "internvl" family against transformers 5.23 (InternVLProcessor + GotOcr2ImageProcessorPil) and against
OpenGVLab's own dynamic_preprocess / load_image (transcribed in reference_internvl.py)."""

from __future__ import annotations

import numpy as np
import pytest
import reference_internvl as gvl
from PIL import Image
from reference_tokenizers import build_tiny_tokenizer_json

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from mmtok.vision.families import get_family

# OpenGVLab/InternVL3-1B-hf preprocessor_config.json (GotOcr2ImageProcessor), as given in
# research/families.md section 4: 448 x 448 tiles, 1 to 12 patches, ImageNet mean / std, bicubic, 1/255.
# The checkpoint leaves crop_to_patches off; InternVLProcessor turns it on (its images_kwargs default).
IMAGE_KWARGS = dict(
    size={"height": 448, "width": 448},
    crop_to_patches=False,
    min_patches=1,
    max_patches=12,
    image_mean=[0.485, 0.456, 0.406],
    image_std=[0.229, 0.224, 0.225],
    resample=3,
)
# InternVL3-1B-hf tokenizer_config.json extra special tokens (InternVLProcessor reads them as attributes)
EXTRA_TOKENS = {
    "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"
}  # fmt: skip


def sizes() -> list[tuple[int, int]]:
    """(height, width): extreme ones, exact aspect ratios of candidate grids and their midpoints, random."""
    rng = np.random.default_rng(4)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (448, 448), (1080, 1920), (20000, 20000), (7, 9000)]
    out += [(100 * r, 100 * c) for r in range(1, 13) for c in range(1, 13)]
    out += [(400 * 2, 400 * 5), (1000, 2500), (100, 250), (800, 1000), (1000, 800), (224, 1000), (480, 640)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(2000, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(1000, 2))).astype(int) + 1]
    return out


@pytest.fixture(scope="module")
def ref_image_processor():
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(**IMAGE_KWARGS)


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    family = get_family("internvl")
    path = tmp_path_factory.mktemp("internvl") / "tokenizer.json"
    return build_tiny_tokenizer_json(path, list(family.special_tokens) + ["<video>"])


@pytest.fixture(scope="module")
def ref_processor(ref_image_processor, tokenizer_file):
    from transformers import InternVLProcessor, PreTrainedTokenizerFast

    class Offline(InternVLProcessor):
        # the video processor's class check needs torchvision; no video processor is passed
        def check_argument_for_proper_class(self, name, arg):
            return arg

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file), extra_special_tokens=EXTRA_TOKENS)
    return Offline(image_processor=ref_image_processor, tokenizer=tokenizer, video_processor=None, image_seq_length=256)


@pytest.fixture(scope="module")
def proc(tokenizer_file):
    return mmtok.get_processor("internvl", tokenizer=str(tokenizer_file))


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    differ = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert differ == 0, f"{differ} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


# -- plan ------------------------------------------------------------------------------------------


def test_published_counts():
    """research/families.md section 4 test vectors (width x height -> tiles)."""
    family = get_family("internvl")
    for (w, h), tiles in {(448, 448): 1, (1000, 1000): 10, (1920, 1080): 9, (800, 200): 5, (640, 480): 13}.items():
        plan = family.plan_size((h, w))
        assert (plan.tiles, plan.tokens, plan.total) == (tiles, 256 * tiles, 256 * tiles + 2)
    assert get_family("internvl", max_tiles=6).plan_size((1024, 1024)).tiles == 5
    assert get_family("internvl").plan_size((1000, 1000)).details == {"grid": [3, 3], "thumbnail": True}


@pytest.mark.parametrize("min_tiles,max_tiles", [(1, 12), (1, 6), (1, 1), (2, 12), (4, 4), (3, 9)])
def test_plans_match_transformers(ref_processor, ref_image_processor, min_tiles, max_tiles):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

    family = get_family("internvl", min_tiles=min_tiles, max_tiles=max_tiles)
    kwargs = {"crop_to_patches": True, "min_patches": min_tiles, "max_patches": max_tiles}
    all_sizes = sizes()
    counted = ref_processor._get_num_multimodal_tokens(image_sizes=all_sizes, **kwargs)
    for (h, w), total, patches in zip(all_sizes, counted["num_image_tokens"], counted["num_image_patches"]):
        plan = family.plan_size((h, w))
        assert (plan.total, plan.tiles, plan.tokens) == (total, patches, 256 * patches), (h, w)
        if max_tiles > 1:
            cols, rows = get_optimal_tiled_canvas((h, w), (448, 448), min_tiles, max_tiles)
            assert plan.details["grid"] == [rows, cols], (h, w)


@pytest.mark.parametrize("min_tiles,max_tiles", [(1, 12), (1, 6), (2, 12), (4, 4), (5, 5), (6, 7), (8, 9), (9, 9), (10, 11)])
def test_plans_match_opengvlab(min_tiles, max_tiles):
    family = get_family("internvl", min_tiles=min_tiles, max_tiles=max_tiles, tiler="opengvlab")
    for h, w in sizes():
        cols, rows = gvl.closest_grid(w, h, min_tiles, max_tiles)
        assert family.plan_size((h, w)).details["grid"] == [rows, cols], (h, w)


def test_tilers_differ_only_on_same_count_ties():
    """With min_tiles = max_tiles = 4 a 2500 x 1000 image ties 2 x 2 with 4 x 1; the candidate orders differ."""
    hf = get_family("internvl", min_tiles=4, max_tiles=4)
    orig = get_family("internvl", min_tiles=4, max_tiles=4, tiler="opengvlab")
    assert hf.plan_size((1000, 2500)).details["grid"] == [1, 4]
    assert orig.plan_size((1000, 2500)).details["grid"] == [2, 2] and gvl.closest_grid(2500, 1000, 4, 4) == (2, 2)
    # with the checkpoint's 1..12 the two never disagree
    default, original = get_family("internvl"), get_family("internvl", tiler="opengvlab")
    assert all(default.plan_size(s) == original.plan_size(s) for s in sizes())


def test_bad_options_and_sizes():
    with pytest.raises(InvalidOptionError):
        get_family("internvl", tiler="hf")
    with pytest.raises(InvalidOptionError):
        get_family("internvl", min_tiles=5, max_tiles=4)
    with pytest.raises(InvalidOptionError):
        get_family("internvl", max_tiles=0)
    with pytest.raises(EmptyImageError):
        get_family("internvl").plan_size((0, 10))


# -- pixels ----------------------------------------------------------------------------------------


def generated_images():
    rng = np.random.default_rng(8)
    shapes = [(20, 900), (700, 90), (5, 5), (448, 448), (300, 1200), (1000, 2500), (97, 131)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]
    images.append(Image.fromarray(rng.integers(0, 256, (60, 80), dtype=np.uint8), mode="L"))
    images.append(Image.fromarray(rng.integers(0, 256, (64, 48, 4), dtype=np.uint8), mode="RGBA"))
    return images


def test_pixels_match_transformers(proc, ref_image_processor, photos, photo_files):
    from transformers.image_utils import load_image

    cases = [(Image.fromarray(a), Image.fromarray(a)) for _, a in photos] + [(im, im) for im in generated_images()]
    cases += [(str(p), load_image(str(p))) for p in photo_files[:4]]
    for mine_input, ref_input in cases:
        ref = ref_image_processor([ref_input], crop_to_patches=True, return_tensors="np")
        mine = proc.preprocess_images([mine_input])
        assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
        assert mine["num_patches"].tolist() == np.asarray(ref["num_patches"]).tolist() == [mine.plans[0].tiles]


def test_pixels_match_opengvlab_load_image(tmp_path, photos):
    tokenizer = build_tiny_tokenizer_json(tmp_path / "t.json", ["<img>", "</img>", "<IMG_CONTEXT>"])
    proc = mmtok.get_processor("internvl", tiler="opengvlab", tokenizer=str(tokenizer))
    rgba = tmp_path / "rgba.png"
    generated_images()[-1].save(rgba)
    inputs = [Image.fromarray(a) for _, a in photos[:4]] + generated_images()[:4] + [str(rgba)]
    for image in inputs:
        ref = gvl.load_image(image)
        assert_bit_identical(proc.preprocess_images([image])["pixel_values"], ref)
    # min_tiles > 1 on a same-count tie: the OpenGVLab grid, pixels included
    tie = generated_images()[5]  # 2500 x 1000
    proc4 = mmtok.get_processor("internvl", tiler="opengvlab", min_tiles=4, max_tiles=4, tokenizer=proc.tokenizer)
    assert_bit_identical(proc4.preprocess_images([tie])["pixel_values"], gvl.load_image(tie, min_num=4, max_num=4))


# -- sequence --------------------------------------------------------------------------------------


def test_sequences_match_transformers(proc, ref_processor, photos):
    rng = np.random.default_rng(3)
    small = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(30, 500), (448, 448), (90, 60)]]
    photo = Image.fromarray(photos[1][1])
    prompts = [
        ("<IMG_CONTEXT>", [small[1]]),
        ("Describe <IMG_CONTEXT>\nin detail, café.", [photo]),
        ("Image-1: <IMG_CONTEXT>\nImage-2: <IMG_CONTEXT>\nWhich is wider?", [small[0], small[2]]),
        ("<|im_start|>user\n<IMG_CONTEXT>\nWhat?<|im_end|>", [small[0]]),
    ]
    for text, images in prompts:
        ref = ref_processor(text=text, images=images, return_tensors="np")
        mine = proc.encode_text(text, images)
        assert set(ref) == {"input_ids", "attention_mask", "pixel_values"}
        for key in ref:
            assert mine[key].dtype == ref[key].dtype and mine[key].shape == ref[key].shape, key
            if key == "pixel_values":
                assert_bit_identical(mine[key], ref[key])
            else:
                assert np.array_equal(mine[key], ref[key]), key
        image_id = proc.tokenizer.special_tokens["<IMG_CONTEXT>"]
        assert int((mine["input_ids"] == image_id).sum()) == sum(p.tokens for p in mine.plans)
        assert mine["num_patches"].tolist() == [p.tiles for p in mine.plans]


def test_videos_are_refused(proc):
    from mmtok.sequence.pieces import Media

    with pytest.raises(UnsupportedInputError):
        proc.family.expand(Media("video", 0), proc.family.plan_size((448, 448)))
