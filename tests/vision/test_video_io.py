"""Video files: metadata and decoded frames agree with transformers' PyAV reader, and whole plans
with qwen-vl-utils' fetch_video reading the same files.

Every video is encoded here with PyAV (tiny frames, so encoding takes milliseconds): frame rates
23.976 to 60, 0.5 s to 20 s, odd sizes and odd frame counts, H.264 / MPEG-4 / MJPEG / VP9 in MP4,
AVI, Matroska and WebM. Each frame has its own colour pattern, so a frame taken from the wrong
position does not compare equal.
"""

from __future__ import annotations

import sys
import types
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from mmtok.errors import (  # noqa: E402
    EmptyVideoError,
    InvalidOptionError,
    MmtokError,
    NotAVideoError,
    TruncatedVideoError,
    VideoNotFoundError,
)
from mmtok.vision.video_plan import plan_video  # noqa: E402
from mmtok.vision.video_io import decode_frames, load_video, read_metadata  # noqa: E402
from reference_functions import qwen_vl_utils_namespace  # noqa: E402

# (name, frames, rate, height, width, codec, pixel format, container extension)
VIDEOS = [
    ("ntsc_film", 12, Fraction(24000, 1001), 32, 48, "libx264", "yuv420p", "mp4"),  # 0.5 s
    ("pal_odd", 25, Fraction(25), 33, 47, "libx264", "yuv444p", "mp4"),  # odd size
    ("ntsc", 91, Fraction(30000, 1001), 36, 64, "libx264", "yuv420p", "mp4"),  # odd count, ~3 s
    ("thirty_long", 600, Fraction(30), 16, 16, "libx264", "yuv420p", "mp4"),  # 20 s
    ("sixty", 301, Fraction(60), 18, 30, "libx264", "yuv420p", "mp4"),  # ~5 s, odd count
    ("sixty_long", 1200, Fraction(60), 8, 14, "libx264", "yuv420p", "mp4"),  # 20 s
    ("avi_odd", 37, Fraction(24), 31, 45, "mpeg4", "yuv420p", "avi"),
    ("mjpeg_mkv", 30, Fraction(30000, 1001), 32, 48, "mjpeg", "yuvj420p", "mkv"),  # no frame count in the header
    ("vp9_webm", 20, Fraction(24), 32, 48, "libvpx-vp9", "yuv420p", "webm"),
    ("tall", 50, Fraction(25), 96, 20, "libx264", "yuv420p", "mp4"),
]


def pattern(i: int, height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x * 9 + i * 5) % 256, (y * 13 + i * 11) % 256, np.full_like(x, (i * 37) % 256)], axis=-1)
    return frame.astype(np.uint8)


def encode(path, frames, rate, height, width, codec, pix_fmt, **container_options):
    with av.open(str(path), "w", options=container_options) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "bf": "2"}  # B-frames: decode order differs from display order
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pattern(i, height, width), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    out = {}
    for name, frames, rate, h, w, codec, pix_fmt, ext in VIDEOS:
        path = root / f"{name}.{ext}"
        encode(path, frames, rate, h, w, codec, pix_fmt)
        out[name] = (path, frames, rate, h, w)
    return out


def reference_read(path, indices):
    """transformers' read_video_pyav with the given indices: (frames, metadata)."""
    from transformers.video_utils import read_video_pyav

    return read_video_pyav(str(path), lambda metadata, **kwargs: np.asarray(indices))


def test_metadata_matches_transformers_reader(videos):
    from transformers.video_utils import read_video_pyav

    for name, (path, frames, rate, h, w) in videos.items():
        meta = read_metadata(path)
        assert (meta.total_frames, meta.height, meta.width) == (frames, h, w), name
        assert meta.fps == float(rate) and meta.source == str(path)
        _, ref = read_video_pyav(str(path), lambda metadata, **kwargs: np.arange(1))
        if ref.total_num_frames == 0:
            # Matroska/WebM headers carry no frame count: transformers reads 0 frames, mmtok estimates
            assert name in ("mjpeg_mkv", "vp9_webm")
            continue
        assert meta.total_frames == ref.total_num_frames and meta.fps == ref.fps, name
        assert (meta.height, meta.width) == (ref.height, ref.width) and meta.duration == ref.duration, name


def test_decoded_frames_match_transformers_reader_bit_for_bit(videos):
    rng = np.random.default_rng(0)
    for name, (path, frames, rate, h, w) in videos.items():
        if name in ("mjpeg_mkv", "vp9_webm"):
            continue  # the reference reads no frame count there, so it samples nothing
        for indices in (
            [0],
            list(range(min(frames, 150))),
            sorted(rng.choice(frames, size=min(frames, 9), replace=False).tolist()),
            [frames - 1],
        ):
            ref, _ = reference_read(path, indices)
            got = decode_frames(path, indices)
            assert got.dtype == np.uint8 and got.shape == (len(indices), h, w, 3)
            assert np.array_equal(got, ref), (name, indices)


def test_decoded_frames_are_the_encoded_ones(videos):
    """Lossless check of order and count: the intra-only MJPEG frames are near the encoded patterns."""
    path, frames, *_ = videos["mjpeg_mkv"]
    got = decode_frames(path, [29, 0, 29, 7])  # any order, repeats allowed
    for row, i in zip(got, [29, 0, 29, 7]):
        error = np.abs(row.astype(int) - pattern(i, 32, 48).astype(int)).mean()
        others = [np.abs(row.astype(int) - pattern(j, 32, 48).astype(int)).mean() for j in range(frames) if j != i]
        assert error < min(others)


@pytest.fixture(scope="module")
def qvu_pyav():
    """qwen-vl-utils' fetch_video reading through a decord stand-in built on transformers' PyAV reader.

    torchvision's resize is replaced by one that reports the size asked for (pixels are compared
    before resizing, against transformers' reader)."""
    from transformers.video_utils import read_video_pyav

    class Reader:
        def __init__(self, path):
            self.path = path
            _, self.meta = read_video_pyav(path, lambda metadata, **kwargs: np.arange(1))

        def __len__(self):
            return self.meta.total_num_frames

        def get_avg_fps(self):
            return self.meta.fps

        def get_batch(self, idx):
            frames, _ = read_video_pyav(self.path, lambda metadata, **kwargs: np.asarray(idx))
            return types.SimpleNamespace(asnumpy=lambda: frames)

    def resize(video, size, interpolation=None, antialias=None):
        return types.SimpleNamespace(float=lambda: types.SimpleNamespace(shape=tuple(video.shape[:2]) + tuple(size)))

    fake = types.ModuleType("decord")
    fake.VideoReader = Reader
    saved = sys.modules.get("decord")
    sys.modules["decord"] = fake
    ns = qwen_vl_utils_namespace(transforms=types.SimpleNamespace(functional=types.SimpleNamespace(resize=resize)),
                                 InterpolationMode=types.SimpleNamespace(BICUBIC="bicubic"))
    ns["FORCE_QWENVL_VIDEO_READER"] = "decord"
    yield ns
    if saved is None:
        sys.modules.pop("decord", None)
    else:
        sys.modules["decord"] = saved


@pytest.mark.parametrize("options", [{}, {"fps": 4}, {"nframes": 6}, {"video_start": 0.2, "video_end": 0.9},
                                     {"min_frames": 2, "max_frames": 8}])
def test_plans_of_files_match_fetch_video(videos, qvu_pyav, options):
    for name, (path, frames, rate, h, w) in videos.items():
        if name in ("mjpeg_mkv", "vp9_webm"):
            continue
        for model_style, patch in (("qwen2-vl", 14), ("qwen3-vl", 16)):
            try:
                (video, metadata), sample_fps = qvu_pyav["fetch_video"](
                    {"video": str(path), **options}, image_patch_size=patch, return_video_sample_fps=True,
                    return_video_metadata=True)
            except ValueError:
                with pytest.raises(MmtokError):
                    plan_video(path, model_style=model_style, **options)
                continue
            plan = plan_video(path, model_style=model_style, **options)
            assert list(plan.frame_indices) == metadata["frames_indices"], (name, options)
            assert plan.resized == video.shape[2:] and plan.sample_fps == sample_fps, (name, options)
            # the frames behind the plan, decoded by mmtok, are the ones transformers' reader gives
            ref, _ = reference_read(path, plan.frame_indices)
            assert np.array_equal(load_video(path, plan.frame_indices), ref)


def test_transformers_mode_on_files(videos):
    """processor(videos=path, fps=2): transformers decodes with read_video_pyav, sampling with the
    processor's own sample_frames on the metadata that reader reports."""
    from functools import partial

    from transformers.video_utils import read_video_pyav

    from reference_functions import transformers_video_processor

    processors = {"qwen2-vl": transformers_video_processor("qwen2"), "qwen3-vl": transformers_video_processor("qwen3")}
    compared = 0
    for name, (path, frames, rate, h, w) in videos.items():
        for model_style, processor in processors.items():
            kwargs = {"temporal_patch_size": 2, "min_frames": 4, "max_frames": 768} if model_style == "qwen2-vl" else {}
            try:
                ref_frames, ref_meta = read_video_pyav(str(path), partial(processor.sample_frames, fps=2, **kwargs))
            except (ValueError, ZeroDivisionError, IndexError):
                assert name in ("mjpeg_mkv", "vp9_webm")  # 0 frames read: the reference fails
                continue
            plan = plan_video(path, model_style=model_style, sampling="transformers", fps=2)
            assert list(plan.frame_indices) == np.asarray(ref_meta.frames_indices).tolist(), (name, model_style)
            assert np.array_equal(load_video(path, plan.frame_indices), ref_frames), (name, model_style)
            compared += 1
    assert compared == 16


def test_frame_lists_and_arrays_load_like_files(videos, tmp_path):
    path, frames, rate, h, w = videos["pal_odd"]
    array = decode_frames(path, range(frames))
    assert np.array_equal(load_video(array), array)
    assert np.array_equal(load_video(array, [3, 1, 3]), array[[3, 1, 3]])
    from PIL import Image

    files = []
    for i in range(5):
        files.append(tmp_path / f"frame{i}.png")
        Image.fromarray(array[i]).save(files[-1])
    assert np.array_equal(load_video(files), array[:5])
    assert np.array_equal(load_video([Image.fromarray(a) for a in array[:5]], [4, 0]), array[[4, 0]])
    plan = plan_video(files, model_style="qwen2-vl")  # sizes from the PNG headers: 5 frames, padded to 6
    assert plan.frame_indices == (0, 1, 2, 3, 4, 4)
    assert load_video(files, plan.frame_indices).shape == (6, h, w, 3)


# --- bad input ---------------------------------------------------------------------------------------------


def test_bad_files_raise_typed_errors(videos, tmp_path):
    with pytest.raises(VideoNotFoundError, match="no such file") as info:
        read_metadata(tmp_path / "missing.mp4")
    assert isinstance(info.value, FileNotFoundError)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    with pytest.raises(NotAVideoError, match="not a readable video"):
        read_metadata(text)
    with pytest.raises(NotAVideoError, match="directory"):
        read_metadata(tmp_path)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(NotAVideoError):
        read_metadata(empty)
    with pytest.raises(NotAVideoError):
        plan_video(text)

    # a video stream with no frames
    zero = tmp_path / "zero.avi"
    with av.open(str(zero), "w") as out:
        stream = out.add_stream("mpeg4", rate=24)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        out.start_encoding()
    with pytest.raises(EmptyVideoError, match="no frames"):
        read_metadata(zero)

    # audio only
    sound = tmp_path / "sound.wav"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(NotAVideoError, match="no video stream"):
        read_metadata(sound)


def test_truncated_files_raise_typed_errors(videos, tmp_path):
    # MP4 with its index first ("faststart"): the header keeps its frame count, the frames after the cut are gone
    path = tmp_path / "faststart.mp4"
    encode(path, 48, Fraction(24), 32, 32, "libx264", "yuv420p", movflags="+faststart")
    cut = tmp_path / "cut_faststart.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert read_metadata(cut).total_frames == 48
    with pytest.raises(TruncatedVideoError, match="is truncated"):
        decode_frames(cut, [47])
    assert decode_frames(cut, [0, 1]).shape[0] == 2  # frames before the cut still decode
    with pytest.raises(TruncatedVideoError):
        load_video(cut)
    # MP4 with its index (moov) at the end: nothing can be read
    path, *_ = videos["ntsc"]
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(NotAVideoError, match="FFmpeg"):
        read_metadata(cut)


def test_bad_indices_and_arrays():
    array = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(InvalidOptionError, match="outside"):
        load_video(array, [4])
    with pytest.raises(MmtokError, match="uint8"):
        load_video(array.astype(np.float32))
    with pytest.raises(EmptyVideoError):
        load_video([])
    with pytest.raises(EmptyVideoError):
        plan_video([])
    with pytest.raises(InvalidOptionError, match="different sizes"):
        plan_video([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)], sampling="transformers")
