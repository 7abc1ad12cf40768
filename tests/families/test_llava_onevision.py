"""LLaVA-OneVision against transformers 5.23's LlavaOnevisionProcessor + LlavaOnevisionImageProcessorPil
with the llava-hf/llava-onevision-qwen2-7b-ov-hf settings (see reference_llava_next)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family
from reference_llava_next import (
    assert_same_output,
    generated_images,
    llava_onevision_processor,
    sizes,
    tiny_tokenizer,
)

PAD = "<|endoftext|>"  # the Qwen2 tokenizer's pad token


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    return tmp_path_factory.mktemp("llava_onevision") / "tokenizer.json"


@pytest.fixture(scope="module")
def reference(tokenizer_file):
    family = get_family("llava-onevision")
    return llava_onevision_processor(tiny_tokenizer(tokenizer_file, [*family.special_tokens, "<video>", PAD], pad=PAD))


@pytest.fixture(scope="module")
def processor(reference, tokenizer_file):
    return mmtok.get_processor("llava-onevision", tokenizer=str(tokenizer_file))


def test_plans_equal_the_reference_counts(reference):
    """Tokens from the processor's own counting (_get_num_multimodal_tokens), canvas and fitted size
    from select_best_resolution / get_patch_output_size, on ~3,700 sizes (1 x N, N x 1, 30,000 px)."""
    from transformers.image_processing_utils import get_patch_output_size, select_best_resolution

    family = get_family("llava-onevision")
    all_sizes = sizes()
    expected = reference._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    pinpoints = reference.image_processor.image_grid_pinpoints
    downsampled = 0
    for (h, w), tokens in zip(all_sizes, expected):
        plan = family.plan_size((h, w))
        canvas = select_best_resolution((h, w), pinpoints)
        fitted = get_patch_output_size(np.zeros((1, h, w), np.uint8), canvas, input_data_format="channels_first")
        assert (plan.tokens, plan.details["canvas"], plan.details["fitted"]) == (tokens, list(canvas), list(fitted)), (h, w)
        assert plan.tiles == 1 + (canvas[0] // 384) * (canvas[1] // 384)
        downsampled += plan.details["feature_grid"] != plan.details["unpadded_grid"]
    assert downsampled > 1000  # the anyres_max_9 budget was exercised


def test_research_vectors():
    # research/families.md §3, cross-checked there against 5.23: 1024 x 899 is the HF conversion script's image
    family = get_family("llava-onevision")
    for (w, h), tokens in {(384, 384): 1485, (316, 500): 1905, (1024, 899): 6551, (800, 200): 2451}.items():
        assert family.plan_size((h, w)).tokens == tokens


def test_photos_and_generated_images_match_the_reference(processor, reference, photos):
    """pixel_values bit for bit, image_sizes, batch_num_images, input_ids, attention_mask,
    mm_token_type_ids: 7 scikit-image photos and 9 generated images, a flat images list (one image per
    sample for the reference, however many the prompt holds) in a padded batch of two prompts."""
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    texts = ["<image>" * len(photos) + " describe", "".join(f"pic {i}: <image>\n" for i in range(len(images) - len(photos)))]
    ref = reference(text=texts, images=images, padding=True, return_tensors="np", return_mm_token_type_ids=True)
    mine = processor.encode_text(texts, images)
    assert_same_output(mine, ref)
    for plan, (h, w) in zip(mine.plans, mine["image_sizes"].tolist()):
        assert plan == processor.family.plan_size((h, w), plan.source)


def test_photo_files_as_paths(processor, reference, photo_files):
    for path in photo_files[:4]:
        ref = reference(text="<image> hi", images=[str(path)], return_tensors="np", return_mm_token_type_ids=True)
        assert_same_output(processor.encode_text("<image> hi", [str(path)]), ref)


def test_large_image_past_the_feature_budget(processor, reference):
    """The largest canvas, 2304 x 2304 (36 tiles + base): the feature map is shrunk to the budget."""
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (2304, 2200, 3), dtype=np.uint8))
    ref = reference(text="<image>", images=[image], return_tensors="np", return_mm_token_type_ids=True)
    mine = processor.encode_text("<image>", [image])
    assert_same_output(mine, ref)
    plan = mine.plans[0]
    assert plan.tiles == 37 == mine["pixel_values"].shape[1]
    rows, cols = plan.details["unpadded_grid"]
    ratio = math.sqrt(rows * cols / (9 * 729))
    assert ratio > 1.1 and plan.details["feature_grid"] == [int(rows // ratio), int(cols // ratio)]


def test_multi_image_samples(tokenizer_file, reference, photos):
    """multi_image=True is the reference called with nested images, [[a, b, ...]]: padded to a square
    with (127, 127, 127), one 384 tile each, 729 + 1 tokens."""
    proc = mmtok.get_processor("llava-onevision", tokenizer=str(tokenizer_file), multi_image=True)
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    text = "compare " + " and ".join("<image>" for _ in images)
    ref = reference(text=[text], images=[images], return_tensors="np", return_mm_token_type_ids=True)
    mine = proc.encode_text(text, images)
    assert_same_output(mine, ref)
    assert mine["pixel_values"].shape == (len(images), 1, 3, 384, 384)
    assert {p.tokens for p in mine.plans} == {730}
    assert all(proc.family.plan_size(s).tokens == 730 for s in sizes()[:200])
    with pytest.raises(InvalidOptionError):
        proc.encode_text("<image>", images[:1])  # the reference tiles a sample's lone image


def test_bad_input_and_options():
    family = get_family("llava-onevision")
    with pytest.raises(EmptyImageError):
        family.plan_size((5, 0))
    for bad in ({"vision_aspect_ratio": "anyres"}, {"multi_image": "yes"}, {"min_pixels": 5}, {"image_grid_pinpoints": []}):
        with pytest.raises(InvalidOptionError):
            get_family("llava-onevision", **bad)
    assert get_family("llava-hf/llava-onevision-qwen2-7b-ov-hf").name == "llava-onevision"
    smaller_budget = get_family("llava-onevision", vision_aspect_ratio="anyres_max_4")
    assert smaller_budget.plan_size((2000, 2000)).tokens < family.plan_size((2000, 2000)).tokens


def test_other_feature_budget(tokenizer_file, reference):
    """vision_aspect_ratio="anyres_max_4", set on the reference processor alike."""
    ref = llava_onevision_processor(reference.tokenizer)
    ref.vision_aspect_ratio = "anyres_max_4"
    family = get_family("llava-onevision", vision_aspect_ratio="anyres_max_4")
    all_sizes = sizes()[:1500]
    counts = ref._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    assert [family.plan_size(s).tokens for s in all_sizes] == counts
