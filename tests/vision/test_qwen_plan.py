"""Qwen2-VL plans from sizes alone agree with the reference's arithmetic on thousands of sizes."""

from __future__ import annotations

import numpy as np
import pytest

import mmtok
from mmtok.errors import AspectRatioError, EmptyImageError, InvalidOptionError, UnknownNameError

LIMIT_SETS = [
    {"min_pixels": 3136, "max_pixels": 12845056},  # Qwen2-VL checkpoint
    {"min_pixels": 56 * 56, "max_pixels": 28 * 28 * 1280},  # transformers class default
    {"min_pixels": 256 * 28 * 28, "max_pixels": 1280 * 28 * 28},  # Qwen's README suggestion
    {"min_pixels": 3136, "max_pixels": 3136},  # equal limits
]


def random_sizes(rng, n):
    sizes = [(int(h), int(w)) for h, w in rng.integers(1, 5000, size=(n, 2))]
    sizes += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(20000), size=(n, 2))).astype(int) + 1]
    sizes += [(h, w) for h in range(1, 80) for w in (1, 2, 13, 14, 27, 28, 29, 41, 42, 55, 56, 69, 70, 71, 84)]
    sizes += [(1, 200), (200, 1), (3, 600), (600, 3), (100, 20000), (20000, 100), (6000, 8000), (8000, 6000)]
    return [(h, w) for h, w in sizes if max(h, w) / min(h, w) <= 200]


@pytest.mark.parametrize("limits", LIMIT_SETS)
def test_plans_match_reference_arithmetic(limits):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

    ref = Qwen2VLImageProcessorPil(**limits)
    rng = np.random.default_rng(7)
    sizes = random_sizes(rng, 2000)
    assert len(sizes) > 4000
    for h, w in sizes:
        plan = mmtok.plan_image("qwen2-vl", (h, w), **limits)
        assert plan.resized == smart_resize(h, w, factor=28, **limits), (h, w)
        patches = ref.get_number_of_image_patches(h, w, {})
        assert plan.patches == patches and plan.tokens == patches // 4, (h, w)
        assert plan.limits == limits


def test_banker_rounding_worked_example():
    # qwen.md §1.1: 70 x 70 -> 56 x 56 because round(2.5) == 2 (published in the research's worked table)
    assert mmtok.plan_image("qwen2-vl", (70, 70)).resized == (56, 56)
    # the worked example: 336 x 500 -> 336 x 504, grid (1, 24, 36), 216 tokens
    plan = mmtok.plan_image("qwen2-vl", (336, 500))
    assert (plan.resized, plan.grid_thw, plan.tokens) == ((336, 504), (1, 24, 36), 216)


def test_aspect_ratio_over_200_raises_like_reference():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    for h, w in [(1, 201), (201, 1), (3, 601), (100, 20001)]:
        with pytest.raises(ValueError):
            smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056)
        with pytest.raises(AspectRatioError, match="over the model's limit of 200"):
            mmtok.plan_image("qwen2-vl", (h, w))


def test_zero_sized_and_bad_limits():
    with pytest.raises(EmptyImageError):
        mmtok.plan_image("qwen2-vl", (0, 10))
    with pytest.raises(InvalidOptionError, match="above max_pixels"):
        mmtok.plan_image("qwen2-vl", (10, 10), min_pixels=10_000, max_pixels=5_000)
    with pytest.raises(UnknownNameError, match="qwen2-vl"):
        mmtok.plan_image("qwen9-vl", (10, 10))


def test_plan_reports_limits_used():
    plan = mmtok.plan_image("qwen2-vl", (1080, 1920))
    assert plan.limits == {"min_pixels": 3136, "max_pixels": 12845056}
    assert mmtok.plan_image("qwen2-vl", (1080, 1920), max_pixels=1003520).limits["max_pixels"] == 1003520


def test_qwen3_vl_plans_match_reference():
    """Qwen3-VL: factor 32 and its checkpoint's 65,536 / 16,777,216 limits, through the reference processor."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    from conftest import reference_image_processor

    ref = reference_image_processor("qwen3-vl")
    sizes = random_sizes(np.random.default_rng(8), 1000)
    for h, w in sizes:
        plan = mmtok.plan_image("qwen3-vl", (h, w))
        assert plan.resized == smart_resize(h, w, factor=32, min_pixels=65536, max_pixels=16777216), (h, w)
        patches = ref.get_number_of_image_patches(h, w, {})
        assert plan.patches == patches and plan.tokens == patches // 4, (h, w)
    assert mmtok.plan_image("qwen2.5-vl", (1080, 1920)).limits == {"min_pixels": 3136, "max_pixels": 12845056}
