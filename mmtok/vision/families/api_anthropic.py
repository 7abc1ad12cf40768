"""Anthropic Claude's published image-token rules (count only: Anthropic resizes and tokenizes on its servers).

Two documented rules, both read 2026-11-29 (from the stored copies named; the pages render their tables
client-side):

* rule="patch28" (default), the current docs: https://platform.claude.com/docs/en/build-with-claude/vision
  (copy: https://proxy-gateway.pages.dev/https://platform.claude.com/docs/en/build-with-claude/vision):
  "Each patch is a 28x28 pixel block of the image, referred to as a visual token. An image therefore
  costs ceil(width / 28) x ceil(height / 28) visual tokens." Larger images are "resized to the largest
  possible size that preserves the aspect ratio", then padded on the bottom and right to a multiple of
  28. https://platform.claude.com/docs/en/build-with-claude/vision-coordinates (zh-CN / zh-TW copies)
  gives the rule: the largest aspect-preserving size satisfying both limits, the long edge and
  "ceil(width / 28) x ceil(height / 28) not over the model's visual-token budget (1568 tokens for the
  standard tier, 4784 for the high-resolution tier)". The tier limits, verbatim from the docs in
  github.com/cnighswonger/claude-code-cache-fix/issues/87 (2026-04-27): "For Claude Opus 4.7: 4784
  tokens, and at most 2576 pixels on the long edge. For other models: 1568 tokens, and at most 1568
  pixels on the long edge." Worked examples (quoted from the current table in
  github.com/bradautomates/claude-video/pull/176, 2026-08-28): 200 x 200 -> 64, 1000 x 1000 -> 1296,
  1092 x 1092 -> 1521.
* rule="area750", the classic docs: https://docs.anthropic.com/en/docs/build-with-claude/vision (copy:
  https://anthropic.mintlify.app/en/docs/build-with-claude/vision): "tokens = (width px * height
  px)/750", with "~54" for 200 x 200, "~1334" for 1000 x 1000, "~1590" for 1092 x 1092 (all three are
  ceil(w * h / 750)); images are scaled down, aspect kept, when "the long edge is more than 1568
  pixels, or your image is more than ~1,600 tokens", and 1092 x 1092, 951 x 1268, 896 x 1344,
  819 x 1456 and 784 x 1568 are listed as the largest sizes "that will not be resized".

Why patch28 is the default: it is what Anthropic documents now (the /750 formula was replaced), it
defines a token as one 28-px patch, which is what `tokens` means (positions receiving vision
features), and independent count_tokens measurements agree with it (1000 x 1000 measured as 1296 plus
the message wrapper, jackin.tailrocks.com research note 42), while /750 is marked approximate.

The resize. Both rules resize the same way: the classic limits ("1568 pixels", "~1,600 tokens") are
exactly the standard tier's, read in 28-px patches: every size of the classic "not resized" table
has at most 1568 patches (784 x 1568 has exactly 1568), while three of them are over 1,600 /750-tokens
and all five are over the 1.15 MP the classic page recommends, so neither of those can be the trigger. The
vision-coordinates page's own code was not readable here; the search below (largest long edge L with
short edge round(L x short / long), ties up) follows the transcription in teamchong/pxpipe
src/core/anthropic-vision.ts (2026-07-04), which reproduces the docs' cost table (tested).

tier="high-res" is the 2576 px / 4784-token tier (Opus 4.7 and later high-resolution models, per the
docs' resolution table). Images over 8000 x 8000 px are rejected by the API ("The maximal dimensions
per image are 8000x8000 px"), so they raise ProviderRejectsImageError.
"""

from __future__ import annotations

from ...errors import ProviderRejectsImageError
from ..plan import ImagePlan
from . import FAMILIES
from .api_provider import READ, ProviderFormula, ceil_div, round_half_up

CURRENT_DOCS = "https://platform.claude.com/docs/en/build-with-claude/vision"
RESIZE_DOCS = "https://platform.claude.com/docs/en/build-with-claude/vision-coordinates"
CURRENT_COPY = "https://proxy-gateway.pages.dev/https://platform.claude.com/docs/en/build-with-claude/vision"
CLASSIC_DOCS = "https://docs.anthropic.com/en/docs/build-with-claude/vision"
CLASSIC_COPY = "https://anthropic.mintlify.app/en/docs/build-with-claude/vision"

RULES = ("patch28", "area750")
#: tier -> (max long edge in px, max visual tokens = 28-px patches)
TIERS = {"standard": (1568, 1568), "high-res": (2576, 4784)}
PATCH = 28
MAX_SIDE = 8000  # the API rejects larger images


def patches(height: int, width: int) -> int:
    return ceil_div(height, PATCH) * ceil_div(width, PATCH)


@FAMILIES.register("claude", aliases=("anthropic",))
class Claude(ProviderFormula):
    name = "claude"
    option_names = ("rule", "tier")

    def __init__(self, *, rule: str = "patch28", tier: str = "standard", exif_transpose: bool | None = None, **unsupported):
        super().__init__(exif_transpose=exif_transpose, **unsupported)
        self.rule = self.choice("rule", rule, RULES, self.name)
        self.tier = self.choice("tier", tier, tuple(TIERS), self.name)
        self.max_edge, self.max_patches = TIERS[self.tier]
        formula = "ceil(w/28) * ceil(h/28)" if self.rule == "patch28" else "ceil(w * h / 750)"
        self.reference = f"Anthropic's vision docs: {formula} after the {self.tier} tier's resize ({CURRENT_DOCS})"

    @property
    def limits(self) -> dict:
        return {"rule": self.rule, "tier": self.tier, "max_long_edge": self.max_edge, "max_visual_tokens": self.max_patches}

    def fits(self, height: int, width: int) -> bool:
        return max(height, width) <= self.max_edge and patches(height, width) <= self.max_patches

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """The largest aspect-preserving size within both limits; the size itself when it fits."""
        if self.fits(height, width):
            return height, width
        long, short = max(height, width), min(height, width)
        # fits(L, round(L * short / long)) only turns false as L grows: binary search the last L that fits
        lo, hi = 1, min(long, self.max_edge)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.fits(mid, max(1, round_half_up(mid * short, long))):
                lo = mid
            else:
                hi = mid - 1
        other = max(1, round_half_up(lo * short, long))
        return (lo, other) if height >= width else (other, lo)

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self.checked(size, source)
        if max(height, width) > MAX_SIDE:
            raise ProviderRejectsImageError(source or "image", (height, width), "Anthropic", "8000 x 8000 px")
        h, w = self.resized_size(height, width)
        rows, cols = ceil_div(h, PATCH), ceil_div(w, PATCH)
        if self.rule == "patch28":
            tokens, formula, docs, copy = rows * cols, "ceil(w/28) * ceil(h/28)", CURRENT_DOCS, CURRENT_COPY
        else:
            # the page's figures (~54, ~1334, ~1590) are w * h / 750 rounded up
            tokens, formula, docs, copy = ceil_div(h * w, 750), "ceil(w * h / 750)", CLASSIC_DOCS, CLASSIC_COPY
        return self.make_plan(
            (height, width),
            (h, w),
            tokens,
            source,
            rule=self.rule,
            tier=self.tier,
            formula=formula,
            patch_grid=[rows, cols],
            padded=[rows * PATCH, cols * PATCH],  # padded bottom and right to a multiple of 28
            source=docs,
            via=copy,
            resize_rule=RESIZE_DOCS,
            read=READ,
        )
