"""LLaVA-1.5 against transformers 5.23's LlavaProcessor + LlavaImageProcessorPil with the
llava-hf/llava-1.5-7b-hf settings ("crop"), the same with do_pad=True and the original LLaVA code's
expand2square ("pad"); see reference_clip and reference_llava."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family
from reference_clip import assert_bit_identical, assert_same_output, generated_images, llava_processor, sizes, tiny_tokenizer
from reference_llava import llava_image_processor, original_pad_pixel_values

MODES = ("crop", "pad")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    family = get_family("llava-1.5")
    path = tmp_path_factory.mktemp("llava") / "tokenizer.json"
    return path, tiny_tokenizer(path, list(family.special_tokens), bos=family.bos_token)


def test_default_mode_is_the_checkpoints():
    assert get_family("llava-1.5").mode == "crop"
    assert get_family("llava-hf/llava-1.5-7b-hf").limits == {"image_size": 336, "patch_size": 14, "mode": "crop"}
    with pytest.raises(InvalidOptionError, match="crop, pad"):
        get_family("llava-1.5", mode="anyres")
    with pytest.raises(EmptyImageError):
        get_family("llava-1.5", mode="pad").plan_size((5, 0))


@pytest.mark.parametrize("mode", MODES)
def test_plans_equal_the_reference_counts_and_geometry(mode, tokenizer):
    """tokens: LlavaProcessor's own count (_get_num_multimodal_tokens) on ~4,200 sizes including 1 x N,
    N x 1 and 30,000 px sides; the resize target from get_resize_output_image_size of the (padded) size."""
    from transformers.image_transforms import get_resize_output_image_size

    family = get_family("llava-1.5", mode=mode)
    reference = llava_processor(tokenizer[1], llava_image_processor(do_pad=mode == "pad"))
    all_sizes = sizes()
    expected = reference._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    for (h, w), tokens in zip(all_sizes, expected):
        plan = family.plan_size((h, w))
        side = (h, w) if mode == "crop" else (max(h, w), max(h, w))
        dummy = np.broadcast_to(np.uint8(0), (1, *side))
        resize = get_resize_output_image_size(dummy, size=336, default_to_square=False, input_data_format="channels_first")
        assert (plan.tokens, plan.details["resize"]) == (tokens, list(resize)), (h, w)
        assert plan.total == plan.tokens and plan.resized == (336, 336)
        if mode == "pad":
            assert plan.details["crop_offset"] == [0, 0]


def test_pad_geometry_equals_pad_to_square():
    """The padded square and the image's place in it, read back from LlavaImageProcessorPil.pad_to_square
    on ~600 sizes up to 600 px."""
    family = get_family("llava-1.5", mode="pad")
    pad = llava_image_processor(do_pad=True).pad_to_square
    rng = np.random.default_rng(3)
    checked = [(1, 600), (600, 1), (1, 2), (2, 1), (7, 7), (8, 5)] + [tuple(map(int, s)) for s in rng.integers(1, 601, (600, 2))]
    for h, w in checked:
        padded = pad(np.ones((1, h, w), np.uint8), background_color=0)[0]
        rows, cols = np.nonzero(padded)
        plan = family.plan_size((h, w))
        assert plan.details["padded"] == list(padded.shape), (h, w)
        assert plan.details["pad_offset"] == [int(rows.min()), int(cols.min())], (h, w)


@pytest.mark.parametrize("mode", MODES)
def test_pixels_are_bit_identical(mode, photos):
    """pixel_values of the 7 scikit-image photos and 11 generated images (thin, tiny, odd margins, RGBA,
    L, P) against LlavaImageProcessorPil (do_pad for "pad"), and for "pad" also against the original
    LLaVA code (expand2square + CLIPImageProcessor)."""
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    mine, _ = get_family("llava-1.5", mode=mode).preprocess_images(images)
    ref = llava_image_processor(do_pad=mode == "pad")(images, return_tensors="np")
    assert set(mine) == set(ref)
    assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
    if mode == "pad":
        # the original code takes PIL images, which its callers open with .convert("RGB")
        rgb = [(image if isinstance(image, Image.Image) else Image.fromarray(image)).convert("RGB") for image in images]
        mine_rgb, _ = get_family("llava-1.5", mode=mode).preprocess_images(rgb)
        assert_bit_identical(mine_rgb["pixel_values"], original_pad_pixel_values(rgb))


@pytest.mark.parametrize("mode", MODES)
def test_sequences_equal_the_reference(mode, tokenizer, photos):
    """input_ids, attention_mask, mm_token_type_ids, pixel_values of a padded batch with several images per
    prompt (the llava-1.5 prompt form "USER: <image>\\n... ASSISTANT:")."""
    path, ref_tokenizer = tokenizer
    reference = llava_processor(ref_tokenizer, llava_image_processor(do_pad=mode == "pad"))
    images = [Image.fromarray(array) for _, array in photos[:4]] + generated_images()[:3]
    texts = [
        "USER: <image>\nWhat is shown? ASSISTANT:",
        "USER: <image><image> compare, then <image>\nand <image> <image> <image>? ASSISTANT: yes</s>",
    ]
    ref = reference(text=texts, images=images, padding=True, return_tensors="np", return_mm_token_type_ids=True)
    mine = mmtok.get_processor("llava-1.5", tokenizer=str(path), mode=mode).encode_text(texts, images)
    assert_same_output(mine, ref)
    assert mine["input_ids"][0, 0] == ref_tokenizer.convert_tokens_to_ids("<s>")
    assert int((mine["input_ids"] == ref_tokenizer.convert_tokens_to_ids("<image>")).sum()) == 576 * len(images)


def test_photo_files_as_paths(tokenizer, photo_files):
    """Paths: transformers' load_image (EXIF transpose, convert) then the processor."""
    path, ref_tokenizer = tokenizer
    reference = llava_processor(ref_tokenizer, llava_image_processor())
    processor = mmtok.get_processor("llava-1.5", tokenizer=str(path))
    files = [str(p) for p in photo_files]
    text = "USER: " + "".join(f"<image>{i}\n" for i in range(len(files))) + "ASSISTANT:"
    ref = reference(text=text, images=files, return_tensors="np", return_mm_token_type_ids=True)
    assert_same_output(processor.encode_text(text, files), ref)
