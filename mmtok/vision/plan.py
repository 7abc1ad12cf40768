"""The plan of one image: everything a model family decides from the image's size alone.

A plan is pure data. The pixel path consumes it and never re-derives sizes, and the sequence layer
reads its token count, so counting a million images never decodes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImagePlan:
    """What `model` makes of one image of `size` (height, width)."""

    model: str
    size: tuple[int, int]  # (height, width) after EXIF orientation, as the pixel path will see it
    resized: tuple[int, int]  # (height, width) fed to the vision encoder
    grid_thw: tuple[int, int, int]  # patch grid (temporal, height, width), pre-merge, as in image_grid_thw
    tokens: int  # positions in the LLM sequence that receive vision features
    limits: dict = field(default_factory=dict)  # the pixel budget used, e.g. {"min_pixels":..., "max_pixels":...}
    source: str | None = None  # what the input was called (a path, "<PIL image>", ...)

    @property
    def patches(self) -> int:
        """Rows of pixel_values this image contributes (t * h * w patches)."""
        t, h, w = self.grid_thw
        return t * h * w

    def to_dict(self) -> dict:
        return {
            "path": self.source,
            "size": list(self.size),
            "resized": list(self.resized),
            "grid_thw": list(self.grid_thw),
            "tokens": self.tokens,
        }
