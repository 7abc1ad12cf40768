"""The plan of one image: everything a model family decides from the image's size alone.

A plan is pure data. The pixel path consumes it and never re-derives sizes, and the sequence layer
reads its token count, so counting a million images never decodes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImagePlan:
    """What `model` makes of one image of `size` (height, width).

    The numbers mean the same for every family:
    * `tokens`: positions in the LLM sequence that receive vision features (placeholder tokens);
    * `total_tokens`: `tokens` plus the structural tokens the image brings (start/end markers, row and
      column markers, separators, newlines); None when they are the same;
    * `tiles`: the crops / tiles / slices the vision encoder sees, thumbnail or global view included;
    * `details`: what else the family decides from the size (tile grid, chosen resolution, what a
      cross-attention model's vision side attends to, ...), as plain JSON-able values.
    """

    model: str
    size: tuple[int, int]  # (height, width) after EXIF orientation, as the pixel path will see it
    resized: tuple[int, int]  # (height, width) fed to the vision encoder (per tile for tiling families)
    grid_thw: tuple[int, int, int] | None  # Qwen-style patch grid (temporal, height, width); None elsewhere
    tokens: int  # positions in the LLM sequence that receive vision features
    limits: dict = field(default_factory=dict)  # the budget used, e.g. {"min_pixels":..., "max_pixels":...}
    source: str | None = None  # what the input was called (a path, "<PIL image>", ...)
    total_tokens: int | None = None
    tiles: int = 1
    details: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        """tokens plus structural tokens (see the class docstring)."""
        return self.tokens if self.total_tokens is None else self.total_tokens

    @property
    def patches(self) -> int:
        """Rows of pixel_values this image contributes (t * h * w patches), for Qwen-style grids."""
        t, h, w = self.grid_thw
        return t * h * w

    def to_dict(self) -> dict:
        out = {"path": self.source, "size": list(self.size), "resized": list(self.resized)}
        if self.grid_thw is not None:
            out["grid_thw"] = list(self.grid_thw)
        out["tokens"] = self.tokens
        if self.total_tokens is not None:
            out["total_tokens"] = self.total_tokens
        if self.tiles != 1:
            out["tiles"] = self.tiles
        if self.details:
            out["details"] = dict(self.details)
        return out
