"""The plan of one video: frames (from `video.sample_frames`), the size every frame is resized to,
the patch grid and the token count, from sizes and metadata alone.

Frame size, per sampling mode (see `mmtok.vision.video` for the modes and the default):

* qwen-vl-utils 0.0.14 ``vision_process.fetch_video``: per-frame limits min_pixels (128 tokens) and
  ``max(min(768 tokens, total_pixels / nframes * 2), int(1.05 * min_pixels))``, with its own
  ``smart_resize`` (`geometry.smart_resize_qwen_vl_utils`); frame lists are first resized by
  ``fetch_image`` one by one.
* transformers 5.23 ``Qwen2VLVideoProcessor.resize`` (every frame within min/max_pixels, optional
  ``cap_pixels_per_frame``) and ``Qwen3VLVideoProcessor.resize`` (budget over frames x height x width,
  `geometry.video_smart_resize`).

grid = (ceil(frames / 2), H' / patch, W' / patch): an odd frame count is padded by repeating the
last frame, as both references do; tokens = t * h * w / merge**2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import EmptyVideoError, InvalidOptionError, UnsupportedInputError
from . import geometry
from .video import (
    DEFAULT_SAMPLING,
    QVU_FRAME_FACTOR,
    QVU_IMAGE_MAX_TOKENS,
    QVU_IMAGE_MIN_TOKENS,
    QVU_MODEL_SEQ_LEN,
    QVU_SAMPLE_FPS,
    QVU_VIDEO_MAX_TOKENS,
    QVU_VIDEO_MIN_TOKENS,
    ModelStyle,
    VideoMetadata,
    check_sampling,
    sample_frames_and_fps,
    get_style,
)


@dataclass(frozen=True)
class VideoPlan:
    """What `model` makes of one video: frames used, their size, the patch grid and the token count."""

    model: str
    sampling: str
    source: str
    size: tuple[int, int]  # (height, width) of the decoded frames
    frame_indices: tuple[int, ...]  # input frame behind each frame given to the vision encoder
    resized: tuple[int, int]  # (height, width) every frame is resized to
    grid_thw: tuple[int, int, int]  # (frames padded to the temporal patch / 2, H'/patch, W'/patch)
    tokens: int
    sample_fps: float  # frames per second of the sampled frames, as the reference reports it
    limits: dict = field(default_factory=dict)
    metadata: VideoMetadata | None = None

    @property
    def frames(self) -> int:
        """Frames given to the processor (odd counts are padded by repeating the last one)."""
        return len(self.frame_indices)

    @property
    def patches(self) -> int:
        t, h, w = self.grid_thw
        return t * h * w

    def to_dict(self) -> dict:
        return {
            "path": self.source,
            "model": self.model,
            "sampling": self.sampling,
            "size": list(self.size),
            "frames": self.frames,
            "frame_indices": list(self.frame_indices),
            "sample_fps": self.sample_fps,
            "resized": list(self.resized),
            "grid_thw": list(self.grid_thw),
            "tokens": self.tokens,
            "limits": dict(self.limits),
        }


# --- frame size -------------------------------------------------------------------------------------------

_QVU_OPTIONS = {"min_pixels", "max_pixels", "total_pixels", "resized_height", "resized_width", "model_seq_len",
                "image_patch_size"}
_HF_OPTIONS = {"min_pixels", "max_pixels", "cap_pixels_per_frame", "max_video_tokens"}


def frame_budget(
    height: int,
    width: int,
    frames: int,
    *,
    model_style: str = "qwen2-vl",
    sampling: str = DEFAULT_SAMPLING,
    source: str = "video",
    **options: Any,
) -> tuple[tuple[int, int], dict]:
    """(resized (height, width), limits used) for `frames` frames of height x width.

    qwen-vl-utils options: min_pixels (per frame, default 128 tokens), max_pixels (per frame, lowered
    to the budget), total_pixels (whole video, default model_seq_len * factor**2 * 0.9),
    model_seq_len (128,000), resized_height/resized_width, image_patch_size (14, or 16 for qwen3-vl).
    transformers options: min_pixels/max_pixels (the processor's size shortest/longest_edge),
    cap_pixels_per_frame (False) and max_video_tokens (its cap's budget).
    """
    check_sampling(sampling)
    style = get_style(model_style)
    if frames < 1:
        raise InvalidOptionError(f"{source}: no frames to resize ({frames}); sample at least one")
    allowed = _QVU_OPTIONS if sampling == "qwen-vl-utils" else _HF_OPTIONS
    unknown = set(options) - allowed
    if unknown:
        raise InvalidOptionError(
            f"unknown {sampling} video option(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    if sampling == "qwen-vl-utils":
        return _budget_qwen_vl_utils(height, width, frames, style, source, **options)
    return _budget_transformers(height, width, frames, style, source, **options)


def qvu_factor(style: ModelStyle, image_patch_size: int | None = None) -> int:
    return (style.patch_size if image_patch_size is None else image_patch_size) * 2


def _budget_qwen_vl_utils(height, width, frames, style, source, *, min_pixels=None, max_pixels=None,
                          total_pixels=None, resized_height=None, resized_width=None,
                          model_seq_len=QVU_MODEL_SEQ_LEN, image_patch_size=None):
    f = qvu_factor(style, image_patch_size)
    min_pixels = QVU_VIDEO_MIN_TOKENS * f * f if min_pixels is None else min_pixels
    total_pixels = model_seq_len * f * f * 0.9 if total_pixels is None else total_pixels
    # fetch_video: the per-frame cap is the lower of 768 tokens and an even share of total_pixels per
    # two frames, but never under 1.05 * min_pixels, so a long video can exceed total_pixels.
    budget = max(min(QVU_VIDEO_MAX_TOKENS * f * f, total_pixels / frames * QVU_FRAME_FACTOR), int(min_pixels * 1.05))
    budget = budget if max_pixels is None else min(max_pixels, budget)
    limits = {"min_pixels": min_pixels, "max_pixels": budget, "total_pixels": total_pixels, "factor": f}
    if resized_height is not None and resized_width is not None:
        # the reference rounds the requested size with the image defaults, not the video budget
        resized = geometry.smart_resize_qwen_vl_utils(
            resized_height, resized_width, factor=f, min_pixels=QVU_IMAGE_MIN_TOKENS * f * f,
            max_pixels=QVU_IMAGE_MAX_TOKENS * f * f, source=source)
    else:
        resized = geometry.smart_resize_qwen_vl_utils(height, width, factor=f, min_pixels=min_pixels,
                                                      max_pixels=budget, source=source)
    return resized, limits


def _budget_transformers(height, width, frames, style, source, *, min_pixels=None, max_pixels=None,
                         cap_pixels_per_frame=False, max_video_tokens=None):
    f, tf = style.factor, style.temporal_patch_size
    shortest = style.min_pixels if min_pixels is None else min_pixels
    longest = style.max_pixels if max_pixels is None else max_pixels
    tokens = style.max_video_tokens if max_video_tokens is None else max_video_tokens
    limits = {"min_pixels": shortest, "max_pixels": longest, "factor": f}
    if style.processor == "qwen2":
        cap = longest
        if cap_pixels_per_frame:
            total = int(tokens * f * f * 0.9)
            cap = max(min(longest, total * tf // frames), int(shortest * 1.05))
            limits["frame_max_pixels"] = cap
        resized = geometry.smart_resize(height, width, factor=f, min_pixels=shortest, max_pixels=cap, source=source)
        return resized, limits
    cap = longest
    if cap_pixels_per_frame:
        per_frame = max(min(tokens * f * f, longest // frames), int(shortest * 1.05))
        cap = per_frame * frames
        limits["video_max_pixels"] = cap
    resized = geometry.video_smart_resize(frames, height, width, temporal_factor=tf, factor=f,
                                          min_pixels=shortest, max_pixels=cap, source=source)
    return resized, limits


# --- the whole plan ---------------------------------------------------------------------------------------

_SAMPLING_OPTIONS = {"fps", "nframes", "min_frames", "max_frames", "video_start", "video_end", "do_sample_frames"}
_FRAME_LIST_OPTIONS = {"sample_fps", "fix_frame_list_factor"}


def _is_frame_list(video: Any) -> bool:
    return isinstance(video, (list, tuple)) or (type(video).__module__ == "numpy" and getattr(video, "ndim", 0) == 4)


def plan_video(video: Any, *, model_style: str = "qwen2-vl", sampling: str = DEFAULT_SAMPLING, **options: Any) -> VideoPlan:
    """The plan for `video`: a VideoMetadata, a path (its header is read, no frame decoded), a list of
    frame images (paths, PIL images, arrays: sizes read from headers), or a (T, H, W, C) array.

    Options: the sampling options of `sample_frames`, the size options of `frame_budget`, and for
    frame lists in qwen-vl-utils mode ``sample_fps`` (2.0) and ``fix_frame_list_factor`` (False).
    """
    check_sampling(sampling)
    style = get_style(model_style)
    allowed = _SAMPLING_OPTIONS | (_QVU_OPTIONS if sampling == "qwen-vl-utils" else _HF_OPTIONS) | _FRAME_LIST_OPTIONS
    unknown = set(options) - allowed
    if unknown:
        raise InvalidOptionError(
            f"unknown {sampling} video option(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )
    sampling_opts = {k: options.pop(k) for k in list(options) if k in _SAMPLING_OPTIONS}
    list_opts = {k: options.pop(k) for k in list(options) if k in _FRAME_LIST_OPTIONS}
    if _is_frame_list(video):
        if list_opts and sampling != "qwen-vl-utils":
            raise InvalidOptionError(f"{', '.join(sorted(list_opts))} are qwen-vl-utils frame-list options")
        meta, frame_size = _frame_list_metadata(video, sampling, style, options, list_opts)
        if sampling == "qwen-vl-utils":
            if any(v is not None for v in sampling_opts.values()):
                raise InvalidOptionError(
                    f"qwen-vl-utils uses every frame of a frame list; {', '.join(sorted(sampling_opts))} apply to video files"
                )
            n = meta.total_frames
            indices = list(range(n)) + [n - 1] * (-n % QVU_FRAME_FACTOR)  # padded by repeating the last frame
            sample_fps = list_opts.get("sample_fps", QVU_SAMPLE_FPS)
            return _finish(style, sampling, meta, frame_size, indices, sample_fps, options)
    else:
        if list_opts:
            raise InvalidOptionError(f"{', '.join(sorted(list_opts))} apply to frame lists only")
        if isinstance(video, VideoMetadata):
            meta = video
        elif isinstance(video, (str, os.PathLike)):
            from .video_io import read_metadata

            meta = read_metadata(video)
        else:
            raise UnsupportedInputError(
                "video", video, "a path, a VideoMetadata, a list of frame images or a (T, H, W, C) uint8 array")
        frame_size = (meta.height, meta.width)
    indices, sample_fps = sample_frames_and_fps(meta, sampling=sampling, style=style, **sampling_opts)
    return _finish(style, sampling, meta, frame_size, indices, sample_fps, options)


def _frame_list_metadata(video, sampling, style, options, list_opts):
    """Metadata of frames given as images, and the frame size the video processor sees."""
    from .io import describe, image_size

    if type(video).__module__ == "numpy":
        n, sizes = int(video.shape[0]), [(int(video.shape[1]), int(video.shape[2]))]
        source = "<frame array>"
    else:
        n, sizes = len(video), sorted({image_size(frame) for frame in video})
        source = f"<{n} frames>" if n != 1 else describe(video[0])
    if n == 0:
        raise EmptyVideoError(source, "the frame list is empty")
    if sampling == "qwen-vl-utils":
        # fetch_image resizes every frame first (0.0.14: with factor 2 * factor, see the module docstring)
        f = qvu_factor(style, options.get("image_patch_size"))
        pf = f if list_opts.get("fix_frame_list_factor") else 2 * f
        sizes = sorted({_qvu_fetch_image_size(s, pf, options, source) for s in sizes})
    if len(sizes) != 1:
        raise InvalidOptionError(
            f"{source}: the frames have different sizes ({', '.join(f'{h}x{w}' for h, w in sizes)}); the reference "
            "stacks them into one array and fails. Resize them to one size first"
        )
    (h, w), = sizes
    return VideoMetadata(total_frames=n, fps=None, duration=None, height=h, width=w, source=source), (h, w)


def _qvu_fetch_image_size(size, factor, options, source):
    """The size qwen-vl-utils' ``fetch_image`` gives one frame (it sees the video's own options)."""
    if options.get("resized_height") is not None and options.get("resized_width") is not None:
        h, w = options["resized_height"], options["resized_width"]
        lo, hi = QVU_IMAGE_MIN_TOKENS * factor**2, QVU_IMAGE_MAX_TOKENS * factor**2
    else:
        (h, w) = size
        lo = options.get("min_pixels") or QVU_IMAGE_MIN_TOKENS * factor**2
        hi = options.get("max_pixels") or QVU_IMAGE_MAX_TOKENS * factor**2
    return geometry.smart_resize_qwen_vl_utils(h, w, factor=factor, min_pixels=lo, max_pixels=hi, source=source)


def _finish(style, sampling, meta, frame_size, indices, sample_fps, options) -> VideoPlan:
    height, width = frame_size
    resized, limits = frame_budget(height, width, len(indices), model_style=style.name, sampling=sampling,
                                   source=meta.source, **options)
    if resized[0] % style.factor or resized[1] % style.factor:
        raise InvalidOptionError(
            f"{meta.source}: frames resized to {resized[0]}x{resized[1]} are not multiples of {style.name}'s "
            f"{style.factor}-pixel merge block; leave image_patch_size at {style.patch_size}"
        )
    tps, patch = style.temporal_patch_size, style.patch_size
    grid = (-(-len(indices) // tps), resized[0] // patch, resized[1] // patch)
    tokens = grid[0] * grid[1] * grid[2] // style.merge_size**2
    return VideoPlan(style.name, sampling, meta.source, (height, width), tuple(indices), resized, grid, tokens,
                     sample_fps, limits, meta)
