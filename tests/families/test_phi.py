"""Phi-3(.5)-vision and Phi-4-multimodal against their references.

* Phi-3.5-vision has no transformers processor: its remote code, transcribed in tests/reference_phi3_v.py,
  is the reference (counts, pixels bit for bit, the processor's ids).
* Phi-4-multimodal: transformers 5.23's image processor, run from its installed source without
  torchvision (tests/reference_phi4_multimodal.py), and `Phi4MultimodalProcessor` over it. Counts, sizes
  and masks are exact; pixels are compared within the tolerance the family documents (Pillow's bilinear
  against torch's machine-dependent antialiased bilinear).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
import reference_phi3_v as phi3v
import reference_phi4_multimodal as phi4
from mmtok.errors import EmptyImageError, InvalidOptionError, ResizedTooSmallError
from mmtok.vision.families import get_family

# microsoft/Phi-3.5-vision-instruct preprocessor_config.json: num_crops 4, num_img_tokens 144, CLIP
# mean/std (microsoft/Phi-3-vision-128k-instruct: num_crops 16); research/families.md §11.
PHI35_NUM_CROPS = 4
# microsoft/Phi-4-multimodal-instruct: the image processor's class defaults (448, patch 14, dynamic_hd 36).
PHI4_TOLERANCE = {"crops": 2 / 127.5 + 1e-6, "global": 2.5 / 127.5}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The references' torch calls on small tensors are ~40x slower on a busy 2-core machine with
    torch's thread pool than without it."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(35)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (336, 336), (448, 448),
           (1344, 1344), (200, 800), (1080, 1920), (1920, 1080), (4000, 3000), (20000, 20000), (7, 9000), (9, 4000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(500, 2))).astype(int) + 1]
    return out  # fmt: skip


def _images(photos):
    rng = np.random.default_rng(7)
    images = [Image.fromarray(array) for _, array in photos]
    for h, w in [(33, 470), (900, 70), (1000, 1000)]:
        images.append(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    images.append(Image.fromarray(rng.integers(0, 256, (150, 1300, 4), dtype=np.uint8), "RGBA"))
    return images


# --- Phi-3(.5)-vision ---------------------------------------------------------------------------------


@pytest.mark.parametrize("num_crops", [4, 16, 1, 9])
def test_phi3v_counts_match_the_reference(num_crops):
    family = get_family("phi-3.5-vision", num_crops=num_crops)
    ref = phi3v.Phi3VImageProcessor(num_crops=num_crops)
    checked = sizes() if num_crops in (4, 16) else sizes()[::4]
    refused = 0
    for h, w in checked:
        padded_w, padded_h = phi3v.calc_hd_transform_size(w, h, hd_num=num_crops)
        if min(padded_w, padded_h) == 0:  # HD_transform would resize to a zero side: the reference fails
            with pytest.raises(ResizedTooSmallError):
                family.plan_size((h, w))
            refused += 1
            continue
        plan = family.plan_size((h, w))
        assert plan.details["hd_size"] == [padded_h, padded_w], (h, w)
        assert plan.tokens == ref.calc_num_image_tokens_from_image_size(w, h), (h, w)
        assert plan.total == plan.tokens + 1 and plan.tiles == padded_h * padded_w // 336**2 + 1, (h, w)
    assert refused < len(checked) // 6  # only extreme aspect ratios are refused


def test_phi3v_published_examples_and_the_reference_failure():
    # research/families.md §11 [computed]: (W, H) -> tokens
    assert get_family("phi-3.5-vision").plan_size((1344, 1344)).tokens == 757
    assert get_family("microsoft/Phi-3.5-vision-instruct").plan_size((200, 800)).tokens == 745
    assert get_family("phi-3-vision").plan_size((1344, 1344)).tokens == 2509  # num_crops 16
    assert get_family("phi-3.5-vision", num_crops=16).plan_size((1080, 1920)).tokens == 2353
    with pytest.raises(ValueError):  # Pillow refuses the zero-height resize the reference asks for
        phi3v.HD_transform(Image.new("RGB", (5000, 1)), hd_num=4)
    with pytest.raises(ResizedTooSmallError):
        get_family("phi-3.5-vision").plan_size((1, 5000))


@pytest.mark.parametrize("num_crops", [PHI35_NUM_CROPS, 16])
def test_phi3v_pixels_are_bit_identical(photos, num_crops):
    family = get_family("phi-3.5-vision", num_crops=num_crops)
    images = _images(photos) if num_crops == PHI35_NUM_CROPS else _images(photos)[::3]
    pixel_values, image_sizes, num_img_tokens = phi3v.Phi3VImageProcessor(num_crops=num_crops).preprocess(images)
    ours, plans = family.preprocess_images(images)
    assert set(ours) == {"pixel_values", "image_sizes", "num_img_tokens"}
    assert ours["pixel_values"].shape == tuple(pixel_values.shape) and ours["pixel_values"].dtype == np.float32
    assert np.array_equal(pixel_values.numpy().view(np.uint32), ours["pixel_values"].view(np.uint32))
    assert np.array_equal(image_sizes.numpy(), ours["image_sizes"])
    assert np.array_equal(num_img_tokens.numpy(), ours["num_img_tokens"])
    assert [p.tokens for p in plans] == num_img_tokens.tolist()


@pytest.fixture(scope="module")
def phi3v_tokenizer_file(tmp_path_factory):
    from reference_tokenizers import build_tiny_tokenizer_json

    family = get_family("phi-3.5-vision")
    specials = list(family.special_tokens) + ["<|user|>", "<|end|>", "<|assistant|>"]
    return build_tiny_tokenizer_json(tmp_path_factory.mktemp("phi3v") / "tokenizer.json", specials, bos=family.bos_token)


def test_phi3v_sequences_match_the_reference_processor(phi3v_tokenizer_file):
    import re

    from transformers import PreTrainedTokenizerFast

    family = get_family("phi-3.5-vision")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(phi3v_tokenizer_file), bos_token="<s>")
    processor = mmtok.get_processor("phi-3.5-vision", tokenizer=str(phi3v_tokenizer_file))
    rng = np.random.default_rng(3)
    pool = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(40, 900), (700, 500), (90, 90)]]
    prompts = [
        "<|user|>\n<|image_1|>\nWhat is shown?<|end|>\n<|assistant|>\n",
        "<|image_1|><|image_2|>Compare.",
        "A <|image_1|> b <|image_2|> c <|image_3|>",
        "Text, then the image: <|image_1|>",
    ]
    for prompt in prompts:
        images = pool[: len(re.findall(r"<\|image_\d+\|>", prompt))]
        ours = processor.encode_text(re.sub(r"<\|image_\d+\|>", "<|image|>", prompt), images)
        ids, mask = phi3v.convert_images_texts_to_inputs(tokenizer, [p.tokens for p in ours.plans], prompt)
        assert ours["input_ids"].tolist() == [ids] and ours["attention_mask"].tolist() == [mask], prompt
        # each image brings its placeholder run and the <s> that starts the next chunk
        assert int((ours["input_ids"] < 0).sum()) == sum(p.tokens for p in ours.plans)
        assert "num_img_tokens" not in ours


# --- Phi-4-multimodal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dynamic_hd", [36, 12, 4, 1])
def test_phi4_counts_match_the_reference(dynamic_hd):
    family = get_family("phi-4-multimodal", dynamic_hd=dynamic_hd)
    checked = sizes() if dynamic_hd == 36 else sizes()[::5]
    refused = 0
    for h, w in checked:
        ref = phi4.count_reference(h, w, dynamic_hd)
        if ref is None:  # "the aspect ratio is very extreme"
            with pytest.raises(ResizedTooSmallError):
                family.plan_size((h, w))
            refused += 1
            continue
        tokens, hd_size, mask = ref
        plan = family.plan_size((h, w))
        assert (plan.tokens, tuple(plan.details["hd_size"])) == (tokens, hd_size), (h, w)
        assert plan.tiles == mask.numel() // 32**2 + 1, (h, w)
    assert refused < len(checked) // 6  # only extreme aspect ratios are refused


def test_phi4_published_examples():
    family = get_family("microsoft/Phi-4-multimodal-instruct")
    # research/families.md §11 [computed, cross-checked with HF processor output]: (W, H) -> tokens
    for (w, h), tokens in {(448, 448): 545, (896, 448): 801, (1024, 1024): 2625, (1920, 1080): 3918}.items():
        assert family.plan_size((h, w)).tokens == tokens, (w, h)


def _compare_phi4(ref: dict, ours: dict):
    for key in ("image_sizes", "image_attention_mask", "num_img_tokens"):
        if key in ref:
            assert ours[key].dtype == ref[key].dtype and np.array_equal(ours[key], ref[key]), key
    a, b = ref["image_pixel_values"], ours["image_pixel_values"]
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.abs(a[:, 1:] - b[:, 1:]).max() <= PHI4_TOLERANCE["crops"]
    assert np.abs(a[:, 0] - b[:, 0]).max() <= PHI4_TOLERANCE["global"]
    assert np.array_equal(a[:, 1:] == 0, b[:, 1:] == 0)  # the same zero (padding) crops


@pytest.mark.parametrize("native_uint8", [False, True], ids=["this-cpu", "avx2-uint8-kernel"])
def test_phi4_pixels_within_tolerance(photos, native_uint8, monkeypatch):
    """Both of torchvision's CPU paths: the uint8 kernel it picks on AVX2 CPUs, and whichever this
    machine's capability selects (float32 then rounded on AVX-512)."""
    if native_uint8:
        monkeypatch.setattr(phi4, "_native_uint8", lambda interpolation: True)
    family = get_family("phi-4-multimodal")
    images = _images(photos) if not native_uint8 else _images(photos)[::2]
    ref = phi4.ReferenceImageProcessor()
    for group in (images[:4], images[4:]):
        ours, plans = family.preprocess_images(group)
        expected = phi4.as_numpy(ref(group))
        _compare_phi4(expected, ours)
        assert [p.tokens for p in plans] == list(expected["num_img_tokens"])


def test_phi4_sequences_match_the_reference_processor(tmp_path):
    from reference_tokenizers import build_tiny_tokenizer_json
    from transformers import Phi4MultimodalFeatureExtractor, Phi4MultimodalProcessor, PreTrainedTokenizerFast

    specials = [*get_family("phi-4-multimodal").special_tokens, "<|audio|>"]
    path = build_tiny_tokenizer_json(tmp_path / "tokenizer.json", specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(path), pad_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>", "audio_token": "<|audio|>"},
    )  # fmt: skip

    class Offline(Phi4MultimodalProcessor):
        def check_argument_for_proper_class(self, name, arg):  # the auto mappings need torchvision
            return arg

    reference = Offline(
        image_processor=phi4.ReferenceImageProcessor(), audio_processor=Phi4MultimodalFeatureExtractor(), tokenizer=tokenizer
    )
    family = get_family("phi-4-multimodal")
    processor = mmtok.get_processor("phi-4-multimodal", tokenizer=str(path))
    rng = np.random.default_rng(4)
    pool = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(40, 900), (700, 500), (90, 90)]]
    for texts in (["<|user|><|image|>What is this?<|end|>"], ["<|image|><|image|>Compare."], ["A <|image|> b", "c <|image|>"]):
        images = pool[: sum(t.count("<|image|>") for t in texts)]
        ref = phi4.as_numpy(reference(text=texts, images=images, padding=True, return_tensors="np"))
        ours = processor.encode_text(texts, images)
        assert set(ours) - set(ref) == {"mm_token_type_ids"} and set(ref) <= set(ours), texts
        for key in ("input_ids", "attention_mask"):
            assert np.array_equal(ref[key], ours[key]), (texts, key)
        _compare_phi4(ref, ours)


def test_bad_options_and_sizes_raise_typed_errors():
    for name, option in (("phi-3.5-vision", "num_crops"), ("phi-4-multimodal", "dynamic_hd")):
        for bad in (0, -1, 2.0, True):
            with pytest.raises(InvalidOptionError):
                get_family(name, **{option: bad})
        with pytest.raises(EmptyImageError):
            get_family(name).plan_size((5, 0))
    with pytest.raises(ResizedTooSmallError):
        get_family("phi-4-multimodal").plan_size((9, 4000))
