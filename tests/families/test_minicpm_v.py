"""The "minicpm-v-2.6" family against MiniCPM-V 2.6's own image processor and processor (remote code on the
Hugging Face Hub, transcribed in reference_minicpm_v.py; transformers has no MiniCPM-V 2.6 processor)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from reference_minicpm_v import MiniCPMVImageProcessor, MiniCPMVProcessor
from reference_tokenizers import build_tiny_tokenizer_json

import mmtok
from mmtok.errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from mmtok.vision.families import get_family

# openbmb/MiniCPM-V-2_6 preprocessor_config.json, as given in research/families.md section 5
CHECKPOINT = dict(
    max_slice_nums=9,
    scale_resolution=448,
    patch_size=14,
    use_image_id=True,
    image_feature_size=64,
    norm_mean=[0.5, 0.5, 0.5],
    norm_std=[0.5, 0.5, 0.5],
    version=2.6,
)


def sizes() -> list[tuple[int, int]]:
    """(height, width): extreme ones, area thresholds of the slice counts, random ones."""
    rng = np.random.default_rng(6)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (448, 448), (449, 448), (1080, 1920),
           (20000, 20000), (7, 9000)]  # fmt: skip
    out += [(448 * k, 448) for k in range(1, 12)] + [(448, 448 * k + 1) for k in range(1, 12)] + [(2400, 600), (3000, 4000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(2000, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(1000, 2))).astype(int) + 1]
    return out


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("minicpm") / "tokenizer.json"
    return build_tiny_tokenizer_json(path, list(get_family("minicpm-v-2.6").special_tokens))


@pytest.fixture(scope="module")
def ref_image_processor():
    return MiniCPMVImageProcessor(**CHECKPOINT)


@pytest.fixture(scope="module")
def ref_processor(ref_image_processor, tokenizer_file):
    from transformers import PreTrainedTokenizerFast

    return MiniCPMVProcessor(ref_image_processor, PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file)))


@pytest.fixture(scope="module")
def proc(tokenizer_file):
    return mmtok.get_processor("minicpm-v-2.6", tokenizer=str(tokenizer_file))


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    differ = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert differ == 0, f"{differ} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


# -- plan ------------------------------------------------------------------------------------------


def test_published_counts():
    """research/families.md section 5 test vectors (width x height -> tokens)."""
    family = get_family("minicpm-v-2.6")
    vectors = {(448, 448): 64, (800, 200): 64, (640, 480): 192, (1000, 1000): 320, (1024, 1024): 448, (1920, 1080): 576,
               (1344, 1344): 640, (4000, 3000): 640, (600, 2400): 512}  # fmt: skip
    for (w, h), tokens in vectors.items():
        assert family.plan_size((h, w)).tokens == tokens, (w, h)
    plan = family.plan_size((1000, 1000))
    assert plan.details == {"grid": [2, 2], "slice_size": [448, 448]} and plan.tiles == 5
    # <image_id> 0 </image_id>, <image> </image>, 4 x <slice> </slice>, one "\n"
    assert plan.total == 320 + 3 + 2 + 8 + 1


@pytest.mark.parametrize("max_slice_nums", [9, 4, 1])
def test_plans_match_reference(ref_image_processor, tokenizer_file, max_slice_nums):
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file))
    family = get_family("minicpm-v-2.6", max_slice_nums=max_slice_nums)
    ref = ref_image_processor
    unk = tokenizer.convert_tokens_to_ids("<unk>")
    for h, w in sizes():
        plan = family.plan_size((h, w))
        grid = ref.get_sliced_grid((w, h), max_slice_nums)
        if grid is None:
            assert plan.details["grid"] is None and plan.tiles == 1, (h, w)
            assert plan.resized == ref.find_best_resize((w, h), 448, 14, allow_upscale=True)[::-1], (h, w)
        else:
            cols, rows = grid
            refine_w, refine_h = ref.get_refine_size((w, h), grid, 448, 14, allow_upscale=True)
            assert plan.details == {"grid": [rows, cols], "slice_size": [refine_h // rows, refine_w // cols]}, (h, w)
            assert plan.resized == ref.find_best_resize((w, h), 448, 14)[::-1], (h, w)
            assert plan.tiles == 1 + cols * rows
        ids = tokenizer.encode(ref.get_slice_image_placeholder((w, h), 0, max_slice_nums))
        assert (plan.tokens, plan.total) == (ids.count(unk), len(ids)), (h, w)


def test_bad_options_and_sizes():
    with pytest.raises(InvalidOptionError):
        get_family("minicpm-v-2.6", max_slice_nums=0)
    with pytest.raises(EmptyImageError):
        get_family("minicpm-v-2.6").plan_size((10, 0))


# -- pixels ----------------------------------------------------------------------------------------


def generated_images():
    rng = np.random.default_rng(9)
    shapes = [(20, 900), (700, 90), (5, 5), (448, 448), (449, 448), (1000, 1000), (2400, 600), (97, 1310), (14, 8000)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]
    images.append(Image.fromarray(rng.integers(0, 256, (60, 80), dtype=np.uint8), mode="L"))
    images.append(Image.fromarray(rng.integers(0, 256, (640, 480, 4), dtype=np.uint8), mode="RGBA"))
    return images


def test_pixels_match_reference(proc, ref_image_processor, photos, photo_files):
    cases = [(Image.fromarray(a), Image.fromarray(a)) for _, a in photos] + [(im, im) for im in generated_images()]
    # files: the user opens them as the model card does, Image.open(path).convert("RGB")
    cases += [(str(p), Image.open(p).convert("RGB")) for p in photo_files[:4]]
    for mine_input, ref_input in cases:
        ref = ref_image_processor.preprocess([ref_input])
        mine = proc.preprocess_images([mine_input])
        assert len(mine["pixel_values"]) == len(ref["pixel_values"][0]) == mine.plans[0].tiles
        for got, want in zip(mine["pixel_values"], ref["pixel_values"][0]):
            assert_bit_identical(got, want)
        assert mine["tgt_sizes"].dtype == ref["tgt_sizes"][0].dtype and np.array_equal(mine["tgt_sizes"], ref["tgt_sizes"][0])
        assert mine["image_sizes"].tolist() == [list(s) for s in ref["image_sizes"][0]]


# -- sequence --------------------------------------------------------------------------------------


def _compare(proc, ref_processor, texts, images_per_text):
    ref = ref_processor(texts, images_per_text)
    flat = [im for images in images_per_text for im in images]
    mine = proc.encode_text(texts, flat)
    unk = proc.tokenizer.special_tokens["<unk>"]
    for row, (ids, bounds) in enumerate(zip(ref["input_ids"], ref["image_bound"])):
        got = mine["input_ids"][row][mine["attention_mask"][row] == 1].tolist()
        assert got == ids, row
        # image_bound: the <unk> runs the resampler's outputs fill, 64 each
        unk_positions = [i for i, t in enumerate(got) if t == unk]
        assert unk_positions == [i for start, end in bounds.tolist() for i in range(start, end)]
    assert sum(p.tokens for p in mine.plans) == int((mine["input_ids"] == unk).sum())
    ref_pieces = [a for sample in ref["pixel_values"] for a in sample]
    assert len(mine["pixel_values"]) == len(ref_pieces) == sum(p.tiles for p in mine.plans)
    for got, want in zip(mine["pixel_values"], ref_pieces):
        assert_bit_identical(got, want)
    assert mine["tgt_sizes"].tolist() == np.concatenate([t for t in ref["tgt_sizes"] if len(t)]).tolist()
    return mine


def test_sequences_match_reference(proc, ref_processor, photos):
    rng = np.random.default_rng(2)
    shapes = [(30, 500), (448, 448), (90, 60), (900, 1300)]
    small = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in shapes]
    photo = Image.fromarray(photos[0][1])
    _compare(proc, ref_processor, ["(<image>./</image>)"], [[small[1]]])
    _compare(proc, ref_processor, ["(<image>./</image>)\nWhat is in the image? café"], [[photo]])
    texts = ["(<image>./</image>)\n(<image>./</image>)\nCompare them.", "(<image>./</image>)Alone."]
    _compare(proc, ref_processor, texts, [[small[0], small[3]], [small[2]]])
    # image indices restart in every prompt and grow past one digit
    many = [small[2]] * 11 + [small[3]]
    mine = _compare(proc, ref_processor, ["".join("(<image>./</image>)\n" for _ in many)], [many])
    assert len(mine.plans) == 12
    ids = proc.tokenizer.special_tokens
    text = mine["input_ids"][0].tolist()
    starts = [i for i, t in enumerate(text) if t == ids["<image_id>"]]
    assert [bytes(text[s + 1 : text.index(ids["</image_id>"], s)]).decode() for s in starts] == [str(i) for i in range(12)]


def test_video_frames_are_images(proc):
    from mmtok.sequence.pieces import Media

    with pytest.raises(UnsupportedInputError):
        proc.family.expand(Media("video", 0), proc.family.plan_size((448, 448)))
