"""Opening videos: metadata from the container headers (nothing decoded), and decoded frames.

Follows transformers 5.23's PyAV reader (``video_utils.read_video_pyav``): frame count from the
stream header (``stream.frames``), frame rate = the stream's average rate, duration = frames / fps,
frames decoded from the start in presentation order and converted with ``to_ndarray(format="rgb24")``,
so decoded pixels are bit-identical to what transformers hands its video processor. Decoding stops
at the last frame asked for.

Containers whose header has no frame count (Matroska/WebM) report 0 to transformers, whose reader
then has nothing to sample; mmtok instead estimates it as duration x rate, rounded (the duration of
the stream, else of the container), as decord and torchcodec do from their indexes.

PyAV is imported inside the functions that need it (the ``mmtok[video]`` extra).
Also here: frame lists and (T, H, W, C) arrays as videos (`load_video`).
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any, Iterable

import numpy as np

from ..errors import (
    EmptyVideoError,
    InvalidOptionError,
    MissingDependencyError,
    NotAVideoError,
    TruncatedVideoError,
    UnsupportedInputError,
    VideoNotFoundError,
)
from .video import VideoMetadata


def _av():
    try:
        import av
    except ImportError:
        raise MissingDependencyError("av", "reading video files", extra="video") from None
    return av


def _path(video: str | os.PathLike) -> str:
    path = os.fspath(video)
    if path.startswith(("http://", "https://")):
        raise UnsupportedInputError("video", path, "a local file: mmtok does not download; fetch the URL first")
    return path[7:] if path.startswith("file://") else path


def _open(path: str):
    """An open PyAV container with a video stream, or a typed error."""
    av = _av()
    if not os.path.exists(path):
        raise VideoNotFoundError(path)
    if os.path.isdir(path):
        raise NotAVideoError(path, "it is a directory")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, EOFError, IndexError) as exc:
        # FFmpeg cannot parse a header: not a video, or cut off before its index (e.g. an MP4 whose
        # moov box is at the end)
        raise NotAVideoError(path, f"FFmpeg: {_reason(exc)}") from None
    if not container.streams.video:
        container.close()
        raise NotAVideoError(path, "it has no video stream")
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(": '")[0]


def _frame_count(container, stream, rate: Fraction | None) -> int:
    if stream.frames:
        return int(stream.frames)
    if not rate:
        return 0
    if stream.duration is not None and stream.time_base:
        seconds = Fraction(stream.duration) * stream.time_base
    elif container.duration is not None:
        seconds = Fraction(container.duration, 1_000_000)  # AV_TIME_BASE
    else:
        return 0
    return round(seconds * rate)


def read_metadata(video: str | os.PathLike) -> VideoMetadata:
    """Frame count, frame rate, duration and size of a video file, from its headers only."""
    path = _path(video)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        rate = Fraction(rate) if rate else None
        total = _frame_count(container, stream, rate)
        height, width = int(stream.height or 0), int(stream.width or 0)
    finally:
        container.close()
    if total <= 0:
        raise EmptyVideoError(path, "it has no frames (its header counts none and gives no duration)")
    if height <= 0 or width <= 0:
        raise NotAVideoError(path, f"its video stream has no frame size ({height} x {width})")
    fps = float(rate) if rate else None
    return VideoMetadata(
        total_frames=total, fps=fps, duration=total / fps if fps else None, height=height, width=width, source=path
    )


def decode_frames(video: str | os.PathLike, indices: Iterable[int]) -> np.ndarray:
    """Frames `indices` (in that order, repeats allowed) of a video file as (T, H, W, 3) uint8 RGB.

    Decodes from the start up to the last index needed, and no further."""
    av = _av()
    path = _path(video)
    indices = [int(i) for i in indices]
    if any(i < 0 for i in indices):
        raise InvalidOptionError(f"{path}: frame indices must be >= 0, got {min(indices)}")
    container = _open(path)
    stream = container.streams.video[0]
    if not indices:
        shape = (0, int(stream.height or 0), int(stream.width or 0), 3)
        container.close()
        return np.zeros(shape, np.uint8)
    wanted, last = set(indices), max(indices)
    frames: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        for frame in container.decode(stream):
            if decoded in wanted:
                frames[decoded] = frame.to_ndarray(format="rgb24")
            decoded += 1
            if decoded > last:
                break
    except (av.error.FFmpegError, EOFError) as exc:
        if last not in frames:
            raise TruncatedVideoError(path, f"decoding failed after {decoded} frames: {_reason(exc)}") from None
    finally:
        container.close()
    if last not in frames:
        raise TruncatedVideoError(path, f"frame {last} was asked for, but the stream ends after {decoded} frames")
    sizes = {a.shape for a in frames.values()}
    if len(sizes) > 1:
        raise NotAVideoError(path, "its frames change size mid-stream; re-encode it at one size")
    return np.stack([frames[i] for i in indices])


def load_video(video: Any, indices: Iterable[int] | None = None, *, rgb: str = "reference") -> np.ndarray:
    """A video as a (T, H, W, 3) uint8 RGB array: a path (decoded with PyAV), a list of frame images
    (paths, bytes, PIL images or arrays, opened as mmtok.vision.io does), or a (T, H, W, C) array.

    `indices` selects frames (e.g. a VideoPlan's frame_indices); None keeps them all."""
    if isinstance(video, (str, os.PathLike)):
        if indices is None:
            indices = range(read_metadata(video).total_frames)
        return decode_frames(video, indices)
    if type(video).__module__ == "numpy" and getattr(video, "ndim", 0) == 4:
        return _select(_frames_array(video), indices, "<frame array>")
    if isinstance(video, (list, tuple)):
        if not video:
            raise EmptyVideoError("<frames>", "the frame list is empty")
        from .io import load_rgb

        chosen = range(len(video)) if indices is None else list(indices)
        _check_indices(chosen, len(video), f"<{len(video)} frames>")
        cache: dict[int, np.ndarray] = {}
        for i in chosen:
            if i not in cache:
                cache[i] = np.asarray(load_rgb(video[i], rgb=rgb))
        sizes = sorted({a.shape[:2] for a in cache.values()})
        if len(sizes) > 1:
            raise InvalidOptionError(
                f"<{len(video)} frames>: the frames have different sizes ({', '.join(f'{h}x{w}' for h, w in sizes)}); "
                "resize them to one size first"
            )
        return np.stack([cache[i] for i in chosen])
    raise UnsupportedInputError(
        "video", video, "a path, a list of frame images, or a (T, H, W, 3) uint8 array")


def _frames_array(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise UnsupportedInputError("video array", array, "a uint8 array (T, H, W, 3)")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != 3:
        raise UnsupportedInputError(
            f"video array of shape {tuple(array.shape)}", array, "a channels-last RGB array (T, H, W, 3)")
    if 0 in array.shape:
        raise EmptyVideoError("<frame array>", f"the array has shape {tuple(array.shape)}")
    return array


def _check_indices(indices, total: int, source: str) -> None:
    bad = [i for i in indices if not 0 <= i < total]
    if bad:
        raise InvalidOptionError(f"{source}: frame index {bad[0]} is outside 0..{total - 1}")


def _select(array: np.ndarray, indices, source: str) -> np.ndarray:
    if indices is None:
        return array
    indices = list(indices)
    _check_indices(indices, len(array), source)
    return array[indices]
