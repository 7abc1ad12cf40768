"""LLaVA-NeXT against transformers 5.23's LlavaNextProcessor + LlavaNextImageProcessorPil with the
llava-hf/llava-v1.6-mistral-7b-hf settings (see reference_llava_next)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family
from reference_llava_next import (
    assert_same_output,
    generated_images,
    llava_next_processor,
    sizes,
    tiny_tokenizer,
)


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    return tmp_path_factory.mktemp("llava_next") / "tokenizer.json"


@pytest.fixture(scope="module")
def reference(tokenizer_file):
    family = get_family("llava-next")
    return llava_next_processor(tiny_tokenizer(tokenizer_file, list(family.special_tokens), bos=family.bos_token))


@pytest.fixture(scope="module")
def processor(reference, tokenizer_file):
    return mmtok.get_processor("llava-next", tokenizer=str(tokenizer_file))


def test_plans_equal_the_reference_counts(reference):
    """Tokens from the processor's own counting (_get_num_multimodal_tokens: _get_number_of_features,
    less 1 for the "default" strategy), canvas and fitted size from select_best_resolution and
    get_patch_output_size, on ~3,700 sizes including 1 x N, N x 1 and 30,000 px sides."""
    from transformers.image_processing_utils import get_patch_output_size, select_best_resolution

    family = get_family("llava-next")
    all_sizes = sizes()
    expected = reference._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    pinpoints = reference.image_processor.image_grid_pinpoints
    for (h, w), tokens in zip(all_sizes, expected):
        plan = family.plan_size((h, w))
        canvas = select_best_resolution((h, w), pinpoints)
        fitted = get_patch_output_size(np.zeros((1, h, w), np.uint8), canvas, input_data_format="channels_first")
        assert (plan.tokens, plan.details["canvas"], plan.details["fitted"]) == (tokens, list(canvas), list(fitted)), (h, w)
        assert plan.tiles == 1 + (canvas[0] // 336) * (canvas[1] // 336)
        assert plan.total == plan.tokens  # the newlines are embeddings inside the <image> positions


def test_published_vector():
    # transformers tests/models/llava_next/test_processor_llava_next.py::test_image_token_filling: (3, 500, 316) -> 1526
    assert get_family("llava-next").plan_size((500, 316)).tokens == 1526


def test_photos_and_generated_images_match_the_reference(processor, reference, photos):
    """pixel_values bit for bit, image_sizes, input_ids, attention_mask, mm_token_type_ids: the 7
    scikit-image photos and 7 generated images (thin, tiny, RGBA, grayscale) in one padded batch."""
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    texts = ["<image>" * len(photos) + " describe", "".join(f"pic {i}: <image>\n" for i in range(len(images) - len(photos)))]
    ref = reference(text=texts, images=images, padding=True, return_tensors="np", return_mm_token_type_ids=True)
    mine = processor.encode_text(texts, images)
    assert_same_output(mine, ref)
    assert mine["pixel_values"].shape[1:] == (5, 3, 336, 336)
    for plan, (h, w) in zip(mine.plans, mine["image_sizes"].tolist()):
        assert plan == processor.family.plan_size((h, w), plan.source)  # the pixels followed the plan from the size


def test_photo_files_as_paths(processor, reference, photo_files):
    """Paths: transformers' load_image (EXIF transpose, convert) then the processor; one image a call."""
    for path in photo_files[:6]:
        ref = reference(text="<image> hi", images=[str(path)], return_tensors="np", return_mm_token_type_ids=True)
        assert_same_output(processor.encode_text("<image> hi", [str(path)]), ref)


def test_custom_pinpoints(tokenizer_file, reference, photos):
    """A checkpoint with other pinpoints: the image_grid_pinpoints option, as the processor's setting."""
    pinpoints = [[336, 336], [336, 1344], [1008, 1008], [672, 1008]]
    ref = llava_next_processor(reference.tokenizer, image_grid_pinpoints=pinpoints)
    proc = mmtok.get_processor("llava-next", tokenizer=str(tokenizer_file), image_grid_pinpoints=pinpoints)
    images = [Image.fromarray(array) for _, array in photos[:3]] + generated_images()[:3]
    text = "<image>" * len(images)
    expected = ref(text=text, images=images, return_tensors="np", return_mm_token_type_ids=True)
    assert_same_output(proc.encode_text(text, images), expected)
    all_sizes = sizes()[:800]
    counts = ref._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    assert [proc.family.plan_size(s).tokens for s in all_sizes] == counts


def test_bad_input_and_options():
    family = get_family("llava-next")
    with pytest.raises(EmptyImageError):
        family.plan_size((0, 10))
    with pytest.raises(InvalidOptionError):
        get_family("llava-next", image_grid_pinpoints=[[300, 672]])  # not a multiple of the 336 tile
    with pytest.raises(InvalidOptionError):
        get_family("llava-next", max_pixels=1000)
    assert get_family("llava-hf/llava-v1.6-mistral-7b-hf").name == "llava-next"
