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


def test_family_pad_and_end_tokens(tmp_path):
    """A family's pad token pads batches (llava-hf pads with <pad>); an end token closes each text."""
    from reference_tokenizers import build_tiny_tokenizer_json

    from mmtok.vision.families import get_family

    family = get_family("llava-1.5")
    path = build_tiny_tokenizer_json(tmp_path / "tok.json", [*family.special_tokens, "<pad>", "</s>"], bos="<s>")
    proc = mmtok.get_processor("llava-1.5", tokenizer=str(path))
    image = np.zeros((40, 60, 3), np.uint8)
    out = proc.encode_text(["<image>\nA long question here?", "<image>"], [image, image])
    pad = proc.tokenizer.special_tokens["<pad>"]
    assert (out["input_ids"][1][out["attention_mask"][1] == 0] == pad).all()
    proc.family.eos_token = "</s>"  # as a T5-based family would set it
    ids = proc.encode_text("<image>hi", [image])["input_ids"][0].tolist()
    assert ids[0] == proc.tokenizer.special_tokens["<s>"] and ids[-1] == proc.tokenizer.special_tokens["</s>"]
