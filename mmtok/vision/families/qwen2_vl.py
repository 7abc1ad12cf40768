"""Qwen2-VL still images.

Reference: transformers 5.23 `models/qwen2_vl/` (`Qwen2VLImageProcessorPil`, `Qwen2VLProcessor`)
and the Qwen/Qwen2-VL-7B-Instruct checkpoint's preprocessor_config.json and chat template.

* Plan: smart resize to multiples of patch_size * merge_size = 28 within [min_pixels, max_pixels]
  (checkpoint: 3,136 and 12,845,056, i.e. 4 to 16,384 tokens); the aspect ratio must be at most 200.
  A still image is one temporal group (grid t = 1); grid (1, H'/14, W'/14); tokens = t*h*w / 2**2.
* Pixels: RGB, bicubic resize (Pillow), x/255, CLIP mean/std, duplicated into 2 frames, patchified
  into rows of 3*2*14*14 = 1176 in merge-block order (see pixels.patchify_merged).
* Sequence: `<|vision_start|>` + `<|image_pad|>` x tokens + `<|vision_end|>` in ChatML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...sequence.chatml import DEFAULT_SYSTEM_PROMPT, render_chatml
from ...sequence.pieces import Media, Piece, Special
from .. import geometry, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class QwenVisionSpec:
    """The numbers that fix a Qwen-style vision input."""

    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2
    min_pixels: int = 56 * 56  # checkpoint preprocessor_config.json: 3,136
    max_pixels: int = 16384 * 28 * 28  # checkpoint preprocessor_config.json: 12,845,056
    max_ratio: float = 200
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255
    image_token: str = "<|image_pad|>"
    video_token: str = "<|video_pad|>"
    vision_start: str = "<|vision_start|>"
    vision_end: str = "<|vision_end|>"

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


class QwenVLFamily(VisionFamily):
    """Qwen2-VL-style families: smart resize, merged patches, pad tokens between vision start/end."""

    spec: QwenVisionSpec
    #: the chat template's system prompt when the conversation has none (None: the template writes none)
    default_system: str | None = DEFAULT_SYSTEM_PROMPT
    #: chatml.render_chatml style: which roles carry vision blocks, how system turns are written
    template_style: str = "qwen2"

    def __init__(
        self,
        *,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        sampling: str | None = None,
        video_layout: str = "transformers",
        video_options: dict | None = None,
        **options,
    ):
        """min_pixels / max_pixels: the image budget. Videos: `sampling` ("qwen-vl-utils" by default or
        "transformers", see vision.video), `video_options` (fps, nframes, min_frames, max_frames,
        min_pixels, max_pixels, total_pixels, ... as video_plan.plan_video takes them) and, for
        Qwen3-VL, `video_layout` (see families.qwen_video)."""
        from ..video import DEFAULT_SAMPLING, check_sampling
        from .qwen_video import check_layout

        super().__init__(**options)
        self.min_pixels = self.spec.min_pixels if min_pixels is None else min_pixels
        self.max_pixels = self.spec.max_pixels if max_pixels is None else max_pixels
        geometry.check_limits(self.min_pixels, self.max_pixels)
        self.sampling = DEFAULT_SAMPLING if sampling is None else sampling
        check_sampling(self.sampling)
        self.video_layout = check_layout(video_layout)
        self.video_options = dict(video_options or {})
        self.modality_tokens = {"image": self.spec.image_token, "video": self.spec.video_token}

    @property
    def rope_spec(self):
        """The M-RoPE settings of get_rope_index for this family (sequence.rope)."""
        from ...sequence.rope import RopeSpec

        return RopeSpec(self.name)

    @property
    def limits(self) -> dict:
        return {"min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        spec = self.spec
        height, width = size
        resized = geometry.smart_resize(
            height,
            width,
            factor=spec.factor,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            max_ratio=spec.max_ratio,
            source=source or "image",
        )
        grid = (1, resized[0] // spec.patch_size, resized[1] // spec.patch_size)
        tokens = grid[0] * grid[1] * grid[2] // spec.merge_size**2
        # + <|vision_start|> and <|vision_end|>
        return ImagePlan(self.name, (height, width), resized, grid, tokens, self.limits, source, total_tokens=tokens + 2)

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        spec = self.spec
        resized = np.asarray(pixels.resize_bicubic(rgb_image, plan.resized))
        stats = (spec.image_mean, spec.image_std, spec.rescale_factor)
        # uint8 pixels straight into patch rows (no float planes): bit-identical to
        # patchify_merged(normalized_planes(...)), checked by tests/vision/test_qwen_pixels.py
        return pixels.patchify_merged_u8(
            resized, pixels.normalize_lut(*stats), pixels.normalize_pair_lut(*stats), patch_size=spec.patch_size,
            merge_size=spec.merge_size, temporal_patch_size=spec.temporal_patch_size,
        )

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        plans, rows = self.planned_features(images)
        if rows:
            pixel_values = rows[0] if len(rows) == 1 else np.concatenate(rows, axis=0)
        else:
            pixel_values = np.zeros((0, 3 * self.spec.temporal_patch_size * self.spec.patch_size**2), np.float32)
        grid = np.array([p.grid_thw for p in plans], dtype=np.int64).reshape(-1, 3)
        return {"pixel_values": pixel_values, "image_grid_thw": grid}, plans

    def plan_video(self, video: Any):
        """The video's plan (frames, frame size, grid, tokens) from container metadata or frame sizes."""
        from ..video_plan import plan_video

        return plan_video(video, model_style=self.name, sampling=self.sampling, **self.video_options)

    def preprocess_videos(self, videos: list[Any]) -> tuple[dict[str, np.ndarray], list]:
        """pixel_values_videos and video_grid_thw (and second_per_grid_ts for Qwen2.5-VL), and the plans."""
        from .qwen_video import video_pixels

        plans = [self.plan_video(video) for video in videos]
        rows = [video_pixels(self, video, plan) for video, plan in zip(videos, plans)]
        data = {
            "pixel_values_videos": np.concatenate(rows, axis=0),
            "video_grid_thw": np.array([p.grid_thw for p in plans], dtype=np.int64).reshape(-1, 3),
        }
        if self.name == "qwen2.5-vl":
            data["second_per_grid_ts"] = np.array([self.spec.temporal_patch_size / p.sample_fps for p in plans])
        return data, plans

    def render(self, messages: list[dict], *, add_generation_prompt: bool, **template_options) -> list[Piece]:
        return render_chatml(
            messages,
            add_generation_prompt=add_generation_prompt,
            default_system=self.default_system,
            style=self.template_style,
            **template_options,
        )

    def template_text(self, kind: str) -> str:
        return self.spec.vision_start + self.modality_tokens[kind] + self.spec.vision_end

    def expand_in_text(self, media: Media, plan) -> list[Piece]:
        # the processor replaces only the pad token; the prompt already holds vision start/end
        pieces = self.expand(media, plan)
        if media.kind == "video" and self.name == "qwen3-vl" and self.video_layout == "qwen":
            return pieces
        return pieces[1:-1]

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind == "video":
            from .qwen_video import expand_video

            return expand_video(self, plan)
        spec = self.spec
        return [Special(spec.vision_start), Special(spec.image_token, plan.tokens), Special(spec.vision_end)]


@FAMILIES.register("qwen2-vl", aliases=("qwen2_vl", "qwen2vl", "Qwen/Qwen2-VL-7B-Instruct", "Qwen/Qwen2-VL-2B-Instruct"))
class Qwen2VL(QwenVLFamily):
    name = "qwen2-vl"
    tokenizer_name = "qwen2"
    reference = "transformers 5.23 Qwen2VLProcessor + Qwen2VLImageProcessorPil, Qwen2-VL checkpoint limits"
    spec = QwenVisionSpec()
