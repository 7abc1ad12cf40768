"""Qwen3-VL still images.

Reference: transformers 5.23 `models/qwen3_vl/processing_qwen3_vl.py` (`Qwen3VLProcessor`), which uses
`Qwen2VLImageProcessor` with the Qwen/Qwen3-VL-8B-Instruct checkpoint's preprocessor_config.json:
patch 16 (so the resize factor is 16 * 2 = 32 and a row of pixel_values is 3*2*16*16 = 1536 values),
mean = std = 0.5, size {shortest_edge: 65,536, longest_edge: 16,777,216} (64 to 16,384 tokens).

Its chat template writes no default system prompt; a vision block is the same
`<|vision_start|><|image_pad|><|vision_end|>` as Qwen2-VL's.
"""

from __future__ import annotations

from . import FAMILIES
from .qwen2_vl import QwenVisionSpec, QwenVLFamily

QWEN3_VL_SPEC = QwenVisionSpec(
    patch_size=16,
    min_pixels=64 * 32 * 32,  # checkpoint size.shortest_edge: 65,536
    max_pixels=16384 * 32 * 32,  # checkpoint size.longest_edge: 16,777,216
    image_mean=(0.5, 0.5, 0.5),
    image_std=(0.5, 0.5, 0.5),
)


@FAMILIES.register(
    "qwen3-vl",
    aliases=("qwen3_vl", "qwen3vl", "Qwen/Qwen3-VL-2B-Instruct", "Qwen/Qwen3-VL-4B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"),
)
class Qwen3VL(QwenVLFamily):
    name = "qwen3-vl"
    tokenizer_name = "qwen2"
    reference = "transformers 5.23 Qwen3VLProcessor + Qwen2VLImageProcessorPil, Qwen3-VL checkpoint config"
    spec = QWEN3_VL_SPEC
    default_system = None
    template_style = "qwen3"
