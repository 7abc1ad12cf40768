"""The API providers' image-token formulas (OpenAI, Anthropic, Google): every worked example their pages
give (quoted in research/families.md section 12 and in the module docstrings, with the page each comes
from), billing measurements where the pages give none, and properties on thousands of sizes checked
against independent transcriptions of the documented steps. There is no reference library: the
providers tokenize on their servers."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

import mmtok
from mmtok.errors import CountOnlyError, EmptyImageError, InvalidOptionError, ProviderRejectsImageError
from mmtok.vision.families import get_family

TILE_MODELS = {"gpt-4o": (85, 170), "gpt-4.1": (85, 170), "gpt-4.5": (85, 170), "gpt-4o-mini": (2833, 5667)}
PATCH_MODELS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72}
API_MODELS = [*TILE_MODELS, *PATCH_MODELS, "claude", "gemini-2", "gemini-3"]


def hw(w: int, h: int) -> tuple[int, int]:
    """The pages write sizes as width x height; plans take (height, width)."""
    return h, w


def sizes(n: int = 3000, seed: int = 4) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (1, 8000), (8000, 8000), (20000, 20000), (7, 9000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 5000, size=(n // 2, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(n // 2, 2))).astype(int) + 1]
    return out


# -- OpenAI: tile models ---------------------------------------------------------------------------------
# platform.openai.com/docs/guides/vision#calculating-costs, quoted verbatim in v2ex.com/amp/t/1044688


def test_openai_documented_examples():
    gpt4o = get_family("gpt-4o", detail="high")
    # "A 1024 x 1024 square image in detail: high mode costs 765 tokens ... scale the image down to 768 x 768.
    # 4 512px square tiles are needed ... 170 * 4 + 85 = 765."
    plan = gpt4o.plan_size(hw(1024, 1024))
    assert (plan.tokens, plan.resized, plan.details["tile_grid"]) == (765, (768, 768), [2, 2])
    # "A 2048 x 4096 image in detail: high mode costs 1105 tokens. We scale down the image to 1024 x 2048 to fit
    # within the 2048 square. ... we further scale down to 768 x 1536. 6 512px tiles are needed"
    plan = gpt4o.plan_size(hw(2048, 4096))
    assert plan.details["fitted"] == list(hw(1024, 2048)) and plan.resized == hw(768, 1536)
    assert (plan.tokens, plan.details["tile_grid"][0] * plan.details["tile_grid"][1]) == (1105, 6)
    # "A 4096 x 8192 image in detail: low most costs 85 tokens"
    assert get_family("gpt-4o", detail="low").plan_size(hw(4096, 8192)).tokens == 85


@pytest.mark.parametrize("model", list(TILE_MODELS))
def test_openai_tile_models_share_the_formula(model):
    base, tile = TILE_MODELS[model]
    high = get_family(model, detail="high")
    assert high.plan_size(hw(1024, 1024)).tokens == base + 4 * tile
    assert high.plan_size(hw(2048, 4096)).tokens == base + 6 * tile
    assert get_family(model, detail="low").plan_size(hw(4096, 8192)).tokens == base
    # the default is the API's default, detail="auto", counted as high and reported as such
    auto = get_family(model)
    assert auto.limits["detail"] == "auto" and auto.limits["counted_as"] == "high"
    assert auto.plan_size(hw(1920, 1080)).tokens == high.plan_size(hw(1920, 1080)).tokens


def test_openai_billing_measurements():
    """No page gives these; they are what the API billed (image tokens = billed minus the text's tokens)."""
    # community.openai.com/t/1262691: 128 x 64 with 5 words (12 tokens): gpt-4o high 267, low 97;
    # gpt-4o-mini high 8512, low 2845
    assert get_family("gpt-4o", detail="high").plan_size(hw(128, 64)).tokens == 267 - 12
    assert get_family("gpt-4o", detail="low").plan_size(hw(128, 64)).tokens == 97 - 12
    assert get_family("gpt-4o-mini", detail="high").plan_size(hw(128, 64)).tokens == 8512 - 12
    assert get_family("gpt-4o-mini", detail="low").plan_size(hw(128, 64)).tokens == 2845 - 12
    # community.openai.com/t/1281361: 2049 x 513 billed 1453 (8 tiles), 2050 x 513 billed 773 (4 tiles), with
    # 8 tokens of message overhead: the scaled sides are whole pixels (513 * 2048 / 2050 = 512.4995 -> 512)
    gpt4o = get_family("gpt-4o", detail="high")
    assert gpt4o.plan_size(hw(2049, 513)).tokens == 1453 - 8
    assert gpt4o.plan_size(hw(2050, 513)).tokens == 773 - 8
    # community.openai.com/t/1230130: gpt-4.1 billed 773 for 1800 x 2400 (the tile formula, not patches)
    assert get_family("gpt-4.1").plan_size(hw(1800, 2400)).tokens == 773 - 8


@pytest.mark.parametrize("model", list(TILE_MODELS))
def test_openai_tile_properties(model):
    base, tile = TILE_MODELS[model]
    high, low = get_family(model, detail="high"), get_family(model, detail="low")
    for h, w in sizes():
        plan = high.plan_size((h, w))
        rh, rw = plan.resized
        rows, cols = plan.details["tile_grid"]
        assert (rows, cols) == (math.ceil(rh / 512), math.ceil(rw / 512))
        assert plan.tokens == base + tile * rows * cols and 1 <= rows * cols <= 8, (h, w)
        assert plan.tiles == rows * cols + 1
        # within 2048 x 2048, shortest side at most 768, never scaled up, aspect kept to the pixel
        assert max(rh, rw) <= 2048 and min(rh, rw) <= 768 and rh <= h and rw <= w, (h, w)
        if min(rh, rw) > 1:
            assert abs(rh * w - rw * h) <= max(h, w), (h, w)
        if max(h, w) <= 2048 and min(h, w) <= 768:
            assert (rh, rw) == (h, w)
        assert low.plan_size((h, w)).tokens == base


# -- OpenAI: patch models --------------------------------------------------------------------------------
# platform.openai.com/docs/guides/images-vision (mirror openai-hd4n6.mintlify.app/docs/guides/images)


def documented_patches(width: int, height: int) -> int:
    """The guide's steps as written, in 80-digit decimals (floats would put 1408 / 32 at 44.0000001)."""
    n = math.ceil(width / 32) * math.ceil(height / 32)
    if n <= 1536:
        return n
    with localcontext() as ctx:
        ctx.prec = 80
        eps = Decimal("1e-50")  # the exact values are whole or at least 1/30000 from whole
        shrink = (Decimal(1536 * 32 * 32) / (width * height)).sqrt()
        w1, h1 = width * shrink, height * shrink
        fit = (w1 / 32).to_integral_value(ROUND_FLOOR) / (w1 / 32)  # "to fit the width in an integer number of patches"
        w2, h2 = w1 * fit, h1 * fit
        n = int((w2 / 32 - eps).to_integral_value(ROUND_CEILING)) * int((h2 / 32 - eps).to_integral_value(ROUND_CEILING))
    return min(n, 1536)


def test_openai_patch_documented_examples():
    mini = get_family("gpt-4.1-mini")
    # "(1024 + 32 - 1) // 32 = 32 patches ... 32 * 32 = 1024, below the cap of 1536"
    assert mini.plan_size(hw(1024, 1024)).tokens == 1024
    # "57 * 75 = 4275 ... shrink factor is sqrt(1536 * 32^2 / (1800 * 2400)) = 0.603 ... 1086 / 32 = 33.94 ...
    # 33 / 33.94 = 0.97 to fit the width ... final image 1056 x 1408 ... 33 * 44 = 1452"
    plan = mini.plan_size(hw(1800, 2400))
    assert (plan.tokens, plan.resized, plan.details["patch_grid"]) == (1452, hw(1056, 1408), [44, 33])
    # "for gpt-4.1-mini, we multiply image tokens by 1.62 ... for gpt-4.1-nano, we multiply image tokens by 2.46"
    assert plan.details["billed_tokens"] == 2352.24
    assert get_family("gpt-4.1-nano").plan_size(hw(1800, 2400)).details["billed_tokens"] == round(1452 * 2.46, 2)
    # research note [computed]: 1920 x 1080 and 4000 x 1474 hit the cap (4.1-mini 4000 x 1474: 2488.32, billed 2498
    # with text in community.openai.com/t/1230130)
    assert mini.plan_size(hw(1920, 1080)).tokens == 1536
    assert mini.plan_size(hw(4000, 1474)).details["billed_tokens"] == 2488.32


@pytest.mark.parametrize("model", list(PATCH_MODELS))
def test_openai_patch_properties(model):
    family = get_family(model)
    for h, w in sizes():
        plan = family.plan_size((h, w))
        assert plan.tokens == documented_patches(w, h), (h, w)
        assert 1 <= plan.tokens <= 1536
        raw = math.ceil(w / 32) * math.ceil(h / 32)
        if raw <= 1536:  # under the cap nothing is resized, so the count grows with each side
            assert plan.tokens == raw and plan.resized == (h, w)
        else:
            rh, rw = plan.resized
            assert rw % 32 == 0
            # the documented "shrink" sqrt(1536 * 32^2 / (W * H)) is over 1 when the area is under 1536 patches
            # but the padded count is over (thin images): the steps as written then enlarge the image
            if w * h >= 1536 * 32 * 32:
                assert rw <= w and rh <= h, (h, w)
        assert plan.details["billed_tokens"] == round(plan.tokens * PATCH_MODELS[model], 2)


# -- Anthropic ---------------------------------------------------------------------------------------------


def test_claude_classic_documented_examples():
    # docs.anthropic.com/en/docs/build-with-claude/vision: "200x200 px ~54; 1000x1000 px ~1334; 1092x1092 px ~1590"
    classic = get_family("claude", rule="area750")
    assert [classic.plan_size(hw(s, s)).tokens for s in (200, 1000, 1092)] == [54, 1334, 1590]
    # ... and the largest sizes "that will not be resized", per aspect ratio
    for w, h in [(1092, 1092), (951, 1268), (896, 1344), (819, 1456), (784, 1568)]:
        for rule in ("area750", "patch28"):
            assert get_family("claude", rule=rule).plan_size(hw(w, h)).resized == hw(w, h)
            assert get_family("claude", rule=rule).plan_size(hw(h, w)).resized == hw(h, w)
    # one pixel more on the long edge is over 1568 and is resized
    assert get_family("claude").plan_size(hw(784, 1569)).resized != hw(784, 1569)


def test_claude_current_documented_examples():
    # platform.claude.com/docs/en/build-with-claude/vision: ceil(w/28) * ceil(h/28); its table (as quoted in
    # github.com/bradautomates/claude-video/pull/176): 200x200 -> 64, 1000x1000 -> 1296, 1092x1092 -> 1521
    claude = get_family("claude")
    assert claude.limits["rule"] == "patch28" and claude.limits["tier"] == "standard"
    assert [claude.plan_size(hw(s, s)).tokens for s in (200, 1000, 1092)] == [64, 1296, 1521]
    # the docs' cost table with both tiers, as transcribed in teamchong/pxpipe tests/anthropic-vision.test.ts
    high = get_family("claude", tier="high-res")
    table = [(200, 200, 64, 64), (1000, 1000, 1296, 1296), (1092, 1092, 1521, 1521), (1920, 1080, 1560, 2691),
             (2000, 1500, 1564, 3888), (3840, 2160, 1560, 4784), (1568, 728, 1456, 1456), (1928, 1928, 1521, 4761)]
    for w, h, standard, high_res in table:
        assert (claude.plan_size(hw(w, h)).tokens, high.plan_size(hw(w, h)).tokens) == (standard, high_res), (w, h)
    # ibid., extreme aspect ratios
    assert [claude.plan_size(hw(w, h)).tokens for w, h in [(2510, 7800), (1194, 4171), (2384, 1625)]] == [1064, 952, 1551]


def claude_resize_brute_force(h: int, w: int, max_edge: int, budget: int) -> tuple[int, int]:
    """The vision-coordinates rule by exhaustion: the largest long edge whose aspect-kept size fits."""
    def fits(a, b):
        return max(a, b) <= max_edge and math.ceil(a / 28) * math.ceil(b / 28) <= budget

    if fits(h, w):
        return h, w
    long, short = max(h, w), min(h, w)
    for edge in range(min(long, max_edge), 0, -1):
        other = max(1, math.floor(Fraction(edge * short, long) + Fraction(1, 2)))
        if fits(edge, other):
            return (edge, other) if h >= w else (other, edge)
    raise AssertionError("1 x 1 always fits")


@pytest.mark.parametrize("tier,max_edge,budget", [("standard", 1568, 1568), ("high-res", 2576, 4784)])
def test_claude_properties(tier, max_edge, budget):
    patch, area = get_family("claude", tier=tier), get_family("claude", tier=tier, rule="area750")
    for i, (h, w) in enumerate(sizes()):
        if max(h, w) > 8000:
            with pytest.raises(ProviderRejectsImageError):
                patch.plan_size((h, w))
            continue
        plan = patch.plan_size((h, w))
        rh, rw = plan.resized
        assert plan.tokens == math.ceil(rh / 28) * math.ceil(rw / 28) <= budget, (h, w)
        assert max(rh, rw) <= max_edge and rh <= h and rw <= w, (h, w)
        assert plan.details["padded"] == [math.ceil(rh / 28) * 28, math.ceil(rw / 28) * 28]
        if i % 10 == 0:
            assert (rh, rw) == claude_resize_brute_force(h, w, max_edge, budget), (h, w)
        classic = area.plan_size((h, w))
        assert classic.resized == plan.resized and classic.tokens == math.ceil(rh * rw / 750)


def test_claude_counts_grow_with_scale():
    """At a fixed aspect ratio the count never falls as the image grows (it stops growing at the limits)."""
    for tier in ("standard", "high-res"):
        claude = get_family("claude", tier=tier)
        for a, b in [(1, 1), (3, 4), (9, 16), (1, 2), (1, 7), (5, 3), (1, 40)]:
            counts = [claude.plan_size((k * a, k * b)).tokens for k in range(1, 8000 // max(a, b) + 1, 3)]
            assert counts == sorted(counts), (tier, a, b)


# -- Google --------------------------------------------------------------------------------------------------


def test_gemini_documented_examples():
    # ai.google.dev/gemini-api/docs/tokens (quoted in geminibyexample.com/027-calculate-input-tokens): "image
    # inputs with both dimensions <=384 pixels are counted as 258 tokens"; the page's example: 600 x 400 -> 258
    gemini = get_family("gemini-2")
    assert gemini.plan_size(hw(384, 384)).tokens == 258
    assert gemini.plan_size(hw(600, 400)).tokens == 258
    # "... tiles of 768x768 pixels, each counted as 258 tokens": research note [computed] 1024 x 1024 -> 1032
    assert gemini.plan_size(hw(1024, 1024)).tokens == 4 * 258
    assert gemini.plan_size(hw(1920, 1080)).tokens == 3 * 2 * 258
    # Gemini 3: media_resolution budgets per image (ai.google.dev/gemini-api/docs/media-resolution)
    budgets = {"low": 280, "medium": 560, "high": 1120, "ultra_high": 2240}
    for level, tokens in budgets.items():
        assert get_family("gemini-3", media_resolution=level).plan_size(hw(4000, 3000)).tokens == tokens
        assert get_family("gemini-3", media_resolution=f"MEDIA_RESOLUTION_{level.upper()}").limits["max_tokens"] == tokens
    assert get_family("gemini-3").plan_size(hw(1, 1)).tokens == 1120  # default: HIGH for images


def test_gemini_properties():
    gemini2, gemini3 = get_family("gemini-2"), get_family("gemini-3")
    for h, w in sizes():
        tokens = gemini2.plan_size((h, w)).tokens
        assert tokens == 258 * math.ceil(h / 768) * math.ceil(w / 768), (h, w)
        # monotone: one side larger never costs less
        assert gemini2.plan_size((h + 384, w)).tokens >= tokens <= gemini2.plan_size((h, w + 1)).tokens
        assert gemini3.plan_size((h, w)).tokens == 1120


# -- count only ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", API_MODELS)
def test_count_only(model):
    family = get_family(model)
    assert family.count_only and family.tokenizer_name is None
    plan = mmtok.plan_image(model, (480, 640))
    assert {"source", "read", "formula"} <= set(plan.details) and plan.details["read"] == "2026-11-29"
    assert plan.details["source"].startswith("https://")
    for call in (lambda: family.preprocess_images([np.zeros((4, 4, 3), np.uint8)]), lambda: family.expand(None, plan),
                 lambda: family.image_features(None, plan), lambda: family.load(np.zeros((4, 4, 3), np.uint8)),
                 lambda: mmtok.get_processor(model)):
        with pytest.raises(CountOnlyError):
            call()
    with pytest.raises(EmptyImageError):
        family.plan_size((0, 10))
    with pytest.raises(InvalidOptionError):
        get_family(model, min_pixels=1000)


def test_bad_options():
    for model, option in [("gpt-4o", {"detail": "medium"}), ("claude", {"rule": "tiles"}), ("claude", {"tier": "opus"}),
                          ("gemini-3", {"media_resolution": "huge"}), ("gpt-4.1-mini", {"detail": "low"})]:
        with pytest.raises(InvalidOptionError):
            get_family(model, **option)
