"""Videos for the Qwen2-VL / Qwen2.5-VL / Qwen3-VL families: plan, pixels and placeholder layout.

Plan: `video_plan.plan_video` in the family's sampling mode ("qwen-vl-utils" by default, or
"transformers"; see mmtok.vision.video for why).

Pixels, per mode, as the reference that mode follows:
* "qwen-vl-utils": `fetch_video` resizes the sampled frames with torchvision v1's float32 bicubic
  (antialias) kernel, then the processor is called with do_resize=False (Qwen's README does so for
  Qwen3-VL; for Qwen2/2.5-VL the processor's own smart resize returns the same size, a no-op). A list of
  frame images goes through `fetch_image` (Pillow bicubic) instead.
* "transformers": `Qwen2VLVideoProcessor` / `Qwen3VLVideoProcessor` resize with torchvision v2, which on
  CPU keeps uint8 frames and runs torch's fixed-point uint8 kernel.
Then both run transformers' `TorchvisionBackend.rescale_and_normalize` (fused statistics, see
pixels.normalize_lut_fused) and the video processor's `patchify` (odd frame counts padded with the last
frame): pixel_values_videos (grid_t * grid_h * grid_w, 3 * 2 * p * p) float32, video_grid_thw int64.
Qwen2.5-VL adds second_per_grid_ts = temporal_patch_size / sample_fps per video (transformers 5.23
`Qwen2_5_VLProcessor._process_videos`; qwen-vl-utils passes its sample fps).

Sequence: Qwen2/2.5-VL write one block, `<|vision_start|>` + `<|video_pad|>` x tokens + `<|vision_end|>`.
Qwen3-VL writes one `<{t:.1f} seconds>` timestamp and its own start/pad/end block per temporal group, the
timestamp being the mean of the group's first and last frame times (frame index / the video's fps;
`Qwen3VLProcessor._calculate_timestamps`). Where the group blocks go, the references disagree
(`video_layout`):
* "transformers" (default, transformers 5.23): only the `<|video_pad|>` of the template's
  `<|vision_start|><|video_pad|><|vision_end|>` is replaced, so the groups sit inside an outer
  start/end pair: `<|vision_start|><0.3 seconds><|vision_start|>...<|vision_end|>...<|vision_end|>`.
* "qwen" (transformers 4.57, vLLM, and the layout Qwen's own code writes): the template's whole block is
  replaced by the groups: `<0.3 seconds><|vision_start|>...<|vision_end|><1.3 seconds>...`.
A video without a frame rate (frames given as images or an array) is timed at 24 fps in
"transformers" mode, as Qwen3VLProcessor defaults with a warning, and at the sample fps (2) in
"qwen-vl-utils" mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InvalidOptionError
from ...sequence.pieces import Piece, Special, Text
from .. import pixels

VIDEO_LAYOUTS = ("transformers", "qwen")
REFERENCE_DEFAULT_FPS = 24  # Qwen3VLProcessor.replace_video_token when metadata has no fps


def check_layout(layout: str) -> str:
    if layout not in VIDEO_LAYOUTS:
        raise InvalidOptionError(f"video_layout must be one of {', '.join(VIDEO_LAYOUTS)}; got {layout!r}")
    return layout


def _is_file(video: Any) -> bool:
    import os

    return isinstance(video, (str, os.PathLike))


def video_pixels(family, video: Any, plan) -> np.ndarray:
    """pixel_values_videos rows of one video, following `plan`."""
    from ..resize_torch import resize_bicubic_aa
    from ..video_io import load_video

    spec = family.spec
    frames = load_video(video, plan.frame_indices, rgb=family.rgb)
    if family.sampling == "qwen-vl-utils" and not _is_file(video) and type(video).__module__ != "numpy":
        # fetch_image: each frame image resized alone with Pillow's bicubic
        from PIL import Image

        size = plan.resized
        frames = np.stack([np.asarray(pixels.resize_bicubic(Image.fromarray(f), size)) for f in frames])
    else:
        kernel = "float32" if family.sampling == "qwen-vl-utils" else "uint8"
        frames = resize_bicubic_aa(frames, plan.resized, kernel=kernel)
    lut = pixels.normalize_lut_fused(spec.image_mean, spec.image_std, spec.rescale_factor)
    return pixels.patchify_frames(
        frames, lut, patch_size=spec.patch_size, merge_size=spec.merge_size, temporal_patch_size=spec.temporal_patch_size
    )


def timestamps(plan, sampling: str, merge: int = 2) -> list[float]:
    """Qwen3VLProcessor._calculate_timestamps: one time per temporal group, in seconds."""
    meta = plan.metadata
    fps = meta.fps if meta is not None and meta.fps else None
    if fps is None:
        fps = plan.sample_fps if sampling == "qwen-vl-utils" and plan.sample_fps else REFERENCE_DEFAULT_FPS
    indices = list(plan.frame_indices)
    if len(indices) % merge:
        indices += [indices[-1]] * (merge - len(indices) % merge)
    times = [i / fps for i in indices]
    return [(times[i] + times[i + merge - 1]) / 2 for i in range(0, len(times), merge)]


def expand_video(family, plan) -> list[Piece]:
    spec = family.spec
    start, end = Special(spec.vision_start), Special(spec.vision_end)
    if family.name != "qwen3-vl":
        return [start, Special(spec.video_token, plan.tokens), end]
    t, h, w = plan.grid_thw
    per_group = h * w // spec.merge_size**2
    groups: list[Piece] = []
    for time in timestamps(plan, family.sampling, spec.merge_size):
        groups += [Text(f"<{time:.1f} seconds>"), start, Special(spec.video_token, per_group), end]
    return [start, *groups, end] if family.video_layout == "transformers" else groups
