"""Training labels and max_length, against Qwen's official fine-tuning procedure.

The reference procedure is QwenLM/Qwen2.5-VL `qwen-vl-finetune/qwenvl/data/data_qwen.py`
(`preprocess_qwen_2_visual`): the chat template is set to plain ChatML
("<|im_start|>{role}\\n{content}<|im_end|>\\n" per message), each message is tokenized on its own,
"<image>" in the text is replaced by <|vision_start|> + <|image_pad|> x (grid_thw.prod() // 4) +
<|vision_end|>, user and system turns are IGNORE_INDEX whole, and an assistant turn has its first 3
tokens ignored. The test runs that procedure with transformers' tokenizer and image processor.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.errors import TruncationError
from mmtok.sequence.labels import IGNORE_INDEX

SYSTEM = "You are a helpful assistant."


def official_preprocess(tokenizer, image_processor, turns, images):
    """data_qwen.py's preprocess_qwen_2_visual, with transformers doing the tokenizing and the grids."""
    grids = image_processor(images, return_tensors="np")["image_grid_thw"] if images else []
    counts = iter(int(np.prod(g)) // 4 for g in grids)
    input_ids, targets = [], []
    for role, content in [("system", SYSTEM)] + turns:
        while "<image>" in content:
            content = content.replace("<image>", "<|vision_start|>" + "<|image_pad|>" * next(counts) + "<|vision_end|>", 1)
        ids = tokenizer(f"<|im_start|>{role}\n{content}<|im_end|>\n", add_special_tokens=False)["input_ids"]
        input_ids += ids
        if role in ("user", "system"):
            targets += [IGNORE_INDEX] * len(ids)
        else:
            targets += [IGNORE_INDEX] * 3 + ids[3:]
    return input_ids, targets


def to_messages(turns, images):
    it = iter(images)
    messages = []
    for role, content in turns:
        parts = content.split("<image>")
        items = []
        for k, part in enumerate(parts):
            if k:
                items.append({"type": "image", "image": next(it)})
            if part:
                items.append({"type": "text", "text": part})
        messages.append({"role": role, "content": items})
    return messages


@pytest.fixture(scope="module")
def reference(ref_qwen2vl_processor):
    return ref_qwen2vl_processor.tokenizer, ref_qwen2vl_processor.image_processor


def conversations(rng, photos):
    images = [Image.fromarray(a) for _, a in photos[:3]] + [Image.fromarray(rng.integers(0, 256, (90, 300, 3), dtype=np.uint8))]
    yield [("user", "<image>What is in the picture?"), ("assistant", "A person in a space suit.")], images[:1]
    yield (
        [
            ("user", "<image>Describe it."),
            ("assistant", "A cat.\n"),
            ("user", "And these?<image><image>"),
            ("assistant", "  Coffee, then a rocket.  "),
            ("user", "Thanks"),
            ("assistant", "你好！Anything else?"),
        ],
        images[1:4],
    )
    yield [("user", "no images at all"), ("assistant", "fine")], []


def test_labels_match_official_finetune_procedure(reference, photos):
    tokenizer, image_processor = reference
    proc = mmtok.get_processor("qwen2-vl")
    for turns, images in conversations(np.random.default_rng(3), photos):
        ref_ids, ref_labels = official_preprocess(tokenizer, image_processor, turns, images)
        out = proc(to_messages(turns, images), labels=True)
        assert out["input_ids"][0].tolist() == ref_ids
        assert out["labels"][0].tolist() == ref_labels
        assert out["labels"].dtype == np.int64


def test_content_eos_style_drops_the_newline(photos):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    tok = mmtok.get_tokenizer("qwen2")
    qwen = mmtok.get_processor("qwen2-vl")(messages, labels=True)
    eos = mmtok.get_processor("qwen2-vl")(messages, labels=True, label_style="content-eos")
    learned = lambda out: tok.decode([t for t in out["labels"][0].tolist() if t != IGNORE_INDEX])  # noqa: E731
    assert learned(qwen) == "hello<|im_end|>\n"
    assert learned(eos) == "hello<|im_end|>"


def test_max_length_never_cuts_an_image(photos):
    image = Image.fromarray(photos[0][1])
    messages = [{"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image", "image": image}]}, {"role": "assistant", "content": "An astronaut."}]
    proc = mmtok.get_processor("qwen2-vl", max_pixels=256 * 28 * 28)
    full = proc(messages, labels=True)
    n = full["input_ids"].shape[1]
    assert proc.sequence_lengths(messages) == [n]  # known from the image header, before any truncation
    start = int(np.argmax(full["input_ids"][0] == 151655))
    tokens = full.plans[0].tokens
    with pytest.raises(TruncationError, match=rf"sample 0: max_length {start + 5:,} would cut image 1 .* at least {start + tokens + 1:,}"):
        proc(messages, max_length=start + 5)
    # a cut after the image truncates ids and labels alike
    cut = proc(messages, labels=True, max_length=n - 3)
    assert cut["input_ids"][0].tolist() == full["input_ids"][0, : n - 3].tolist()
    assert cut["labels"][0].tolist() == full["labels"][0, : n - 3].tolist()
    np.testing.assert_array_equal(cut["pixel_values"], full["pixel_values"])


def test_sequence_lengths_from_headers(photo_files):
    proc = mmtok.get_processor("qwen2.5-vl")
    batch = [[{"role": "user", "content": [{"type": "image", "image": str(p)}, {"type": "text", "text": "?"}]}] for p in photo_files[:4]]
    out = proc(batch, add_generation_prompt=True)
    assert proc.sequence_lengths(batch, add_generation_prompt=True) == out["attention_mask"].sum(axis=1).tolist()
