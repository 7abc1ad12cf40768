"""Model families, one module each, registered by name (see `FAMILIES`)."""

from __future__ import annotations

from ...registry import Registry
from .base import VisionFamily

FAMILIES: Registry[VisionFamily] = Registry("model", modules=(
        "mmtok.vision.families.qwen2_vl",
        "mmtok.vision.families.qwen2_5_vl",
        "mmtok.vision.families.qwen3_vl",
        "mmtok.vision.families.qwen_vl",
    ),
)


def get_family(model: str, **options) -> VisionFamily:
    """The family registered as `model`, configured with `options` (e.g. min_pixels, max_pixels)."""
    return FAMILIES.get(model, **options)


def model_names() -> list[str]:
    return FAMILIES.names()
