"""Llama 3.2 Vision (mllama) against transformers 5.23: `MllamaImageProcessorPil`'s own tiling functions
on thousands of sizes, its pixel values bit for bit, and `MllamaProcessor(text=..., images=...)`."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family

# meta-llama/Llama-3.2-11B-Vision-Instruct preprocessor_config.json (research/families.md §10)
CHECKPOINT = dict(
    do_convert_rgb=True, do_normalize=True, do_pad=True, do_rescale=True, do_resize=True,
    image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    max_image_tiles=4, resample=2, rescale_factor=0.00392156862745098, size={"height": 560, "width": 560},
)  # fmt: skip
VISION_IMAGE_SIZE, VISION_PATCH_SIZE = 560, 14  # the checkpoint's config.json vision_config


def reference_image_processor(**overrides):
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    return MllamaImageProcessorPil(**{**CHECKPOINT, **overrides})


def sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(32)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (559, 561), (560, 560), (561, 559),
           (560, 1120), (1120, 560), (1080, 1920), (1920, 1080), (2240, 560), (4000, 3000), (20000, 20000), (7, 9000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(500, 2))).astype(int) + 1]
    return out  # fmt: skip


@pytest.mark.parametrize("max_tiles", [4, 1, 2, 6, 9])
def test_plans_match_the_reference_tiling(max_tiles):
    from transformers.models.mllama.image_processing_pil_mllama import (
        get_all_supported_aspect_ratios,
        get_image_size_fit_to_canvas,
        get_optimal_tiled_canvas,
    )

    family = get_family("mllama", max_image_tiles=max_tiles)
    supported = get_all_supported_aspect_ratios(max_tiles)
    per_tile = (VISION_IMAGE_SIZE // VISION_PATCH_SIZE) ** 2 + 1  # modeling_mllama: num_patches
    checked = sizes() if max_tiles == 4 else sizes()[::4]
    for h, w in checked:
        plan = family.plan_size((h, w))
        canvas = tuple(int(v) for v in get_optimal_tiled_canvas(h, w, max_tiles, 560))
        grid = (canvas[0] // 560, canvas[1] // 560)
        resized = tuple(int(v) for v in get_image_size_fit_to_canvas(h, w, canvas[0], canvas[1], 560))
        assert (tuple(plan.details["canvas"]), tuple(plan.details["resized_image"])) == (canvas, resized), (h, w)
        assert plan.details["aspect_ratio_id"] == supported.index(grid) + 1, (h, w)
        assert plan.tiles == grid[0] * grid[1] and plan.tokens == 1 and plan.total == 1, (h, w)
        assert plan.details["vision_tokens"] == plan.tiles * per_tile, (h, w)
    assert len(checked) > 500


def test_published_examples():
    family = get_family("meta-llama/Llama-3.2-11B-Vision-Instruct")
    # (W, H) -> aspect_ratio_id, research/families.md §10; 1601 per tile: Together AI's billing page
    for (w, h), ratio_id in {(560, 560): 1, (1120, 560): 2, (560, 1120): 5, (640, 480): 2, (1024, 1024): 6,
                             (1920, 1080): 6, (2000, 500): 4}.items():  # fmt: skip
        plan = family.plan_size((h, w))
        assert plan.details["aspect_ratio_id"] == ratio_id, (w, h)
    assert family.plan_size((1080, 1920)).details["vision_tokens"] == 4 * 1601


def _images(photos):
    rng = np.random.default_rng(5)
    images = [Image.fromarray(array) for _, array in photos]
    images += [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(1, 90), (33, 47), (300, 2), (1200, 700)]]
    rgba = rng.integers(0, 256, (150, 1300, 4), dtype=np.uint8)
    images += [Image.fromarray(rgba, "RGBA"), Image.fromarray(rng.integers(0, 256, (61, 2400), dtype=np.uint8), "L")]
    return images


def _as_pil(images):
    """The same pixels for the reference, whose channel inference misreads small arrays such as (1, 90, 3)
    as channels-first; mmtok takes every array as channels-last."""
    return [Image.fromarray(im) if isinstance(im, np.ndarray) else im for im in images]


def _assert_image_outputs_equal(ref, ours):
    assert set(ref) == set(ours)
    for key, value in ref.items():
        value = np.asarray(value)
        assert value.shape == ours[key].shape and value.dtype == ours[key].dtype, key
        if key == "pixel_values":
            assert np.array_equal(value.view(np.uint32), ours[key].view(np.uint32))
        else:
            assert np.array_equal(value, ours[key]), key


def test_pixel_values_are_bit_identical(photos):
    family, ref = get_family("mllama"), reference_image_processor()
    images = _images(photos)
    for group in (images[:6], images[6:]):
        ours, _ = family.preprocess_images(group)
        _assert_image_outputs_equal(ref(_as_pil(group), return_tensors="np"), ours)


def test_fewer_tiles_option_matches_the_reference(photos):
    family, ref = get_family("mllama", max_image_tiles=2), reference_image_processor(max_image_tiles=2)
    images = _images(photos)[::3]
    ours, _ = family.preprocess_images(images)
    _assert_image_outputs_equal(ref(_as_pil(images), return_tensors="np"), ours)


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    from reference_tokenizers import build_tiny_tokenizer_json

    specials = list(get_family("mllama").special_tokens) + ["<|python_tag|>"]
    return build_tiny_tokenizer_json(tmp_path_factory.mktemp("mllama") / "tokenizer.json", specials)


@pytest.fixture(scope="module")
def reference_processor(tokenizer_file):
    from transformers import MllamaProcessor, PreTrainedTokenizerFast

    class Offline(MllamaProcessor):
        def check_argument_for_proper_class(self, name, arg):  # the auto mappings need torchvision
            return arg

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer_file), bos_token="<|begin_of_text|>", pad_token="<|finetune_right_pad_id|>"
    )
    return Offline(image_processor=reference_image_processor(), tokenizer=tokenizer)


PROMPTS = [
    "<|image|>Describe this image.",
    "<|image|><|image|>Compare them.",
    "First <|image|> then <|image|> and <|image|>!",
    "<|begin_of_text|><|image|>Already has its BOS.",
    "Text first<|image|>",
    "<|image|>",
]


def test_prepare_prompt_is_build_string_from_input():
    from transformers.models.mllama.processing_mllama import build_string_from_input

    family = get_family("mllama")
    for prompt in PROMPTS + ["", "no image", "<|image|> <|image|>x", "a<|begin_of_text|>b"]:
        assert family.prepare_prompt(prompt) == build_string_from_input(prompt, "<|begin_of_text|>", "<|image|>")


def test_sequences_match_the_reference_processor(reference_processor, tokenizer_file):
    family = get_family("mllama")
    processor = mmtok.get_processor("mllama", tokenizer=str(tokenizer_file))
    rng = np.random.default_rng(9)
    pool = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 900), (700, 500), (90, 90)]]
    batches = [[p] for p in PROMPTS] + [PROMPTS[:3], [PROMPTS[4], PROMPTS[1]]]
    for texts in batches:
        counts = [t.count("<|image|>") for t in texts]
        flat = [pool[i % len(pool)] for i in range(sum(counts))]
        nested = [flat[sum(counts[:i]) : sum(counts[: i + 1])] for i in range(len(texts))]
        ref = reference_processor(text=texts, images=nested, padding=True, return_tensors="np")
        ours = processor.encode_text(texts, flat)  # prepare_prompt and finish_text_encoding run inside
        assert set(ref) <= set(ours) and set(ours) - set(ref) == {"mm_token_type_ids"}, texts
        for key in ("input_ids", "attention_mask"):
            assert np.array_equal(np.asarray(ref[key]), ours[key]), (texts, key)
        for key in ("cross_attention_mask", "aspect_ratio_ids", "aspect_ratio_mask"):
            assert np.array_equal(np.asarray(ref[key]), ours[key]), (texts, key)
        assert np.array_equal(np.asarray(ref["pixel_values"]).view(np.uint32), ours["pixel_values"].view(np.uint32))
        assert all(plan.tokens == 1 for plan in ours.plans)


def test_bad_options_and_sizes_raise_typed_errors():
    with pytest.raises(InvalidOptionError):
        get_family("mllama", max_image_tiles=0)
    with pytest.raises(EmptyImageError):
        get_family("mllama").plan_size((0, 5))
