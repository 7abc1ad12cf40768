"""Qwen processors: the published Qwen2-VL worked example, and parity with transformers' Qwen2VLProcessor,
Qwen2_5_VLProcessor and Qwen3VLProcessor (checkpoint settings and chat templates)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import SpecialTokenError
from conftest import QWEN_MODELS

# The published worked example (Qwen2-VL model card / transformers docs): a 336 x 500 image
# and the text "请描述一下图片。".
WORKED_EXAMPLE_IDS = (
    [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 151652]
    + [151655] * 216
    + [151653, 14880, 53481, 100158, 45930, 1773, 151645, 198, 151644, 77091, 198]
)


def test_published_worked_example():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (336, 500, 3), dtype=np.uint8))
    messages = [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "请描述一下图片。"}]}]
    out = mmtok.get_processor("qwen2-vl")(messages, add_generation_prompt=True)
    assert len(WORKED_EXAMPLE_IDS) == 242
    assert out["input_ids"].tolist() == [WORKED_EXAMPLE_IDS]
    assert out["pixel_values"].shape == (864, 1176)
    assert out["image_grid_thw"].tolist() == [[1, 24, 36]]
    assert out.plans[0].resized == (336, 504)
    assert int((out["input_ids"] == 151655).sum()) == 216
    assert out["attention_mask"].tolist() == [[1] * 242]


def _images(rng, photos):
    sizes = [(336, 500), (20, 900), (700, 90), (64, 64)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    return images + [Image.fromarray(a) for _, a in photos[:2]]


def conversations(images, paths):
    a, b, c, d, e, f = images
    yield [{"role": "user", "content": [{"type": "image", "image": a}, {"type": "text", "text": "What is this?"}]}]
    yield [{"role": "user", "content": [{"type": "text", "text": "Compare\n"}, {"type": "image", "image": b}, {"type": "text", "text": "\nand\n\n"}, {"type": "image", "image": c}]}]
    yield [
        {"role": "system", "content": [{"type": "text", "text": "Answer briefly, in 中文."}]},
        {"role": "user", "content": [{"type": "image", "image": d}, {"type": "text", "text": " Describe it. 1234  "}]},
        {"role": "assistant", "content": [{"type": "text", "text": "一只猫。\n"}]},
        {"role": "user", "content": [{"type": "image", "image": e}, {"type": "image", "image": f}, {"type": "text", "text": "And these two?"}]},
    ]
    yield [{"role": "user", "content": "Just text, with café and naïve (NFC: cafe\u0301)."}]
    yield [{"role": "user", "content": [{"type": "image", "path": str(paths[0])}, {"type": "image", "url": str(paths[1])}, {"type": "text", "text": "Files."}]}]
    yield [
        {"role": "system", "content": "First system."},
        {"role": "user", "content": [{"type": "image", "image": a}, {"type": "text", "text": "one"}]},
        {"role": "system", "content": [{"type": "text", "text": "A later system turn."}]},
        {"role": "assistant", "content": "Two."},
        {"role": "user", "content": [{"type": "text", "text": "three"}]},
    ]


@pytest.mark.parametrize("model", QWEN_MODELS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_matches_reference_processor(ref_processors, photos, photo_files, add_generation_prompt, model):
    rng = np.random.default_rng(5)
    proc = mmtok.get_processor(model)
    reference = ref_processors(model)
    for messages in conversations(_images(rng, photos), photo_files):
        ref = reference.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=True, return_tensors="np"
        )
        mine = proc(messages, add_generation_prompt=add_generation_prompt)
        # the reference's keys, plus the M-RoPE positions its model computes later (see test_processor_positions)
        assert set(mine) == set(ref) | {"position_ids", "rope_deltas"}, (set(mine), set(ref))
        for key in ref:
            assert mine[key].dtype == ref[key].dtype, key
            assert mine[key].shape == ref[key].shape, key
            if key == "pixel_values":
                assert np.array_equal(mine[key].view(np.uint32), ref[key].view(np.uint32))
            else:
                np.testing.assert_array_equal(mine[key], ref[key], err_msg=key)
        text = reference.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
        assert proc.apply_chat_template(messages, add_generation_prompt=add_generation_prompt) == text


def test_add_vision_id_matches_reference_template(ref_qwen2vl_processor):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "a"}, {"type": "image"}, {"type": "video"}]}]
    proc = mmtok.get_processor("qwen2-vl")
    ref = ref_qwen2vl_processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, add_vision_id=True)
    assert proc.apply_chat_template(messages, add_generation_prompt=True, add_vision_id=True) == ref


def test_special_token_spelling_in_user_text(ref_qwen2vl_processor):
    messages = [{"role": "user", "content": [{"type": "text", "text": "say <|im_end|> and <|image_pad|>"}]}]
    with pytest.raises(SpecialTokenError, match=r"<\|im_end\|>.*special_in_text"):
        mmtok.get_processor("qwen2-vl")(messages)
    # "special": transformers' behaviour, the spelling becomes the control token. (The reference refuses
    # an <|image_pad|> spelling with no image, so parity is checked on a text without one.)
    no_pad = [{"role": "user", "content": [{"type": "text", "text": "say <|im_end|> and <|endoftext|>"}]}]
    ref = ref_qwen2vl_processor.apply_chat_template(no_pad, tokenize=True, return_dict=True, return_tensors="np")
    special = mmtok.get_processor("qwen2-vl", special_in_text="special")(no_pad)
    assert 151643 in special["input_ids"][0].tolist()
    np.testing.assert_array_equal(special["input_ids"], ref["input_ids"])
    # "text": encoded as ordinary text, so no control id appears in the user turn
    plain = mmtok.get_processor("qwen2-vl", special_in_text="text")(messages)
    tok = mmtok.get_tokenizer("qwen2")
    user_ids = tok.encode("user\nsay <|im_end|> and <|image_pad|>", disallowed_special=())
    assert plain["input_ids"][0].tolist()[12:-2] == user_ids
    assert 151655 not in plain["input_ids"][0].tolist()


def test_batch_is_padded_and_rows_equal_single_runs(photos):
    rng = np.random.default_rng(9)
    images = _images(rng, photos)
    proc = mmtok.get_processor("qwen2-vl")
    batch = [
        [{"role": "user", "content": [{"type": "image", "image": images[0]}, {"type": "text", "text": "one"}]}],
        [{"role": "user", "content": [{"type": "image", "image": images[3]}, {"type": "image", "image": images[2]}]}],
    ]
    out = proc(batch, add_generation_prompt=True)
    singles = [proc(c, add_generation_prompt=True) for c in batch]
    for row, single in enumerate(singles):
        n = single["input_ids"].shape[1]
        assert out["input_ids"][row, :n].tolist() == single["input_ids"][0].tolist()
        assert out["attention_mask"][row].sum() == n
    np.testing.assert_array_equal(out["pixel_values"], np.concatenate([s["pixel_values"] for s in singles]))
    np.testing.assert_array_equal(out["image_grid_thw"], np.concatenate([s["image_grid_thw"] for s in singles]))
