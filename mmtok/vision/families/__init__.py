"""Model families, one module each, registered by name (see `FAMILIES`)."""

from __future__ import annotations

from ...registry import Registry
from .base import VisionFamily

FAMILIES: Registry[VisionFamily] = Registry(
    "model",
    modules=tuple(
        f"mmtok.vision.families.{name}"
        for name in (
            "qwen_vl",
            "qwen2_vl",
            "qwen2_5_vl",
            "qwen3_vl",
            "clip",
            "blip",
            "llava",
            "llava_next",
            "llava_onevision",
            "internvl",
            "minicpm_v",
            "idefics3",
            "pixtral",
            "gemma3",
            "mllama",
            "phi",
            "api_openai",
            "api_anthropic",
            "api_google",
        )
    ),
)


def get_family(model: str, **options) -> VisionFamily:
    """The family registered as `model`, configured with `options` (e.g. min_pixels, max_pixels)."""
    return FAMILIES.get(model, **options)


def model_names() -> list[str]:
    return FAMILIES.names()
