"""Qwen2.5-VL still images.

Reference: transformers 5.23 `models/qwen2_5_vl/processing_qwen2_5_vl.py` (`Qwen2_5_VLProcessor`), which
reuses Qwen2-VL's image processor unchanged, and the Qwen/Qwen2.5-VL-7B-Instruct checkpoint's
preprocessor_config.json (min_pixels 3,136, max_pixels 12,845,056: the same as Qwen2-VL's) and chat
template (the Qwen2-VL ChatML template, default system prompt included).

What differs from Qwen2-VL lives elsewhere: videos carry `second_per_grid_ts` and temporal positions in
absolute time (M-RoPE), and grounding boxes are absolute pixels of the resized image.
"""

from __future__ import annotations

from . import FAMILIES
from .qwen2_vl import QwenVisionSpec, QwenVLFamily


@FAMILIES.register(
    "qwen2.5-vl",
    aliases=("qwen2_5_vl", "qwen2.5vl", "qwen25-vl", "Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct"),
)
class Qwen25VL(QwenVLFamily):
    name = "qwen2.5-vl"
    tokenizer_name = "qwen2"
    reference = "transformers 5.23 Qwen2_5_VLProcessor + Qwen2VLImageProcessorPil, Qwen2.5-VL checkpoint limits"
    spec = QwenVisionSpec()
