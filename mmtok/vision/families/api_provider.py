"""What the API providers' families share: a plan from the provider's published token formula, nothing more.

OpenAI, Anthropic and Google preprocess images on their own servers and publish only how many tokens
an image costs. mmtok reproduces those formulas from the image size (`plan_size`); there is no pixel
path, no placeholder layout and no tokenizer to match, so these families are `count_only`:
`mmtok.get_processor` refuses them with CountOnlyError, and so do the pixel and sequence hooks here.

Every plan's `details` names the formula, the provider's page it comes from and the date it was read
("via" names the copy actually read when the provider's page itself was not reachable).
"""

from __future__ import annotations

from typing import Any

from ...errors import CountOnlyError, EmptyImageError, InvalidOptionError
from ..plan import ImagePlan
from .base import VisionFamily

#: the day the providers' pages (or the stored copies named in "via") were read for this module
READ = "2026-11-29"


class ProviderFormula(VisionFamily):
    """A model known only by its provider's published image-token formula (see the module docstring)."""

    count_only = True
    tokenizer_name = None
    tokenizer_description = "none: the provider tokenizes on its own servers"
    special_tokens = ()
    modality_tokens: dict[str, str] = {}
    #: option names this family takes, for the error on any other option
    option_names: tuple[str, ...] = ()

    def __init__(self, *, exif_transpose: bool | None = None, **unsupported):
        # min_pixels, rgb, video options, ...: the CLI passes what the user set; nothing else applies here
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            takes = f"it takes only {', '.join(self.option_names)}" if self.option_names else "it takes no options"
            raise InvalidOptionError(
                f"{self.name} takes no {', '.join(given)}: its provider resizes images itself and publishes only a "
                f"token formula; {takes}"
            )
        super().__init__(exif_transpose=exif_transpose)

    @staticmethod
    def choice(option: str, value: Any, allowed: tuple[str, ...], model: str) -> str:
        """`value` as one of `allowed` (case-insensitive), or InvalidOptionError naming them."""
        key = value.lower() if isinstance(value, str) else value
        if key not in allowed:
            raise InvalidOptionError(f"{model}: {option} must be one of {', '.join(allowed)}; got {value!r}")
        return key

    @staticmethod
    def checked(size: tuple[int, int], source: str | None) -> tuple[int, int]:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        return height, width

    def make_plan(self, size, resized, tokens: int, input_name: str | None, *, tiles: int = 1, **details) -> ImagePlan:
        """The plan; `details` holds the formula, its page ("source"), the copy read ("via") and the date."""
        return ImagePlan(self.name, tuple(size), tuple(resized), None, tokens, self.limits, input_name, None, tiles, details)

    # -- no pixels, no sequence: the provider does both -----------------------------------------------

    def load(self, image: Any):
        raise CountOnlyError(self.name)

    def image_features(self, rgb_image, plan: ImagePlan):
        raise CountOnlyError(self.name)

    def preprocess_images(self, images: list[Any]):
        raise CountOnlyError(self.name)

    def expand(self, media, plan: ImagePlan):
        raise CountOnlyError(self.name)


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (both > 0) rounded to the nearest integer, ties to even, exactly."""
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2):
        q += 1
    return q


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator (both > 0) rounded to the nearest integer, ties up, exactly."""
    return (2 * numerator + denominator) // (2 * denominator)


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)
