"""Video plans for Qwen-style models: which frames are used, at what size, and how many tokens they cost.

This module: frame sampling, pure arithmetic on container metadata (frame count, frame rate);
`video_plan` adds the frame size and token count, `video_io` reads metadata and decodes frames.
Nothing here imports PyAV or torch.

Two named sampling modes, because the two references Qwen users run disagree on frame choice,
frame count and frame size:

* ``"qwen-vl-utils"`` follows qwen-vl-utils 0.0.14, ``qwen_vl_utils/vision_process.py``:
  ``calculate_video_frame_range`` (video_start / video_end in seconds), ``smart_nframes`` (fps 2,
  4..768 frames, always even), the decord/torchcodec readers' ``torch.linspace(start, end, n).round()``
  indices, and ``fetch_video``'s per-frame budget: every frame gets 128..768 tokens' worth of pixels,
  and the whole video at most ``total_pixels`` (default ``MODEL_SEQ_LEN * factor**2 * 0.9``, i.e.
  115,200 tokens), floored at ``int(1.05 * min_pixels)``; factor 28 (``image_patch_size=14``,
  Qwen2/2.5-VL) or 32 (16, Qwen3-VL). A list of frame images is used whole, padded to an even count.
  By default the 0.0.14 wheel is reproduced, including its frame-list bug: each frame first goes
  through ``fetch_image`` with ``image_patch_size=factor``, so it is resized to a multiple of 2*factor
  within the image limits before the video budget applies (fixed in the git repository after
  0.0.14; ``fix_frame_list_factor=True`` follows the fix).
* ``"transformers"`` follows transformers 5.23's video processors, i.e. ``processor(videos=...)``:
  ``models/qwen2_vl/video_processing_qwen2_vl.py`` for Qwen2-VL and Qwen2.5-VL (no sampling unless
  fps or nframes is given, as ``apply_chat_template`` turns it on; then floor-spaced
  ``torch.arange(0, total, total / n).int()`` indices; every frame smart-resized alone within
  min/max_pixels) and ``models/qwen3_vl/video_processing_qwen3_vl.py`` for Qwen3-VL (fps 2,
  ``int()``-truncated frame count, not made even, ``np.linspace(0, total - 1, n).round()`` indices,
  and a pixel budget over frames x height x width). Pixel limits default to what a checkpoint's
  processor loads: Qwen3-VL's video_preprocessor_config.json (4,096..25,165,824) and, for Qwen2/2.5-VL,
  whose checkpoints ship no video config, the image limits transformers falls back to
  (3,136..12,845,056 per frame).

The default is ``"qwen-vl-utils"``: it is what Qwen's own README, cookbooks and fine-tuning code use
to prepare videos (and then call the processor with ``do_resize=False``), so its frame choice and
sizes are what the models were trained and evaluated on. The transformers processor on its own
samples no frames at all for Qwen2/2.5-VL and gives up to 16,384 tokens per two frames with the
checkpoint's limits. Pass ``sampling="transformers"`` to count what ``processor(videos=...)`` does.

Both references compute frame indices with torch in float32; the arithmetic is reproduced here in
numpy (see `torch_linspace_round` and `torch_arange_int`) so that the indices are bit-exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidOptionError, UnknownNameError, VideoSamplingError
from . import geometry

SAMPLING_MODES = ("qwen-vl-utils", "transformers")
DEFAULT_SAMPLING = "qwen-vl-utils"

# qwen-vl-utils 0.0.14 constants (vision_process.py)
QVU_FPS = 2.0
QVU_FRAME_FACTOR = 2
QVU_MIN_FRAMES = 4
QVU_MAX_FRAMES = 768
QVU_VIDEO_MIN_TOKENS = 128
QVU_VIDEO_MAX_TOKENS = 768
QVU_IMAGE_MIN_TOKENS = 4
QVU_IMAGE_MAX_TOKENS = 16384
QVU_MODEL_SEQ_LEN = 128000  # the reference reads the MODEL_SEQ_LEN environment variable; here it is an option
QVU_SAMPLE_FPS = 2.0  # fake sampling rate of a frame list


@dataclass(frozen=True)
class ModelStyle:
    """What a model family fixes for video: patch sizes and the transformers video processor it uses."""

    name: str
    patch_size: int
    processor: str  # "qwen2" (Qwen2VLVideoProcessor) or "qwen3" (Qwen3VLVideoProcessor)
    min_pixels: int  # transformers: the checkpoint's size["shortest_edge"] for videos
    max_pixels: int  # transformers: size["longest_edge"] (per frame for qwen2, over T*H*W for qwen3)
    fps: float | None  # transformers class defaults
    do_sample_frames: bool
    max_video_tokens: int  # cap_pixels_per_frame's budget (qwen2: whole video, qwen3: per frame)
    min_frames: int = 4
    max_frames: int = 768
    merge_size: int = 2
    temporal_patch_size: int = 2

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


_QWEN2 = dict(patch_size=14, processor="qwen2", min_pixels=3136, max_pixels=12845056, fps=None,
              do_sample_frames=False, max_video_tokens=128000)
MODEL_STYLES = {
    "qwen2-vl": ModelStyle("qwen2-vl", **_QWEN2),
    "qwen2.5-vl": ModelStyle("qwen2.5-vl", **_QWEN2),
    "qwen3-vl": ModelStyle("qwen3-vl", patch_size=16, processor="qwen3", min_pixels=4096, max_pixels=25165824,
                           fps=2, do_sample_frames=True, max_video_tokens=768),
}


@dataclass(frozen=True)
class VideoMetadata:
    """What the container says about a video (or what a list of frames implies)."""

    total_frames: int
    fps: float | None  # average frame rate; None for frames given without one
    duration: float | None  # seconds, total_frames / fps as transformers' readers report it
    height: int
    width: int
    source: str = "video"


# --- torch's float32 index arithmetic, reproduced -----------------------------------------------------


def torch_linspace_round(start: float, end: float, steps: int) -> list[int]:
    """``torch.linspace(start, end, steps).round().long()`` (float32) as torch's x86 AVX2/AVX-512 CPU
    kernels compute it: the first half as ``start + step * i``, the second as
    ``end - step * (steps - 1 - i)``, each with one fused multiply-add rounding, with
    ``step = float32((end - start) / (steps - 1))``; then round half to even.

    A plain float64 linspace differs in about 1-3 % of the (total, n) pairs qwen-vl-utils meets.
    torch's non-SIMD build (ATEN_CPU_CAPABILITY=default) rounds the product separately and can give
    other indices in the same rare half-way cases.
    """
    if steps <= 0:
        return []
    s, e = np.float32(start), np.float32(end)
    if steps == 1:
        return [int(np.rint(s))]
    step = float(np.float32(np.float32(e - s) / np.float32(steps - 1)))
    i = np.arange(steps, dtype=np.float64)
    # float64 holds step * i and the sum exactly here (step has 24 bits, i and the ends are small
    # integers), so one cast to float32 is the fused operation's single rounding.
    values = np.where(i < steps // 2, float(s) + step * i, float(e) - step * (steps - 1 - i))
    return np.rint(values.astype(np.float32)).astype(np.int64).tolist()


def torch_arange_int(total: int, num_frames: int) -> list[int]:
    """``torch.arange(0, total, total / num_frames).int()`` (float32), as transformers' Qwen2-VL
    sampler calls it.

    The length is ``ceil(total / (total / num_frames))`` in float64, which is num_frames + 1 for some
    pairs (e.g. 4 % of random ones), so the reference then uses one frame more than it asked for.
    Values: torch's CPU kernel fills blocks of 16 with a vector of 8 lanes, each lane
    ``float32(base) + k * step`` with ``base = step * first_index``; the tail is ``step * i``; every
    value is rounded to float32, then truncated.
    """
    step = total / num_frames
    size = math.ceil(total / step)
    i = np.arange(size)
    vector_end = size - size % 16
    first = (i // 8) * 8
    base = (step * first).astype(np.float32).astype(np.float64)
    values = np.where(i < vector_end, base + (i - first) * step, step * i)
    return values.astype(np.float32).astype(np.int32).astype(np.int64).tolist()


# --- frame sampling ---------------------------------------------------------------------------------------


def get_style(model_style: str) -> ModelStyle:
    try:
        return MODEL_STYLES[model_style]
    except KeyError:
        raise UnknownNameError("video model style", model_style, list(MODEL_STYLES)) from None


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLING_MODES:
        raise UnknownNameError("video sampling mode", sampling, list(SAMPLING_MODES))


def frame_range(meta: VideoMetadata, video_start: float | None, video_end: float | None) -> tuple[int, int, int]:
    """qwen-vl-utils' ``calculate_video_frame_range``: (start_frame, end_frame, frame_count) of the
    seconds [video_start, video_end], clamped to the video; start rounds up, end rounds down."""
    total, fps = meta.total_frames, meta.fps
    if not fps or fps <= 0:
        raise VideoSamplingError(meta.source, "the frame rate is unknown", "pass the video's fps in its metadata")
    if total <= 0:
        raise VideoSamplingError(meta.source, "it has no frames", "skip it")
    if video_start is None and video_end is None:
        return 0, total - 1, total
    max_duration = total / fps
    start = 0 if video_start is None else math.ceil(max(0.0, min(video_start, max_duration)) * fps)
    end = total - 1
    if video_end is not None:
        end = min(math.floor(max(0.0, min(video_end, max_duration)) * fps), total - 1)
    if start >= end:
        raise VideoSamplingError(
            meta.source,
            f"video_start={video_start}, video_end={video_end} select frames {start}..{end} of a "
            f"{max_duration:.2f} s video ({total} frames at {fps:g} fps), an empty range",
            "pass a range inside the video with video_start < video_end",
        )
    return start, end, end - start + 1


def qwen_vl_utils_nframes(
    total_frames: int,
    video_fps: float,
    *,
    fps: float | None = None,
    nframes: int | None = None,
    min_frames: int | None = None,
    max_frames: int | None = None,
    source: str = "video",
) -> int:
    """qwen-vl-utils 0.0.14 ``smart_nframes``: nframes rounded to even, or fps * duration clamped to
    [min_frames, max_frames] and to the frame count, then floored to even."""
    f = QVU_FRAME_FACTOR
    if nframes is not None:
        n = geometry.round_by_factor(nframes, f)
    else:
        lo = geometry.ceil_by_factor(QVU_MIN_FRAMES if min_frames is None else min_frames, f)
        hi = geometry.floor_by_factor(min(QVU_MAX_FRAMES, total_frames) if max_frames is None else max_frames, f)
        n = total_frames / video_fps * (QVU_FPS if fps is None else fps)
        n = geometry.floor_by_factor(min(min(max(n, lo), hi), total_frames), f)
    if not (f <= n <= total_frames):
        raise VideoSamplingError(
            source,
            f"qwen-vl-utils would use {n} frames, outside [{f}, {total_frames}] (the frames in range)",
            "the video is too short for these options: lower nframes/min_frames, or pass the frames as a list",
        )
    return n


def _sample_qwen_vl_utils(meta, fps, nframes, min_frames, max_frames, video_start, video_end):
    start, end, count = frame_range(meta, video_start, video_end)
    n = qwen_vl_utils_nframes(count, meta.fps, fps=fps, nframes=nframes, min_frames=min_frames,
                              max_frames=max_frames, source=meta.source)
    return torch_linspace_round(start, end, n), n / max(count, 1e-6) * meta.fps


def _sample_transformers_qwen2(meta, style, fps, nframes, min_frames, max_frames, temporal_patch_size, do_sample):
    total = meta.total_frames
    fps = style.fps if fps is None else fps
    if not do_sample:
        return list(range(total))
    if fps is None and nframes is None:
        raise VideoSamplingError(
            meta.source, "transformers 5.23's Qwen2-VL sampler fails (TypeError) when asked to sample with neither "
            "fps nor nframes", "pass fps or nframes, or do_sample_frames=False to use every frame")
    min_frames = style.min_frames if min_frames is None else min_frames
    max_frames = style.max_frames if max_frames is None else max_frames
    tps = temporal_patch_size
    if nframes is not None:
        n = round(nframes / tps) * tps
    else:
        if meta.fps is None:
            raise VideoSamplingError(meta.source, "sampling by fps needs the video's frame rate",
                                     "pass nframes instead, or give the frames' fps")
        max_frames = math.floor(min(max_frames, total) / tps) * tps
        n = min(max(total / meta.fps * fps, min_frames), max_frames, total)
        n = math.floor(n / tps) * tps
    if n > total or n <= 0:
        raise VideoSamplingError(
            meta.source, f"transformers would sample {n} of its {total} frames",
            "lower nframes or fps, or pass more frames" if n > 0 else "the video is too short to sample; pass nframes",
        )
    return torch_arange_int(total, n)


def _sample_transformers_qwen3(meta, style, fps, nframes, min_frames, max_frames, do_sample):
    total = meta.total_frames
    if not do_sample:
        return list(range(total))
    min_frames = style.min_frames if min_frames is None else min_frames
    max_frames = style.max_frames if max_frames is None else max_frames
    n = nframes
    fps = style.fps if fps is None else fps
    if n is None and fps is not None:
        video_fps = 24 if meta.fps is None else meta.fps  # the reference's default, with a warning
        n = min(max(int(total / video_fps * fps), min_frames), max_frames, total)
    if n is None:
        n = min(max(total, min_frames), max_frames)
    return np.linspace(0, total - 1, n).round().astype(int).tolist()


def sample_frames(meta: VideoMetadata, *, sampling: str = DEFAULT_SAMPLING, model_style: str = "qwen2-vl",
                  **options) -> list[int]:
    """Indices of the frames the reference picks from a video described by `meta`.

    qwen-vl-utils: fps (default 2) or nframes; min_frames/max_frames (4/768); video_start/video_end
    in seconds. transformers: fps or nframes (its ``num_frames``), min_frames/max_frames (the
    processor's attributes; Qwen3-VL's sampler reads only those), do_sample_frames (the processor's
    default: False for Qwen2/2.5-VL unless fps or nframes is given, True for Qwen3-VL).
    """
    return sample_frames_and_fps(meta, sampling=sampling, style=get_style(model_style), **options)[0]


def sample_frames_and_fps(
    meta: VideoMetadata,
    *,
    sampling: str,
    style: ModelStyle,
    fps: float | None = None,
    nframes: int | None = None,
    min_frames: int | None = None,
    max_frames: int | None = None,
    video_start: float | None = None,
    video_end: float | None = None,
    temporal_patch_size: int | None = None,
    do_sample_frames: bool | None = None,
) -> tuple[list[int], float]:
    """(indices, sample_fps): `sample_frames`, and the sampling rate the reference reports."""
    check_sampling(sampling)
    tps = style.temporal_patch_size if temporal_patch_size is None else temporal_patch_size
    do_sample = do_sample_frames
    if fps is not None and nframes is not None:
        raise InvalidOptionError("fps and nframes are mutually exclusive (both references refuse both); pass one")
    if meta.total_frames <= 0:
        raise VideoSamplingError(meta.source, "it has no frames", "skip it")
    if sampling == "qwen-vl-utils":
        return _sample_qwen_vl_utils(meta, fps, nframes, min_frames, max_frames, video_start, video_end)
    if video_start is not None or video_end is not None:
        raise InvalidOptionError(
            "video_start/video_end are qwen-vl-utils options; transformers' video processors have none. "
            "Trim the video first, or use sampling='qwen-vl-utils'"
        )
    if style.processor == "qwen2":
        # the processor's default is no sampling; apply_chat_template turns it on when fps or nframes is given
        do = (fps is not None or nframes is not None) if do_sample is None else do_sample
        indices = _sample_transformers_qwen2(meta, style, fps, nframes, min_frames, max_frames, tps, do)
    else:
        do = style.do_sample_frames if do_sample is None else do_sample
        indices = _sample_transformers_qwen3(meta, style, fps, nframes, min_frames, max_frames, do)
    # transformers' VideoMetadata.sampled_fps
    sample_fps = len(indices) / meta.total_frames * meta.fps if meta.fps else 24.0
    return indices, sample_fps
