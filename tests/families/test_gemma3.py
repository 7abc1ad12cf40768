"""Gemma 3 against transformers 5.23's Gemma3Processor + Gemma3ImageProcessorPil, run offline.

Reference settings (research/families.md section 8): google/gemma-3-4b-it preprocessor_config.json:
size {"height": 896, "width": 896}, resample 2 (BILINEAR), image_mean = image_std = [0.5, 0.5, 0.5],
do_pan_and_scan / pan_and_scan_* null (the processor's defaults apply: off, 256, 4, 1.2);
processor_config.json image_seq_length 256; tokenizer: <bos> first, boi <start_of_image>, eoi
<end_of_image>, image token <image_soft_token>.
"""

from __future__ import annotations

import numpy as np
import pytest

import mmtok
from mmtok.vision.families import get_family
from mmtok.vision.families.gemma3 import CROPS_INTRO, CROPS_MIDDLE

SPECIALS = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]


def newline_tokenizer(path):
    """A byte-level vocabulary (as reference_tokenizers.build_tiny_tokenizer_json) with Gemma's image
    tokens, <bos> first, and one merge: "\\n" + "\\n" (a single token in Gemma's vocabulary), so that
    len(input_ids) can check total_tokens."""
    from reference_tokenizers import _bytes_to_unicode
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    chars = _bytes_to_unicode()
    vocab = {chars[b]: i for i, b in enumerate(sorted(chars))}
    newline = chars[ord("\n")]
    vocab[newline * 2] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[(newline, newline)]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(["<bos>", *SPECIALS])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", tokenizer.token_to_id("<bos>"))]
    )
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """options -> (transformers' Gemma3Processor, mmtok processor) on the same tokenizer.json."""
    from transformers import Gemma3Processor, PreTrainedTokenizerFast
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    path = newline_tokenizer(tmp_path_factory.mktemp("gemma3") / "tokenizer.json")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(path),
        pad_token="<end_of_image>",
        extra_special_tokens={"boi_token": SPECIALS[0], "eoi_token": SPECIALS[1], "image_token": SPECIALS[2]},
    )
    image_processor = Gemma3ImageProcessorPil(
        size={"height": 896, "width": 896}, resample=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]
    )
    ref = Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_length=256)
    cache = {}

    def get(**options):
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = mmtok.get_processor("gemma3", tokenizer=str(path), **options)
        return ref, cache[key]

    return get


def shaped(h: int, w: int):
    """A (3, h, w) array of no memory (zero strides): pan_and_scan reads only the shape to plan crops."""
    return np.broadcast_to(np.zeros((), np.uint8), (3, h, w))


def sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(8)
    out = [(1, 1), (1, 10000), (10000, 1), (600, 1800), (1080, 1920), (800, 900), (300, 1030), (1300, 300), (256, 513)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(700, 2))).astype(int) + 1]
    return out


@pytest.mark.parametrize(
    "options",
    [{}, {"pan_and_scan": True}, {"pan_and_scan": True, "pan_and_scan_min_crop_size": 100, "pan_and_scan_max_num_crops": 7,
                                   "pan_and_scan_min_ratio_to_activate": 2.0}],
)  # fmt: skip
def test_plans_match_pan_and_scan(options, references):
    """Crop count and crop shapes equal Gemma3ImageProcessorPil.pan_and_scan's on every size (off: none)."""
    ref, proc = references(**options)
    family = proc.family
    args = dict(
        pan_and_scan_min_crop_size=options.get("pan_and_scan_min_crop_size", 256),
        pan_and_scan_max_num_crops=options.get("pan_and_scan_max_num_crops", 4),
        pan_and_scan_min_ratio_to_activate=options.get("pan_and_scan_min_ratio_to_activate", 1.2),
    )
    cropped = 0
    for h, w in sizes():
        plan = family.plan_size((h, w))
        crops = ref.image_processor.pan_and_scan(shaped(h, w), **args) if options else []
        assert plan.tiles == 1 + len(crops) and plan.tokens == 256 * plan.tiles, (h, w)
        boxes = plan.details.get("crops", [])
        assert [(b - t, r - l) for t, l, b, r in boxes] == [c.shape[1:] for c in crops], (h, w)
        assert plan.total == plan.tokens + 4 * plan.tiles
        cropped += bool(crops)
    assert cropped > 100 or not options
    if not options:
        counts = ref._get_num_multimodal_tokens(image_sizes=sizes())["num_image_tokens"]
        assert counts == [family.plan_size(s).tokens for s in sizes()]


def test_research_vectors():
    family = get_family("gemma3", pan_and_scan=True)
    assert family.plan_size((600, 1800)).tokens == 1024  # 3 crops
    assert family.plan_size((1080, 1920)).tokens == 768  # 2 crops
    assert family.plan_size((800, 900)).tokens == 256  # ratio 1.125 < 1.2
    assert get_family("gemma3").plan_size((10000, 1)).tokens == 256


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def generated_images():
    """PIL images (the reference guesses the channel axis of small arrays): odd sizes and modes, and
    wide / tall ones for pan and scan (300 x 1030: the last of 3 crops is clipped to 342 px)."""
    from PIL import Image

    rng = np.random.default_rng(5)
    shapes = [(1, 90, 3), (33, 47, 3), (120, 80, 4), (64, 200), (300, 1030, 3), (1300, 300, 3)]
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in shapes]


def as_input(array):
    from PIL import Image

    return Image.fromarray(array, mode="L") if array.ndim == 2 else array


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_pixels_bit_exact(pan_and_scan, references, photos, photo_files):
    ref, proc = references(pan_and_scan=pan_and_scan)
    images = [as_input(a) for _, a in photos] + generated_images() + [str(p) for p in photo_files[:2]]
    if pan_and_scan:
        images = [as_input(photos[2][1]), as_input(photos[3][1]), *generated_images()[4:]]  # 2, 2, 3 and 4 crops
    expected = ref.image_processor(images, do_pan_and_scan=pan_and_scan, pan_and_scan_min_crop_size=256,
                                   pan_and_scan_max_num_crops=4, pan_and_scan_min_ratio_to_activate=1.2)  # fmt: skip
    ours = proc.preprocess_images(images)
    assert same_bits(ours["pixel_values"], np.stack(expected["pixel_values"]))
    assert [p.tiles - 1 for p in ours.plans] == list(expected["num_crops"])
    if pan_and_scan:
        assert [p.tiles - 1 for p in ours.plans] == [2, 2, 3, 4]


PROMPTS = [
    ("<start_of_image>Describe this image.", 1),
    ("Compare <start_of_image> with <start_of_image> please.", 2),
    ("<start_of_image>", 1),
]


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_sequences_match_processor(pan_and_scan, references, photos):
    """input_ids, attention_mask, pixel_values and token_type_ids (mmtok: mm_token_type_ids)."""
    ref, proc = references(pan_and_scan=pan_and_scan)
    images = [as_input(photos[3][1]), generated_images()[1]]
    for prompt, count in PROMPTS:
        given = images[:count]
        expected = ref(text=prompt, images=given, do_pan_and_scan=pan_and_scan)
        ours = proc.encode_text(prompt, given)
        assert sorted(expected) == ["attention_mask", "input_ids", "pixel_values", "token_type_ids"]
        assert ours["input_ids"].tolist() == expected["input_ids"], prompt
        assert ours["attention_mask"].tolist() == expected["attention_mask"]
        assert ours["mm_token_type_ids"].tolist() == expected["token_type_ids"]
        assert same_bits(ours["pixel_values"], np.stack(expected["pixel_values"]))


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_total_tokens_is_the_image_footprint(pan_and_scan, references):
    """An image alone: <bos> + plan.total ids, plus (with crops) the pan-and-scan sentences, which the
    tiny tokenizer spells byte by byte."""
    _, proc = references(pan_and_scan=pan_and_scan)
    for image in generated_images()[3:]:
        out = proc.encode_text("<start_of_image>", [image])
        plan = out.plans[0]
        crops = plan.tiles - 1
        text = len(CROPS_INTRO) + len(CROPS_MIDDLE) + crops - 1 if crops else 0
        assert out["input_ids"].shape[1] == 1 + plan.total + text
        assert int(out["mm_token_type_ids"].sum()) == plan.tokens


def test_newlines_next_to_the_image_merge_as_in_the_reference(references):
    """The layout's "\n\n" and the prompt's own newlines are one string to BPE, as in the reference."""
    ref, proc = references()
    image = generated_images()[1]
    prompt = "Look:\n<start_of_image>\nthere"
    assert proc.encode_text(prompt, [image])["input_ids"].tolist() == ref(text=prompt, images=[image])["input_ids"]


def test_options_and_placeholder():
    from mmtok.errors import InvalidOptionError

    family = get_family("google/gemma-3-27b-it")
    assert family.text_placeholder("image") == family.template_text("image") == "<start_of_image>"
    assert family.modality_tokens == {"image": "<image_soft_token>"}
    with pytest.raises(InvalidOptionError, match="takes no max_pixels"):
        get_family("gemma3", max_pixels=100)
    with pytest.raises(InvalidOptionError, match="pan_and_scan_max_num_crops"):
        get_family("gemma3", pan_and_scan=True, pan_and_scan_max_num_crops=0)
