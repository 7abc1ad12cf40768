"""Google Gemini's published image-token rules (count only: Google resizes and tokenizes on its servers).

Sources, read 2026-11-29 (the stored copies named; the pages' token tables were not in them):

* "gemini-2" (Gemini 2.0 / 2.5): https://ai.google.dev/gemini-api/docs/tokens, quoted in
  https://geminibyexample.com/027-calculate-input-tokens: "With Gemini 2.0, image inputs with both
  dimensions <=384 pixels are counted as 258 tokens. Images larger in one or both dimensions are
  cropped and scaled as needed into tiles of 768x768 pixels, each counted as 258 tokens." That page's
  code and its worked example (600 x 400 -> 258) read the tiling as ceil(W / 768) x ceil(H / 768)
  tiles; mmtok does the same. Google does not publish the exact crop/scale step; a crop unit
  clamp(floor(min(W, H) / 1.5), 256, 768) circulates in community write-ups, unconfirmed, and is not
  offered.
* "gemini-3": https://ai.google.dev/gemini-api/docs/media-resolution: media_resolution "determin[es]
  the maximum number of tokens allocated for media inputs", per image for Gemini 3. The numbers, from
  its "Token counts" section as summarised in
  https://fastgptplus.com/en/posts/gemini-3-pro-media-resolution-parameter: LOW 280, MEDIUM 560, HIGH
  1120, ULTRA_HIGH 2240 (per part only); unspecified means HIGH for images (MEDIUM for PDFs). They are
  budgets, so the count does not depend on the size; measured counts run slightly under (a dataset
  saw ~1,090-1,101 tokens per image at the default), so `tokens` is an upper bound there.
"""

from __future__ import annotations

from ..plan import ImagePlan
from . import FAMILIES
from .api_provider import READ, ProviderFormula, ceil_div

TOKENS_PAGE = "https://ai.google.dev/gemini-api/docs/tokens"
TOKENS_COPY = "https://geminibyexample.com/027-calculate-input-tokens"
MEDIA_RESOLUTION_PAGE = "https://ai.google.dev/gemini-api/docs/media-resolution"
MEDIA_RESOLUTION_COPY = "https://fastgptplus.com/en/posts/gemini-3-pro-media-resolution-parameter"

#: Gemini 3's per-image token budget for each media_resolution
MEDIA_RESOLUTION_TOKENS = {"low": 280, "medium": 560, "high": 1120, "ultra_high": 2240}


@FAMILIES.register(
    "gemini-2",
    aliases=("gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),
)
class Gemini2(ProviderFormula):
    name = "gemini-2"
    reference = f"Gemini API token docs: <= 384 x 384 -> 258, else 258 per 768 x 768 tile ({TOKENS_PAGE})"
    small, tile_px, tile_tokens = 384, 768, 258

    @property
    def limits(self) -> dict:
        return {"single_tile_max_side": self.small, "tile": self.tile_px, "tokens_per_tile": self.tile_tokens}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self.checked(size, source)
        common = {"source": TOKENS_PAGE, "via": TOKENS_COPY, "read": READ}
        if height <= self.small and width <= self.small:
            return self.make_plan(
                (height, width), (height, width), self.tile_tokens, source, formula="258 (both sides <= 384)", tile_grid=[1, 1], **common
            )
        rows, cols = ceil_div(height, self.tile_px), ceil_div(width, self.tile_px)
        return self.make_plan(
            (height, width),
            (self.tile_px, self.tile_px),  # per tile
            self.tile_tokens * rows * cols,
            source,
            tiles=rows * cols,
            formula="258 * ceil(W/768) * ceil(H/768)",
            tile_grid=[rows, cols],
            **common,
        )


@FAMILIES.register("gemini-3", aliases=("gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-3.1-pro-preview"))
class Gemini3(ProviderFormula):
    name = "gemini-3"
    option_names = ("media_resolution",)

    def __init__(self, *, media_resolution: str = "high", exif_transpose: bool | None = None, **unsupported):
        super().__init__(exif_transpose=exif_transpose, **unsupported)
        # accept the API's enum spelling too (MEDIA_RESOLUTION_HIGH); unspecified is the image default, HIGH
        value = media_resolution
        if isinstance(value, str):
            value = value.lower().removeprefix("media_resolution_").replace("-", "_")
            value = "high" if value == "unspecified" else value
            value = value if value in MEDIA_RESOLUTION_TOKENS else media_resolution
        self.media_resolution = self.choice("media_resolution", value, tuple(MEDIA_RESOLUTION_TOKENS), self.name)
        self.reference = f"Gemini API media_resolution budgets, {self.media_resolution} ({MEDIA_RESOLUTION_PAGE})"

    @property
    def limits(self) -> dict:
        return {"media_resolution": self.media_resolution, "max_tokens": MEDIA_RESOLUTION_TOKENS[self.media_resolution]}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self.checked(size, source)
        budget = MEDIA_RESOLUTION_TOKENS[self.media_resolution]
        return self.make_plan(
            (height, width),
            (height, width),  # Google does not publish the size the encoder sees
            budget,
            source,
            media_resolution=self.media_resolution,
            formula=f"{budget} (the media_resolution budget, an upper bound)",
            source=MEDIA_RESOLUTION_PAGE,
            via=MEDIA_RESOLUTION_COPY,
            read=READ,
        )
