"""CLIP ViT-B/32, ViT-L/14 and ViT-L/14-336 against transformers 5.23's CLIPImageProcessorPil with the
openai checkpoints' settings, and the LLaVA-style layout against LlavaProcessor over that image
processor (see reference_clip)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family
from reference_clip import (
    CLIP_TOWERS,
    assert_bit_identical,
    assert_same_output,
    clip_image_processor,
    generated_images,
    llava_processor,
    sizes,
    tiny_tokenizer,
)

MODELS = tuple(CLIP_TOWERS)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "tokenizer.json"
    return path, tiny_tokenizer(path, list(get_family("clip-vit-b-32").special_tokens))


def _coded(length: int, axis: int, shape: tuple[int, int]) -> np.ndarray:
    """A (1, H, W) view whose values are the row (axis 1) or column (axis 2) index, in O(H + W) memory."""
    index = np.arange(length, dtype=np.int64)
    index = index[None, :, None] if axis == 1 else index[None, None, :]
    return np.broadcast_to(index, (1, *shape))


@pytest.mark.parametrize("image_size", [224, 336])
def test_resize_and_crop_follow_the_reference_functions(image_size):
    """The resize target from get_resize_output_image_size and the crop corner read back from
    image_transforms.center_crop, on ~4,200 sizes including 1 x N, N x 1 and 30,000 px sides."""
    from transformers.image_transforms import center_crop, get_resize_output_image_size

    model = {224: "clip-vit-l-14", 336: "clip-vit-l-14-336"}[image_size]
    family = get_family(model)
    for h, w in sizes():
        plan = family.plan_size((h, w))
        dummy = np.broadcast_to(np.uint8(0), (1, h, w))
        resize = get_resize_output_image_size(dummy, size=image_size, default_to_square=False, input_data_format="channels_first")
        assert plan.details["resize"] == list(resize), (h, w)
        rows = center_crop(_coded(resize[0], 1, resize), (image_size, image_size), input_data_format="channels_first")
        cols = center_crop(_coded(resize[1], 2, resize), (image_size, image_size), input_data_format="channels_first")
        assert rows.shape == cols.shape == (1, image_size, image_size)
        assert plan.details["crop_offset"] == [int(rows[0, 0, 0]), int(cols[0, 0, 0])], (h, w)
        assert plan.resized == (image_size, image_size) and plan.tiles == 1 and plan.total == plan.tokens


@pytest.mark.parametrize("model", MODELS)
def test_token_counts_equal_llava_processor_and_the_vision_tower(model, tokenizer):
    """tokens: LlavaProcessor's own count over this image processor and patch size ("default" strategy,
    +1 CLS -1), on every size; vision_sequence: the length of a (tiny) CLIPVisionModel's output."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel

    image_size, patch_size = CLIP_TOWERS[model]
    family = get_family(model)
    reference = llava_processor(tokenizer[1], clip_image_processor(image_size), patch_size=patch_size)
    all_sizes = sizes()
    expected = reference._get_num_multimodal_tokens(image_sizes=all_sizes)["num_image_tokens"]
    assert [family.plan_size(s).tokens for s in all_sizes] == expected

    tiny = dict(hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1)
    config = CLIPVisionConfig(image_size=image_size, patch_size=patch_size, **tiny)
    with torch.no_grad():
        out = CLIPVisionModel(config).eval()(pixel_values=torch.zeros(1, 3, image_size, image_size))
    plan = family.plan_size((480, 640))
    assert out.last_hidden_state.shape[1] == plan.details["vision_sequence"] == plan.tokens + 1


@pytest.mark.parametrize("image_size", [224, 336])
def test_pixels_are_bit_identical(image_size, photos):
    """pixel_values of the 7 scikit-image photos and 11 generated images (thin, tiny, odd margins, RGBA,
    L, P), one image at a time and as one batch."""
    model = {224: "clip-vit-b-32", 336: "clip-vit-l-14-336"}[image_size]
    reference = clip_image_processor(image_size)
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    mine, plans = get_family(model).preprocess_images(images)
    ref = reference(images, return_tensors="np")
    assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
    assert mine["pixel_values"].shape == (len(images), 3, image_size, image_size)
    assert set(mine) == set(ref)


@pytest.mark.parametrize("model", MODELS)
def test_sequences_equal_the_llava_style_reference(model, tokenizer, photos):
    """input_ids, attention_mask, mm_token_type_ids and pixel_values of a padded batch with several
    images per text, against LlavaProcessor over CLIPImageProcessorPil with the tower's patch size."""
    path, ref_tokenizer = tokenizer
    image_size, patch_size = CLIP_TOWERS[model]
    reference = llava_processor(ref_tokenizer, clip_image_processor(image_size), patch_size=patch_size)
    images = [Image.fromarray(array) for _, array in photos[:3]] + generated_images()[:4]
    texts = ["<image><image> two photos, and <image>", "one: <image>\nthen <image><image> and <image>. end"]
    ref = reference(text=texts, images=images, padding=True, return_tensors="np", return_mm_token_type_ids=True)
    mine = mmtok.get_processor(model, tokenizer=str(path)).encode_text(texts, images)
    assert_same_output(mine, ref)
    image_id = ref_tokenizer.convert_tokens_to_ids("<image>")
    assert int((mine["input_ids"] == image_id).sum()) == sum(p.tokens for p in mine.plans)


def test_photo_files_as_paths(tokenizer, photo_files):
    """Paths go through transformers' load_image (EXIF transpose, convert) in the reference."""
    path, ref_tokenizer = tokenizer
    reference = llava_processor(ref_tokenizer, clip_image_processor(224), patch_size=32)
    processor = mmtok.get_processor("clip-vit-b-32", tokenizer=str(path))
    files = [str(p) for p in photo_files]
    text = "".join(f"{i}<image>" for i in range(len(files)))
    ref = reference(text=text, images=files, return_tensors="np", return_mm_token_type_ids=True)
    assert_same_output(processor.encode_text(text, files), ref)


def test_refusals():
    family = get_family("clip-vit-l-14")
    with pytest.raises(EmptyImageError):
        family.plan_size((0, 10))
    with pytest.raises(InvalidOptionError, match="max_pixels"):
        get_family("clip-vit-b-32", max_pixels=1000)
    assert get_family("openai/clip-vit-large-patch14-336").name == "clip-vit-l-14-336"
