"""BLIP and BLIP-2 against transformers 5.23's BlipImageProcessorPil, BlipProcessor and Blip2Processor
with the Salesforce checkpoints' settings, and the feature counts against (tiny) vision towers built
from the configs' defaults."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError
from mmtok.vision.families import get_family
from reference_clip import assert_bit_identical, assert_same_output, generated_images, sizes, tiny_tokenizer

# preprocessor_config.json of Salesforce/blip-image-captioning-base (384) and Salesforce/blip2-opt-2.7b
# (224): BlipImageProcessor, size height = width = S, resample 3 (bicubic), rescale 1/255, OpenAI CLIP
# mean/std (the class defaults), no crop (research/families.md §9).
IMAGE_SIZES = {"blip": 384, "blip2": 224}
# Salesforce/blip2-opt-2.7b processor_config.json / config.json
NUM_QUERY_TOKENS = 32


def blip_image_processor(size: int):
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    return BlipImageProcessorPil(size={"height": size, "width": size}, resample=3)


def blip2_processor(tokenizer):
    from transformers import Blip2Processor

    return Blip2Processor(image_processor=blip_image_processor(224), tokenizer=tokenizer, num_query_tokens=NUM_QUERY_TOKENS)


def test_counts_come_from_the_configs_and_the_towers():
    """blip: the (tiny) BlipVisionModel's output length, all of which the text decoder cross-attends to;
    blip2: Blip2Config.num_query_tokens, and the (tiny) Blip2VisionModel's output length."""
    import torch
    from transformers import Blip2Config, Blip2VisionConfig, Blip2VisionModel, BlipVisionConfig, BlipVisionModel

    tiny = dict(hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1)
    blip, blip2 = get_family("blip"), get_family("blip2")
    assert (blip.spec.image_size, blip.spec.patch_size) == (BlipVisionConfig().image_size, BlipVisionConfig().patch_size)
    assert (blip2.spec.image_size, blip2.spec.patch_size) == (Blip2VisionConfig().image_size, Blip2VisionConfig().patch_size)
    with torch.no_grad():
        blip_out = BlipVisionModel(BlipVisionConfig(**tiny)).eval()(pixel_values=torch.zeros(1, 3, 384, 384))
        blip2_out = Blip2VisionModel(Blip2VisionConfig(**tiny)).eval()(pixel_values=torch.zeros(1, 3, 224, 224))
    plan = blip.plan_size((480, 640))
    assert plan.tokens == plan.details["cross_attention"] == blip_out.last_hidden_state.shape[1] == 577
    plan2 = blip2.plan_size((480, 640))
    assert plan2.tokens == Blip2Config().num_query_tokens == NUM_QUERY_TOKENS
    assert plan2.details["vision_sequence"] == blip2_out.last_hidden_state.shape[1] == 257


@pytest.mark.parametrize("model", IMAGE_SIZES)
def test_plans_do_not_depend_on_the_size(model):
    family = get_family(model)
    s = IMAGE_SIZES[model]
    first = family.plan_size((1, 1))
    for h, w in sizes():
        plan = family.plan_size((h, w))
        assert (plan.resized, plan.tokens, plan.total, plan.details) == ((s, s), first.tokens, first.tokens, first.details)
    with pytest.raises(EmptyImageError):
        family.plan_size((0, 3))
    with pytest.raises(InvalidOptionError, match="min_pixels"):
        get_family(model, min_pixels=10)


@pytest.mark.parametrize("model", IMAGE_SIZES)
def test_pixels_are_bit_identical(model, photos):
    """pixel_values of the 7 scikit-image photos and 11 generated images (thin, tiny, RGBA, L, P)."""
    images = [Image.fromarray(array) for _, array in photos] + generated_images()
    mine, plans = get_family(model).preprocess_images(images)
    ref = blip_image_processor(IMAGE_SIZES[model])(images, return_tensors="np")
    assert set(mine) == set(ref)
    assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
    assert len(plans) == len(images)


@pytest.mark.parametrize("bos", ["</s>", None])
def test_blip2_sequences_equal_blip2_processor(bos, tmp_path, photos):
    """Blip2Processor puts 32 x <image> before the tokenizer's BOS and the text; mmtok's prompt
    "<image>" + text gives the same input_ids, attention_mask (padded batch) and pixel_values. bos="</s>"
    is the OPT tokenizer's; bos=None a tokenizer that writes none (Flan-T5 writes none first)."""
    path = tmp_path / "tokenizer.json"
    family = get_family("blip2", bos=bos)
    reference = blip2_processor(tiny_tokenizer(path, list(family.special_tokens), bos=bos))
    images = [Image.fromarray(photos[0][1]), generated_images()[1]]
    texts = ["Question: what is in the picture? Answer:", "a photo of"]
    ref = reference(text=texts, images=images, padding=True, return_tensors="np")
    mine = mmtok.get_processor("blip2", tokenizer=str(path), bos=bos).encode_text(["<image>" + t for t in texts], images)
    assert_same_output(mine, ref, extra=("mm_token_type_ids",))
    image_id = reference.tokenizer.convert_tokens_to_ids("<image>")
    np.testing.assert_array_equal(mine["mm_token_type_ids"], (mine["input_ids"] == image_id).astype(np.int64))
    assert (mine["input_ids"][:, :NUM_QUERY_TOKENS] == image_id).all()


def test_blip_text_side_has_no_image_tokens(tmp_path, photos):
    """BlipProcessor tokenizes the text alone, even with a vocabulary that has <image>; mmtok's
    LLaVA-style layout is that text with 577 x <image> where the placeholder is, and the same pixels."""
    from transformers import BlipProcessor

    path = tmp_path / "tokenizer.json"
    tokenizer = tiny_tokenizer(path, list(get_family("blip").special_tokens))
    reference = BlipProcessor(image_processor=blip_image_processor(384), tokenizer=tokenizer)
    image = Image.fromarray(photos[1][1])
    ref = reference(text="a picture of", images=[image], return_tensors="np")
    mine = mmtok.get_processor("blip", tokenizer=str(path)).encode_text("<image>a picture of", [image])
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ids = mine["input_ids"][0]
    assert int((ids == image_id).sum()) == 577 and not (ref["input_ids"] == image_id).any()
    np.testing.assert_array_equal(ids[ids != image_id], ref["input_ids"][0])
    assert_bit_identical(mine["pixel_values"], ref["pixel_values"])
