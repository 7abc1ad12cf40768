"""Groma-style region tokens (mmtok.discrete.regions).

References: transformers' PreTrainedTokenizerFast on the saved tokenizer.json (same region token ids),
Pillow's own crop + resize of the same pixel box, hand-computed means of the feature cells inside an
integer-aligned box, and the identity that bilinear sampling (hence RoIAlign) of a linear function
returns the function's value at the bin centre.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image
from skimage import data as skdata

from mmtok.discrete.data import to_tensor
from mmtok.discrete.models import build_model
from mmtok.discrete.regions import (
    RegionVocabulary, box_average, crop_regions, encode_regions, match_boxes, region_features, roi_align,
)
from mmtok.errors import GroundingError, InvalidOptionError
from mmtok.text.train import train as train_text

BOXES = np.array([[10, 20, 110, 90], [200.5, 40.25, 300.75, 220.0], [0, 0, 512, 512], [37, 301, 38, 302]])


@pytest.fixture(scope="module")
def small_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("regions") / "tokenizer.json"
    docs = [inspect.getdoc(m) or "" for m in (json, inspect, np)]
    train_text(texts=docs * 3, vocab_size=500, special_tokens=["<|endoftext|>"], out=path)
    return path


@pytest.fixture(scope="module")
def vocab():
    return RegionVocabulary("qwen2", 100)


def test_boxes_to_tokens_to_boxes_is_exact(vocab):
    prompt = vocab.prompt(BOXES)
    assert prompt == "<roi>" + "".join(f"<r{i}><region>" for i in range(4)) + "</roi>"
    ids = vocab.encode(prompt)
    assert np.array_equal(vocab.refer(ids, BOXES), BOXES)  # ids -> boxes
    assert np.array_equal(vocab.refer(prompt, BOXES), BOXES)  # text -> boxes
    answer = "The cup is <r2>, left of <r0>; again <r2>."
    assert np.array_equal(vocab.refer(vocab.encode(answer), BOXES), BOXES[[2, 0, 2]])
    assert vocab.tag(BOXES, BOXES) == ["<r0>", "<r1>", "<r2>", "<r3>"]  # boxes -> tokens
    assert vocab.ground("at <r1>", BOXES) == "at [200.5, 40.25, 300.75, 220]"
    assert vocab.expand("see <r3> now") == "see <r3><region> now"
    assert vocab.tokenizer.decode(ids) == prompt


def test_user_boxes_are_matched_by_iou():
    proposals = [[0, 0, 10, 10], [20, 20, 40, 40], [5, 5, 15, 15]]
    assert match_boxes([[21, 19, 41, 39], [0, 0, 9, 11], [6, 6, 15, 16]], proposals) == [1, 0, 2]


def test_region_ids_agree_with_transformers(small_json, tmp_path):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "regions.json"
    vocab = RegionVocabulary(small_json, 16, out=out)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    assert {t: hf.convert_tokens_to_ids(t) for t in vocab.ids} == vocab.ids
    text = "The region <r3> holds " + vocab.prompt(BOXES[:2])
    assert vocab.encode(text) == hf.encode(text)
    assert np.array_equal(vocab.refer(hf.encode(text), BOXES), BOXES[[3, 0, 1]])


def test_crops_equal_pillow_crop_and_resize():
    image = skdata.astronaut()
    crops = crop_regions(image, BOXES, 32)
    # integer pixel boxes: x1, y1 floored and x2, y2 ceiled (box 1: 200.5 -> 200, 40.25 -> 40, 300.75 -> 301, 220 -> 220)
    pixel_boxes = [(10, 20, 110, 90), (200, 40, 301, 220), (0, 0, 512, 512), (37, 301, 38, 302)]
    for crop, box in zip(crops, pixel_boxes):
        want = np.asarray(Image.fromarray(image).crop(box).resize((32, 32), Image.Resampling.BICUBIC))
        assert np.array_equal(crop, want)


def test_roi_align_equals_the_mean_of_an_integer_aligned_box():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(5, 8, 8, generator=g, dtype=torch.float64)
    boxes = [[0, 0, 4, 4], [2, 3, 7, 8], [1, 1, 2, 2], [0, 0, 8, 8]]
    pooled = roi_align(f, boxes, 1)
    averaged = box_average(f, boxes)
    for (x1, y1, x2, y2), p, a in zip(boxes, pooled, averaged):
        want = f[:, y1:y2, x1:x2].mean(dim=(1, 2))
        assert torch.allclose(p[:, 0, 0], want, atol=1e-12) and torch.allclose(a, want, atol=1e-12)
    # 2 x 2 bins of a 4 x 4 box: the four 2 x 2 block means; boxes given in input pixels with spatial_scale 1/4
    out = roi_align(f, [[8, 16, 24, 32]], 2, spatial_scale=0.25)[0]
    for i in range(2):
        for j in range(2):
            want = f[:, 4 + 2 * i : 6 + 2 * i, 2 + 2 * j : 4 + 2 * j].mean(dim=(1, 2))
            assert torch.allclose(out[:, i, j], want, atol=1e-12)


def test_roi_align_of_a_linear_map_is_its_value_at_the_bin_centre():
    ys, xs = torch.meshgrid(torch.arange(10.0, dtype=torch.float64), torch.arange(12.0, dtype=torch.float64), indexing="ij")
    f = torch.stack([3 * xs - 2 * ys + 1, 0.5 * ys])
    box = [2.3, 1.7, 9.1, 7.9]  # fractional: samples fall between cells
    out = roi_align(f, [box], (2, 3))[0]
    x1, y1, x2, y2 = (v - 0.5 for v in box)  # aligned=True: pixel centres at +0.5
    for i in range(2):
        for j in range(3):
            cy, cx = y1 + (i + 0.5) * (y2 - y1) / 2, x1 + (j + 0.5) * (x2 - x1) / 3
            assert out[0, i, j].item() == pytest.approx(3 * cx - 2 * cy + 1, abs=1e-12)
            assert out[1, i, j].item() == pytest.approx(0.5 * cy, abs=1e-12)


def test_region_features_pool_the_encoder_latents():
    torch.manual_seed(0)
    model = build_model({
        "arch": "vqvae", "size": 32, "factor": 4, "channels": 16, "res_channels": 8, "res_blocks": 1, "dim": 8,
        "quantizer": {"name": "vq", "codebook_size": 64},
    }).eval()
    image = skdata.astronaut()[100:132, 200:232]  # already 32 x 32: no resize
    boxes = [[0, 0, 16, 16], [8, 4, 32, 20]]  # cell-aligned at f = 4
    with torch.no_grad():
        latents = model.encode_latents(model.check_images(to_tensor(image[None])))[0]  # (8, 8, dim)
    want = torch.stack([latents[0:4, 0:4].mean(dim=(0, 1)), latents[1:5, 2:8].mean(dim=(0, 1))])
    assert torch.allclose(region_features(image, boxes, model), want, atol=1e-5)
    assert torch.allclose(region_features(image, boxes, model, pool="average"), want, atol=1e-5)
    codes = region_features(image, boxes, model, quantize=True)
    assert torch.equal(codes, model.quantizer.encode(want))
    ids = encode_regions(skdata.astronaut(), BOXES, model)
    assert ids.shape == (4, 8, 8)
    assert torch.equal(ids, model.encode(to_tensor(crop_regions(skdata.astronaut(), BOXES, 32))))


def test_bad_boxes_and_references_raise_typed_errors(vocab):
    with pytest.raises(GroundingError):
        vocab.prompt([[5, 5, 4, 10]])  # x2 <= x1
    with pytest.raises(GroundingError):
        vocab.prompt([[1, 2, 3]])
    with pytest.raises(GroundingError):
        vocab.refer("see <r7>", BOXES)  # only 4 boxes
    with pytest.raises(GroundingError):
        vocab.prompt(np.tile([0, 0, 1, 1], (101, 1)))  # more boxes than region tokens
    with pytest.raises(GroundingError):
        crop_regions(skdata.astronaut(), [[600, 600, 700, 700]], 32)  # no pixels inside the image
    with pytest.raises(InvalidOptionError):
        roi_align(torch.zeros(2, 3), [[0, 0, 1, 1]])
