"""Pixtral and Mistral-Small-3.1 against transformers 5.23's PixtralProcessor + PixtralImageProcessorPil
(run offline), and the token grid of mistral-common (tests/reference_pixtral.py).

Reference settings (research/families.md section 7):
* mistral-community/pixtral-12b preprocessor_config.json: patch_size {"height": 16, "width": 16},
  size {"longest_edge": 1024}, resample 3 (BICUBIC), CLIP mean/std; processor_config.json: patch_size 16,
  [IMG] / [IMG_BREAK] / [IMG_END];
* mistralai/Mistral-Small-3.1-24B-Instruct-2503: patch_size 14, size {"longest_edge": 1540}, and the
  processor's spatial_merge_size 2 (28 px per token).
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from reference_pixtral import image_to_num_tokens
from reference_tokenizers import build_tiny_tokenizer_json

import mmtok
from mmtok.errors import AspectRatioError
from mmtok.vision.families import get_family

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CHECKPOINTS = {
    "pixtral": dict(patch_size=16, merge=1, longest_edge=1024),
    "mistral-small-3.1": dict(patch_size=14, merge=2, longest_edge=1540),
}


def pixtral_processor_class():
    """transformers' PixtralProcessor. Its module imports one size function from the torchvision image
    processor module; the Pil module holds the same function, so that module stands in while it loads."""
    from transformers.models.pixtral import image_processing_pil_pixtral

    name = "transformers.models.pixtral.image_processing_pixtral"
    saved = sys.modules.get(name)
    sys.modules[name] = image_processing_pil_pixtral
    try:
        module = importlib.import_module("transformers.models.pixtral.processing_pixtral")
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved
    return module.PixtralProcessor


def image_processor(model: str):
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    c = CHECKPOINTS[model]
    return PixtralImageProcessorPil(
        patch_size={"height": c["patch_size"], "width": c["patch_size"]}, size={"longest_edge": c["longest_edge"]},
        resample=3, image_mean=CLIP_MEAN, image_std=CLIP_STD,
    )  # fmt: skip


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    from transformers import PreTrainedTokenizerFast

    base = pixtral_processor_class()

    class Offline(base):
        # the attribute check goes through auto mappings that need torchvision
        def check_argument_for_proper_class(self, name, arg):
            return arg

    path = build_tiny_tokenizer_json(tmp_path_factory.mktemp("pixtral") / "tokenizer.json", ["[IMG]", "[IMG_BREAK]", "[IMG_END]"], bos="<s>")
    out = {}
    for model, c in CHECKPOINTS.items():
        tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path), pad_token="[IMG_END]")
        ref = Offline(image_processor=image_processor(model), tokenizer=tokenizer, patch_size=c["patch_size"], spatial_merge_size=c["merge"])
        out[model] = ref, mmtok.get_processor(model, tokenizer=str(path))
    return out


def sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(7)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (1, 1024), (1, 1025), (1, 2047), (1, 2048), (1, 2049),
           (3, 599), (599, 3), (1024, 1024), (1540, 1540), (1080, 1920), (1920, 1080), (4000, 3000), (20000, 20000),
           (1999, 4731), (7, 9000), (16, 16), (17, 17), (15, 33)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(700, 2))).astype(int) + 1]
    return out  # fmt: skip


def shaped(h: int, w: int):
    """An (h, w, 3) array of no memory (zero strides), for the reference's size functions, which read shapes."""
    return np.broadcast_to(np.zeros((), np.uint8), (h, w, 3))


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_plans_match_transformers(model, references):
    """The resized size and grid equal get_resize_output_image_size (floor); a side floored to 0 (the
    reference would resize to width 0 and fail) is refused; total_tokens equals the processor's
    _get_num_multimodal_tokens (under 3 MP, where it allocates a zero image of the size)."""
    from transformers.models.pixtral.image_processing_pil_pixtral import get_resize_output_image_size

    ref, proc = references[model]
    c = CHECKPOINTS[model]
    unit = c["patch_size"] * c["merge"]
    refused = 0
    for h, w in sizes():
        rh, rw = get_resize_output_image_size(
            shaped(h, w), size=(c["longest_edge"],) * 2, patch_size=(unit, unit), input_data_format="channels_last"
        )
        if rh == 0 or rw == 0:
            with pytest.raises(AspectRatioError):
                proc.family.plan_size((h, w))
            refused += 1
            continue
        plan = proc.family.plan_size((h, w))
        assert plan.resized == (rh, rw), (h, w)
        assert plan.tokens == (rh // unit) * (rw // unit) and plan.total == plan.tokens + rh // unit, (h, w)
    assert refused > 10
    # _get_num_multimodal_tokens builds np.zeros((h, w, 3)) and lets the channel axis be guessed: an image
    # 1, 3 or 4 px tall is read as channels-first there (a reference quirk), so those heights are left out
    small = [s for s in sizes() if s[0] * s[1] < 3_000_000 and min(s) * 1024 >= max(s) and s[0] not in (1, 3, 4)]
    counts = ref._get_num_multimodal_tokens(image_sizes=small)["num_image_tokens"]
    assert [proc.family.plan_size(s).total for s in small] == counts


def test_round_matches_mistral_common():
    """downscale="round" gives mistral-common's grid; where its round() takes a side to 0 (it asserts
    w > 0 and h > 0), mmtok refuses the size."""
    family, floor = get_family("pixtral", downscale="round"), get_family("pixtral")
    differ = 0
    for h, w in sizes():
        cols, rows = image_to_num_tokens(w, h)
        if rows <= 0 or cols <= 0:
            with pytest.raises(AspectRatioError):
                family.plan_size((h, w))
            continue
        plan = family.plan_size((h, w))
        assert (plan.details["rows"], plan.details["cols"]) == (rows, cols), (h, w)
        try:
            differ += floor.plan_size((h, w)).tokens != plan.tokens
        except AspectRatioError:
            differ += 1
    assert differ > 0  # e.g. 1999 x 4731: transformers 27 x 64 tokens, mistral-common 28 x 64
    assert family.plan_size((1999, 4731)).details == {"rows": 28, "cols": 64}
    assert floor.plan_size((1999, 4731)).details == {"rows": 27, "cols": 64}
    mistral3 = get_family("mistral-small-3.1", downscale="round")
    for h, w in sizes()[:500]:
        cols, rows = image_to_num_tokens(w, h, image_patch_size=14, max_image_size=1540, spatial_merge_size=2)
        if rows > 0 and cols > 0:
            assert (mistral3.plan_size((h, w)).details["rows"], mistral3.plan_size((h, w)).details["cols"]) == (rows, cols)


def test_research_vectors():
    counts = {(1024, 1024): 4160, (480, 640): 1230, (1080, 1920): 2340, (1920, 1080): 2368, (336, 336): 462, (200, 800): 663}
    for size, total in counts.items():
        assert get_family("pixtral").plan_size(size).total == total
    assert get_family("mistral-small-3.1").plan_size((1540, 1540)).total == 3080
    assert get_family("mistral-small-3.1").plan_size((1024, 1024)).total == 1406


def generated_images():
    """PIL images (the reference guesses the channel axis of small arrays)."""
    from PIL import Image

    rng = np.random.default_rng(5)
    shapes = [(1, 90, 3), (33, 47, 3), (300, 2, 3), (17, 2100, 3), (120, 80, 4), (64, 200)]
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in shapes]


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def as_input(array):
    from PIL import Image

    return Image.fromarray(array, mode="L") if array.ndim == 2 else array


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_pixels_bit_exact(model, references, photos, photo_files):
    """Each image alone, then all of them in one call (zero-padded to the largest)."""
    ref, proc = references[model]
    unit = CHECKPOINTS[model]["patch_size"] * CHECKPOINTS[model]["merge"]
    images = [as_input(a) for _, a in photos] + generated_images() + [str(p) for p in photo_files[:2]]
    for image in images:
        expected = ref.image_processor([image], patch_size={"height": unit, "width": unit})
        ours = proc.preprocess_images([image])
        assert same_bits(ours["pixel_values"], expected["pixel_values"]), image
        assert ours["image_sizes"].tolist() == [list(s) for s in expected["image_sizes"]]
    expected = ref.image_processor(images, patch_size={"height": unit, "width": unit})
    ours = proc.preprocess_images(images)
    assert same_bits(ours["pixel_values"], expected["pixel_values"])
    assert ours["image_sizes"].dtype == np.int64


PROMPTS = [("[IMG]Describe the image.", 1), ("Compare [IMG] with\n[IMG] please", 2), ("[IMG]", 1)]


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_sequences_match_processor(model, references, photos):
    """input_ids, attention_mask, pixel_values and image_sizes of processor(text=..., images=...)."""
    ref, proc = references[model]
    images = [photos[1][1], *generated_images()[2:4]]
    for prompt, count in PROMPTS:
        given = images[:count]
        expected = ref(text=prompt, images=given)
        ours = proc.encode_text(prompt, given)
        assert sorted(expected) == ["attention_mask", "image_sizes", "input_ids", "pixel_values"]
        assert ours["input_ids"].tolist() == expected["input_ids"].tolist(), prompt
        assert ours["attention_mask"].tolist() == expected["attention_mask"].tolist()
        assert same_bits(ours["pixel_values"], expected["pixel_values"].numpy())
        assert ours["image_sizes"].tolist() == expected["image_sizes"].tolist()
        # each image alone is its footprint: <s> + plan.total
        single = proc.encode_text("[IMG]", given[:1])
        assert single["input_ids"].shape[1] == 1 + single.plans[0].total


def test_layout():
    from mmtok.sequence.pieces import Media, Special

    family = get_family("pixtral")
    plan = family.plan_size((40, 50))  # 3 rows of 4
    assert family.expand(Media("image", 0), plan) == [
        Special("[IMG]", 4), Special("[IMG_BREAK]"), Special("[IMG]", 4), Special("[IMG_BREAK]"), Special("[IMG]", 4), Special("[IMG_END]")
    ]  # fmt: skip
    assert family.expand(Media("image", 0), family.plan_size((1, 1))) == [Special("[IMG]", 1), Special("[IMG_END]")]


def test_options_are_checked():
    from mmtok.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="downscale"):
        get_family("pixtral", downscale="ceil")
    with pytest.raises(InvalidOptionError, match="takes no min_pixels"):
        get_family("pixtral", min_pixels=4)
    assert get_family("pixtral", longest_edge=512).plan_size((1024, 1024)).total == 32 * 33
    assert get_family("mistralai/Mistral-Small-3.1-24B-Instruct-2503").name == "mistral-small-3.1"
