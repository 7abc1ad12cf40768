"""OpenAI's published image-token formulas (count only: OpenAI resizes and tokenizes on its servers).

Sources (read 2026-11-29; the platform pages are not reachable from here, so the copies read are named):

* Tile models (GPT-4o, GPT-4.1, GPT-4.5, GPT-4o-mini):
  https://platform.openai.com/docs/guides/vision#calculating-costs, quoted verbatim in
  https://v2ex.com/amp/t/1044688: "All images with detail: low cost 85 tokens each. detail: high images
  are first scaled to fit within a 2048 x 2048 square, maintaining their aspect ratio. Then, they are
  scaled such that the shortest side of the image is 768px long. Finally, we count how many 512px
  squares the image consists of. Each of those squares costs 170 tokens. Another 85 tokens are always
  added to the final total." Worked examples: 1024 x 1024 high -> 765; 2048 x 4096 high -> 1105;
  4096 x 8192 low -> 85. The current guide (https://platform.openai.com/docs/guides/images-vision,
  mirror https://openai-hd4n6.mintlify.app/docs/guides/images) adds: detail defaults to "auto" ("let
  the model decide"); low gives the model "a low-resolution 512px x 512px version"; high "lets the
  model see the low-resolution image (using 85 tokens) and then creates detailed crops using 170
  tokens for each 512px x 512px tile".
  Per-model base / tile tokens: 85 / 170 for GPT-4o, GPT-4.1 and GPT-4.5 (quoted above); GPT-4o-mini
  2833 / 5667 is from the guide's table as recalled by the research note and matches community
  measurements (community.openai.com/t/1262691: a 128 x 64 image, 5 words of text, billed 8512 high =
  2833 + 5667 + 12 and 2845 low); it was not read on the page itself.
* Patch models (GPT-4.1-mini, GPT-4.1-nano, o4-mini): the current guide (mirror above): cover the image
  with 32 x 32 patches; over 1536 patches, shrink by sqrt(1536 * 32^2 / (W * H)), then shrink again
  "to fit the width in an integer number of patches" (1800 x 2400: 0.603 -> 1086 x 1448, then 33 /
  33.94 -> 1056 x 1408 = 33 x 44 = 1452 patches); the count is capped at 1536. "For gpt-4.1-mini, we
  multiply image tokens by 1.62 to get total tokens, and for gpt-4.1-nano, we multiply image tokens by
  2.46". o4-mini's 1.72 comes from the research note and was not read on the page.

What mmtok computes and why:

* `tokens` is what OpenAI calls the image tokens: 85 + 170 x tiles (low: 85) for tile models, the
  patch count for patch models. The patch models' multiplier turns image tokens into billed tokens
  (fractional, e.g. 2352.24); it is `details["billed_tokens"]`, not `tokens`.
* detail="auto" lets the model choose; mmtok counts it as "high", the larger count, and says so.
* Tile models: each scaling step yields whole pixels, rounded to nearest (ties to even), as billing
  measurements show (community.openai.com/t/1281361: 2049 x 513 bills 8 tiles, 2050 x 513 bills 4,
  because 513 * 2048 / 2050 = 512.4995 rounds to 512). No step scales up. A side that would round to 0
  stays 1 px.
* Patch models: the documented steps in exact integers: floor(W * s / 32) = isqrt(1536 * W // H), so
  no floating-point ceil can add a row (the doc's 1408 / 32 = 44 exactly). At least one patch column is
  kept (only images over 49,152 px tall and 1536 times taller than wide would reach zero). The steps
  are followed as written even where the "shrink factor" is over 1 (thin images whose area is under
  1536 patches but whose padded patch count is over, e.g. 519 x 2998 -> 16 x 93 = 1488 patches rather
  than the capped 1536): the guide does not say it is clamped, and the count differs only there.
"""

from __future__ import annotations

import math

from ..plan import ImagePlan
from . import FAMILIES
from .api_provider import READ, ProviderFormula, ceil_div, round_half_even

VISION_GUIDE = "https://platform.openai.com/docs/guides/vision#calculating-costs"
IMAGES_GUIDE = "https://platform.openai.com/docs/guides/images-vision"
VISION_GUIDE_COPY = "https://v2ex.com/amp/t/1044688"
IMAGES_GUIDE_COPY = "https://openai-hd4n6.mintlify.app/docs/guides/images"

DETAILS = ("auto", "low", "high")


class OpenAITiles(ProviderFormula):
    """detail="high": fit in 2048 x 2048, shortest side down to 768, 512-px tiles; base + tile x tiles."""

    base_tokens: int
    tile_tokens: int
    #: where the per-model base / tile numbers come from
    prices_from: str = VISION_GUIDE
    max_side, short_side, tile_px, low_px = 2048, 768, 512, 512
    option_names = ("detail",)

    def __init__(self, *, detail: str = "auto", exif_transpose: bool | None = None, **unsupported):
        super().__init__(exif_transpose=exif_transpose, **unsupported)
        self.detail = self.choice("detail", detail, DETAILS, self.name)
        self.reference = f"OpenAI's tile formula, {self.base_tokens} + {self.tile_tokens} x 512-px tiles ({VISION_GUIDE})"

    @property
    def limits(self) -> dict:
        counted = "high" if self.detail == "auto" else self.detail
        return {"detail": self.detail, "counted_as": counted, "max_side": self.max_side, "short_side": self.short_side}

    def scaled_size(self, height: int, width: int) -> tuple[int, int, tuple[int, int]]:
        """(height, width) after both documented scalings, and after the first one alone."""
        if max(height, width) > self.max_side:  # fit in the 2048 square, downscale only
            if width >= height:
                height, width = max(1, round_half_even(height * self.max_side, width)), self.max_side
            else:
                height, width = self.max_side, max(1, round_half_even(width * self.max_side, height))
        fitted = (height, width)
        if min(height, width) > self.short_side:  # shortest side to 768, downscale only
            if width >= height:
                height, width = self.short_side, max(1, round_half_even(width * self.short_side, height))
            else:
                height, width = max(1, round_half_even(height * self.short_side, width)), self.short_side
        return height, width, fitted

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self.checked(size, source)
        common = {"source": VISION_GUIDE, "via": VISION_GUIDE_COPY, "read": READ, "prices_from": self.prices_from}
        if self.detail == "low":
            low = (self.low_px, self.low_px)
            return self.make_plan(
                (height, width), low, self.base_tokens, source, detail="low", formula=f"{self.base_tokens}", **common
            )
        h, w, fitted = self.scaled_size(height, width)
        rows, cols = ceil_div(h, self.tile_px), ceil_div(w, self.tile_px)
        tokens = self.base_tokens + self.tile_tokens * rows * cols
        return self.make_plan(
            (height, width),
            (h, w),
            tokens,
            source,
            tiles=rows * cols + 1,  # the 512 x 512 overview plus the detail tiles
            detail="high",
            formula=f"{self.base_tokens} + {self.tile_tokens} * tiles",
            fitted=list(fitted),
            tile_grid=[rows, cols],
            **common,
        )


@FAMILIES.register("gpt-4o", aliases=("chatgpt-4o-latest",))
class GPT4o(OpenAITiles):
    name = "gpt-4o"
    base_tokens, tile_tokens = 85, 170


@FAMILIES.register("gpt-4.1")
class GPT41(OpenAITiles):
    name = "gpt-4.1"
    base_tokens, tile_tokens = 85, 170


@FAMILIES.register("gpt-4.5", aliases=("gpt-4.5-preview",))
class GPT45(OpenAITiles):
    name = "gpt-4.5"
    base_tokens, tile_tokens = 85, 170


@FAMILIES.register("gpt-4o-mini")
class GPT4oMini(OpenAITiles):
    name = "gpt-4o-mini"
    base_tokens, tile_tokens = 2833, 5667
    prices_from = "the images-vision guide's table as recalled, matching community.openai.com/t/1262691 measurements"


class OpenAIPatches(ProviderFormula):
    """32-px patches, at most 1536 after the documented shrink; billed tokens = patches x multiplier."""

    multiplier: float
    multiplier_from: str = IMAGES_GUIDE
    patch, budget = 32, 1536

    def __init__(self, *, exif_transpose: bool | None = None, **unsupported):
        super().__init__(exif_transpose=exif_transpose, **unsupported)
        self.reference = f"OpenAI's patch formula, 32-px patches capped at 1536, billed x {self.multiplier} ({IMAGES_GUIDE})"

    @property
    def limits(self) -> dict:
        return {"patch": self.patch, "max_patches": self.budget}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self.checked(size, source)
        p, budget = self.patch, self.budget
        rows, cols = ceil_div(height, p), ceil_div(width, p)
        resized = (height, width)
        if rows * cols > budget:
            # s = sqrt(budget * p^2 / (W * H)); floor(W * s / p) = floor(sqrt(budget * W / H)) = isqrt(budget * W // H)
            cols = max(1, math.isqrt(budget * width // height))
            # the second shrink makes the width exactly cols patches; the height follows: H * cols * p / W
            rows = ceil_div(height * cols, width)
            resized = (max(1, round_half_even(height * cols * p, width)), cols * p)
        patches = min(rows * cols, budget)
        return self.make_plan(
            (height, width),
            resized,
            patches,
            source,
            formula=f"min(ceil(W/32) * ceil(H/32), 1536) after the documented shrink; billed x {self.multiplier}",
            patch_grid=[rows, cols],
            multiplier=self.multiplier,
            billed_tokens=round(patches * self.multiplier, 2),
            source=IMAGES_GUIDE,
            via=IMAGES_GUIDE_COPY,
            read=READ,
            multiplier_from=self.multiplier_from,
        )


@FAMILIES.register("gpt-4.1-mini")
class GPT41Mini(OpenAIPatches):
    name = "gpt-4.1-mini"
    multiplier = 1.62


@FAMILIES.register("gpt-4.1-nano")
class GPT41Nano(OpenAIPatches):
    name = "gpt-4.1-nano"
    multiplier = 2.46


@FAMILIES.register("o4-mini")
class O4Mini(OpenAIPatches):
    name = "o4-mini"
    multiplier = 1.72
    multiplier_from = "the research note (families.md section 12.1), not read on the guide itself"
