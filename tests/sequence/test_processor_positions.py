"""processor(messages) returns position_ids and rope_deltas equal to the reference model's get_rope_index
run on the reference processor's output for the same conversations."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from conftest import QWEN_MODELS
from reference_models import reference_positions, tiny_qwen_models


@pytest.fixture(scope="module")
def models():
    return tiny_qwen_models()


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("model", QWEN_MODELS)
def test_positions_equal_get_rope_index(models, ref_processors, photos, model, padding_side):
    rng = np.random.default_rng(4)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(300, 90), (64, 640), (128, 128)]]
    batch = [
        [{"role": "user", "content": [{"type": "image", "image": images[0]}, {"type": "text", "text": "one"}]}],
        [
            {"role": "user", "content": [{"type": "text", "text": "two:"}, {"type": "image", "image": images[1]}, {"type": "image", "image": images[2]}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "image", "image": Image.fromarray(photos[1][1])}, {"type": "text", "text": "and a longer question at the end"}]},
        ],
        [{"role": "user", "content": "text only"}],
    ]
    reference = ref_processors(model)
    reference.tokenizer.padding_side = padding_side
    try:
        ref = reference.apply_chat_template(batch, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="np", padding=True)
    finally:
        reference.tokenizer.padding_side = "right"
    mine = mmtok.get_processor(model, padding_side=padding_side)(batch, add_generation_prompt=True)
    np.testing.assert_array_equal(mine["input_ids"], ref["input_ids"])
    np.testing.assert_array_equal(mine["attention_mask"], ref["attention_mask"])
    pos, deltas = reference_positions(models[model], ref)
    assert mine["position_ids"].dtype == np.int64 and mine["position_ids"].shape == (3, 3, ref["input_ids"].shape[1])
    np.testing.assert_array_equal(mine["position_ids"], pos)
    np.testing.assert_array_equal(mine["rope_deltas"], deltas)


def test_rope_convention_is_named_and_passed_through():
    from mmtok.errors import InvalidOptionError
    from mmtok.sequence.rope import RopeSpec, rope_index

    messages = [{"role": "user", "content": [{"type": "image", "image": np.zeros((56, 84, 3), np.uint8)}, {"type": "text", "text": "hi"}]}]
    batch = [messages, [{"role": "user", "content": "a much longer text only conversation here"}]]
    out = mmtok.get_processor("qwen2-vl", rope_convention="qwen")(batch)
    pos, deltas = rope_index(RopeSpec("qwen2-vl"), out["input_ids"], image_grid_thw=out["image_grid_thw"],
                             attention_mask=out["attention_mask"], convention="qwen")
    np.testing.assert_array_equal(out["position_ids"], pos)
    np.testing.assert_array_equal(out["rope_deltas"], deltas)
    default = mmtok.get_processor("qwen2-vl")(batch)
    assert not np.array_equal(default["position_ids"], out["position_ids"])  # padding: 0 (5.23) vs 1 (4.x)
    with pytest.raises(InvalidOptionError, match="rope_convention"):
        mmtok.get_processor("qwen2-vl", rope_convention="nope")
