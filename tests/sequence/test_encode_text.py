"""processor.encode_text(text, images): the reference processor's processor(text=..., images=...)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from conftest import QWEN_MODELS
from mmtok.errors import MessageFormatError


@pytest.mark.parametrize("model", QWEN_MODELS)
def test_text_with_placeholders_equals_reference_call(ref_processors, model):
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(100, 300), (64, 64), (500, 90)]]
    texts = [
        "<|vision_start|><|image_pad|><|vision_end|>Describe it.",
        "Compare <|vision_start|><|image_pad|><|vision_end|> and <|vision_start|><|image_pad|><|vision_end|>, please.",
    ]
    ref = ref_processors(model)(text=texts, images=images, return_tensors="np", padding=True)
    out = mmtok.get_processor(model).encode_text(texts, images)
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids"):
        np.testing.assert_array_equal(out[key], ref[key], err_msg=key)


def test_placeholder_count_must_match_images():
    proc = mmtok.get_processor("qwen2-vl")
    image = np.zeros((56, 56, 3), np.uint8)
    with pytest.raises(MessageFormatError, match="1 image"):
        proc.encode_text("no placeholder", [image])
    with pytest.raises(MessageFormatError, match="more"):
        proc.encode_text("<|image_pad|><|image_pad|>", [image])
