"""Video plans from metadata alone agree with the references run in this process.

* qwen-vl-utils 0.0.14: its own `fetch_video` -> `_read_video_decord` -> `calculate_video_frame_range`,
  `smart_nframes`, `torch.linspace(...).round()`, per-frame budget and `smart_resize`, with decord
  replaced by a stand-in that only knows a frame count, a frame rate and a size (frames are shapes,
  not pixels), and torchvision's resize by one that reports the size it is asked for.
* transformers 5.23: `Qwen2VLVideoProcessor` / `Qwen3VLVideoProcessor` `sample_frames`, `resize` and
  `get_num_of_video_patches`, run from their source (tests/reference_functions.py).
"""

from __future__ import annotations

import math
import sys
import types
from fractions import Fraction

import numpy as np
import pytest
import torch

from mmtok.errors import InvalidOptionError, MmtokError, UnknownNameError, VideoSamplingError
from mmtok.vision import geometry
from mmtok.vision.video import VideoMetadata, sample_frames, torch_arange_int, torch_linspace_round
from mmtok.vision.video_plan import plan_video
from reference_functions import qwen_vl_utils_namespace, transformers_video_processor

FPS_VALUES = [float(Fraction(24000, 1001)), 24.0, 25.0, float(Fraction(30000, 1001)), 30.0, 50.0, 60.0, 120.0, 1.0, 7.5, 0.5]
SIMD = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


# --- stand-ins for what torchvision and decord would do ---------------------------------------------------


class ShapeOnly:
    """A video known only by its shape: the sampling and sizing code never looks at pixels."""

    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)

    def permute(self, *dims):
        return ShapeOnly(self.shape[d] for d in dims)

    def float(self):
        return self


class TorchShapes:
    """torch for the reference, except that `torch.tensor(frames)` keeps only their shape."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def tensor(array):
        return ShapeOnly(array.shape)


def _resize(video, size, interpolation=None, antialias=None):
    if min(size) <= 0:
        raise ValueError(f"torchvision resize to {size}")  # what torchvision does with a zero side
    return ShapeOnly(tuple(video.shape[:2]) + tuple(size))


VIDEOS: dict[str, VideoMetadata] = {}


class FakeDecordReader:
    """decord.VideoReader for a registered VideoMetadata: len, average fps, batches of blank frames."""

    def __init__(self, key):
        self.meta = VIDEOS[key]

    def __len__(self):
        return self.meta.total_frames

    def get_avg_fps(self):
        return self.meta.fps

    def get_batch(self, idx):
        shape = (len(idx), self.meta.height, self.meta.width, 3)
        return types.SimpleNamespace(asnumpy=lambda: np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), shape))


@pytest.fixture(scope="module")
def qvu():
    """qwen-vl-utils' vision_process namespace, reading videos through the decord stand-in."""
    fake = types.ModuleType("decord")
    fake.VideoReader = FakeDecordReader
    saved = sys.modules.get("decord")
    sys.modules["decord"] = fake
    ns = qwen_vl_utils_namespace(
        torch=TorchShapes(),
        transforms=types.SimpleNamespace(functional=types.SimpleNamespace(resize=_resize)),
        InterpolationMode=types.SimpleNamespace(BICUBIC="bicubic"),
    )
    ns["FORCE_QWENVL_VIDEO_READER"] = "decord"

    def no_fallback(ele):
        raise  # fetch_video falls back to torchvision on any reader error: re-raise that error instead

    ns["VIDEO_READER_BACKENDS"]["torchvision"] = no_fallback
    yield ns
    if saved is None:
        sys.modules.pop("decord", None)
    else:
        sys.modules["decord"] = saved


def reference_qvu(ns, meta, options, patch_size):
    """(indices, sample_fps, resized) from qwen-vl-utils' fetch_video, or "error"."""
    key = f"video-{len(VIDEOS)}"
    VIDEOS[key] = meta
    try:
        (video, metadata), sample_fps = ns["fetch_video"](
            {"video": key, **options}, image_patch_size=patch_size, return_video_sample_fps=True, return_video_metadata=True
        )
    except (ValueError, AssertionError, ZeroDivisionError):
        return "error"
    return list(metadata["frames_indices"]), sample_fps, tuple(video.shape[2:])


def mmtok_plan(meta, **kwargs):
    try:
        plan = plan_video(meta, **kwargs)
    except MmtokError:
        return "error"
    return plan


# --- torch's index arithmetic -----------------------------------------------------------------------------


@pytest.mark.skipif(not SIMD, reason="mmtok reproduces torch's AVX2/AVX-512 linspace kernel")
def test_torch_linspace_round_is_bit_exact():
    rng = np.random.default_rng(0)
    cases = 0
    for _ in range(6000):
        steps = int(rng.integers(1, 800))
        start = int(rng.integers(0, 3000)) if rng.random() < 0.5 else 0
        end = start + max(steps - 1, 0) + int(rng.integers(0, rng.choice([2000, 30000, 300000])))
        assert torch_linspace_round(start, end, steps) == torch.linspace(start, end, steps).round().long().tolist()
        cases += 1
    # a float64 linspace is not enough: count the (start, end, n) where it differs from torch
    differ = sum(
        np.linspace(0, t - 1, n).round().astype(int).tolist() != torch.linspace(0, t - 1, n).round().long().tolist()
        for t in range(2, 1500, 7)
        for n in range(2, min(t, 768) + 1, 5)
    )
    assert differ > 0


def test_torch_arange_int_is_bit_exact():
    rng = np.random.default_rng(1)
    longer = 0
    for _ in range(6000):
        n = int(rng.integers(1, 769))
        total = int(rng.integers(n, rng.choice([2000, 20000, 200000])))
        ref = torch.arange(0, total, total / n).int().tolist()
        assert torch_arange_int(total, n) == ref, (total, n)
        longer += len(ref) == n + 1
    assert longer > 0  # transformers' Qwen2-VL sampler then uses one frame more than asked


# --- qwen-vl-utils mode --------------------------------------------------------------------------------------

QVU_SAMPLING_OPTIONS = [
    {},
    {"fps": 0.5},
    {"fps": 1},
    {"fps": 3.7},
    {"fps": 4},
    {"fps": 30},
    {"nframes": 1},
    {"nframes": 2},
    {"nframes": 3},
    {"nframes": 5},
    {"nframes": 8},
    {"nframes": 33},
    {"nframes": 768},
    {"min_frames": 8, "max_frames": 64},
    {"min_frames": 3, "max_frames": 9},
    {"max_frames": 2000},
    {"fps": 4, "max_frames": 31},
    {"video_start": 1.0},
    {"video_end": 2.5},
    {"video_start": 0.3, "video_end": 4.04},
    {"video_start": 3.0, "video_end": 1.0},
    {"video_start": 5.0, "video_end": 1e9, "fps": 1},
    {"video_start": -2.0, "video_end": 0.9, "nframes": 4},
]
QVU_BUDGET_OPTIONS = [
    {},
    {},
    {"min_pixels": 48 * 28 * 28},
    {"max_pixels": 256 * 28 * 28},
    {"total_pixels": 24576 * 28 * 28},
    {"total_pixels": 20000},
    {"min_pixels": 16 * 32 * 32, "max_pixels": 64 * 32 * 32},
    {"resized_height": 300, "resized_width": 500},
]
SIZES = [(1080, 1920), (1920, 1080), (720, 1280), (480, 640), (33, 47), (17, 3000), (3, 500), (360, 361), (1, 1),
         (2160, 3840), (29, 29), (100, 20000), (14, 5000)]


def _qvu_cases(n):
    rng = np.random.default_rng(2)
    totals = list(range(1, 40)) + [int(x) for x in np.exp(rng.uniform(np.log(40), np.log(60000), 200))]
    for i in range(n):
        total = totals[i % len(totals)]
        fps = FPS_VALUES[int(rng.integers(len(FPS_VALUES)))]
        h, w = SIZES[int(rng.integers(len(SIZES)))]
        options = {**QVU_SAMPLING_OPTIONS[int(rng.integers(len(QVU_SAMPLING_OPTIONS)))],
                   **QVU_BUDGET_OPTIONS[int(rng.integers(len(QVU_BUDGET_OPTIONS)))]}
        yield VideoMetadata(total, fps, total / fps, h, w, source="clip.mp4"), options


@pytest.mark.skipif(not SIMD, reason="mmtok reproduces torch's AVX2/AVX-512 linspace kernel")
@pytest.mark.parametrize("model_style, patch_size", [("qwen2.5-vl", 14), ("qwen3-vl", 16)])
def test_qwen_vl_utils_mode_matches_fetch_video(qvu, model_style, patch_size):
    outcomes = {"plans": 0, "errors": 0}
    for meta, options in _qvu_cases(2500):
        ref = reference_qvu(qvu, meta, options, patch_size)
        plan = mmtok_plan(meta, model_style=model_style, sampling="qwen-vl-utils", **options)
        if ref == "error":
            assert plan == "error", (meta, options, plan)
            outcomes["errors"] += 1
            continue
        assert plan != "error", (meta, options, ref)
        indices, sample_fps, resized = ref
        assert list(plan.frame_indices) == indices, (meta, options)
        assert plan.sample_fps == sample_fps and plan.resized == resized, (meta, options)
        f = 2 * patch_size
        assert plan.grid_thw == (len(indices) // 2, resized[0] // patch_size, resized[1] // patch_size)
        assert plan.tokens == len(indices) // 2 * (resized[0] // f) * (resized[1] // f)
        outcomes["plans"] += 1
    assert outcomes["plans"] > 1500 and outcomes["errors"] > 100, outcomes


def test_qwen_vl_utils_model_seq_len(qvu):
    meta = VideoMetadata(36000, 30.0, 1200.0, 1080, 1920)
    for seq_len in (8192, 32768, 128000, 256000):
        qvu["MODEL_SEQ_LEN"] = seq_len  # the reference reads it from the environment at import
        try:
            _, _, resized = reference_qvu(qvu, meta, {}, 14)
        finally:
            qvu["MODEL_SEQ_LEN"] = 128000
        assert plan_video(meta, model_style="qwen2-vl", model_seq_len=seq_len).resized == resized


def test_qwen_vl_utils_smart_resize_matches_reference(qvu):
    ref = qvu["smart_resize"]
    rng = np.random.default_rng(3)
    sizes = [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(8000), (3000, 2))).astype(int) + 1]
    sizes += [(10, 2000), (2000, 10), (13, 28), (1, 100)]
    checked = 0
    for h, w in sizes:
        if max(h, w) / min(h, w) > 200:
            continue
        for factor, lo, hi in ((28, 3136, 602112), (32, 4096, 786432.5), (28, 100352, 100352 * 1.05)):
            expected = ref(h, w, factor=factor, min_pixels=lo, max_pixels=hi)
            if 0 in expected:  # qwen-vl-utils has no floor clamp; mmtok refuses the zero side
                with pytest.raises(InvalidOptionError, match="zero side"):
                    geometry.smart_resize_qwen_vl_utils(h, w, factor=factor, min_pixels=lo, max_pixels=hi)
            else:
                assert geometry.smart_resize_qwen_vl_utils(h, w, factor=factor, min_pixels=lo, max_pixels=hi) == expected
            checked += 1
    assert checked > 7000
    # where it differs from transformers' smart_resize (the first rounding is clamped to the factor)
    assert ref(10, 2000, factor=28, min_pixels=3136, max_pixels=12845056) == (28, 1988)
    assert geometry.smart_resize(10, 2000, factor=28, min_pixels=3136, max_pixels=12845056) == (28, 812)


def _frames(n, size, mode="RGB"):
    from PIL import Image

    h, w = size
    rng = np.random.default_rng(n)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode) for _ in range(n)]


@pytest.mark.parametrize("fix", [False, True])
def test_qwen_vl_utils_frame_lists_match_fetch_video(fix):
    """A list of frames: used whole, padded to even; the 0.0.14 wheel's fetch_image factor bug by default."""
    ns = qwen_vl_utils_namespace(
        transforms=types.SimpleNamespace(functional=types.SimpleNamespace(resize=_resize)),
        InterpolationMode=types.SimpleNamespace(BICUBIC="bicubic"),
    )
    if fix:  # the git fix passes image_patch_size, not image_factor, to fetch_image
        original = ns["fetch_image"]
        ns["fetch_image"] = lambda ele, factor: original(ele, factor // 2)
    cases = 0
    for n, size, options in [
        (1, (64, 96), {}),
        (3, (64, 96), {}),
        (4, (120, 90), {"sample_fps": 1.5}),
        (5, (33, 47), {}),
        (7, (200, 300), {"min_pixels": 16 * 28 * 28, "max_pixels": 100 * 28 * 28}),
        (2, (50, 700), {"total_pixels": 4000}),
        (6, (300, 200), {"resized_height": 100, "resized_width": 150}),
        (9, (500, 400), {"max_pixels": 64 * 28 * 28}),
    ]:
        for model_style, patch in (("qwen2-vl", 14), ("qwen3-vl", 16)):
            frames = _frames(n, size)
            try:
                video, sample_fps = ns["fetch_video"]({"video": frames, **options}, image_patch_size=patch,
                                                      return_video_sample_fps=True)
            except (ValueError, AssertionError):
                with pytest.raises(MmtokError):
                    plan_video(frames, model_style=model_style, fix_frame_list_factor=fix, **options)
                cases += 1
                continue
            plan = plan_video(frames, model_style=model_style, sampling="qwen-vl-utils", fix_frame_list_factor=fix,
                              **options)
            assert plan.frames == video.shape[0] == n + n % 2
            assert plan.frame_indices == tuple(range(n)) + ((n - 1,) if n % 2 else ())
            assert plan.resized == tuple(video.shape[2:]) and plan.sample_fps == sample_fps, (n, size, options)
            # also from the sizes only, and from arrays
            arrays = [np.asarray(f) for f in frames]
            assert plan_video(arrays, model_style=model_style, fix_frame_list_factor=fix, **options).resized == plan.resized
            cases += 1
    assert cases == 16


# --- transformers mode --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf_processors():
    return {kind: transformers_video_processor(kind) for kind in ("qwen2", "qwen3")}


def _hf_meta(meta):
    from transformers.video_utils import VideoMetadata as HFMetadata

    return HFMetadata(total_num_frames=meta.total_frames, fps=meta.fps)


def _reference_hf_indices(processor, kind, meta, options):
    """What processor(videos=..., **options) samples; mirrors BaseVideoProcessor.preprocess's call."""
    fps, nframes = options.get("fps"), options.get("nframes")
    do_sample = options.get("do_sample_frames")
    if kind == "qwen2":
        if do_sample is None:  # apply_chat_template turns sampling on when fps or num_frames is given
            do_sample = fps is not None or nframes is not None
        if not do_sample:
            return list(range(meta.total_frames))
        kwargs = dict(temporal_patch_size=2, min_frames=options.get("min_frames", processor.min_frames),
                      max_frames=options.get("max_frames", processor.max_frames))
        return processor.sample_frames(_hf_meta(meta), num_frames=nframes, fps=fps, **kwargs).tolist()
    if do_sample is False:
        return list(range(meta.total_frames))
    # Qwen3VLVideoProcessor.sample_frames reads min/max_frames from the processor, not the call
    processor.min_frames = options.get("min_frames", 4)
    processor.max_frames = options.get("max_frames", 768)
    hf_fps = processor.fps if fps is None else fps
    indices = processor.sample_frames(_hf_meta(meta), num_frames=nframes, fps=None if nframes is not None else hf_fps)
    return indices.tolist()


HF_SAMPLING_OPTIONS = [
    {},
    {"fps": 1},
    {"fps": 2},
    {"fps": 3.7},
    {"fps": 0.25},
    {"nframes": 2},
    {"nframes": 3},
    {"nframes": 8},
    {"nframes": 31},
    {"nframes": 600},
    {"fps": 2, "min_frames": 16, "max_frames": 64},
    {"fps": 5, "max_frames": 33},
    {"do_sample_frames": False},
    {"do_sample_frames": True},
]


@pytest.mark.parametrize("model_style, kind", [("qwen2-vl", "qwen2"), ("qwen3-vl", "qwen3")])
def test_transformers_sampling_matches_sample_frames(hf_processors, model_style, kind):
    processor = hf_processors[kind]
    rng = np.random.default_rng(4)
    totals = list(range(1, 60)) + [int(x) for x in np.exp(rng.uniform(np.log(60), np.log(50000), 300))]
    compared = errors = 0
    for total in totals:
        for options in HF_SAMPLING_OPTIONS:
            fps = FPS_VALUES[int(rng.integers(len(FPS_VALUES)))]
            meta = VideoMetadata(total, fps, total / fps, 360, 640)
            try:
                ref = _reference_hf_indices(processor, kind, meta, options)
            except (ValueError, ZeroDivisionError, TypeError):
                with pytest.raises(MmtokError):
                    sample_frames(meta, sampling="transformers", model_style=model_style, **options)
                errors += 1
                continue
            got = sample_frames(meta, sampling="transformers", model_style=model_style, **options)
            assert got == ref, (total, fps, options)
            compared += 1
    # Qwen3-VL's sampler never refuses (it clamps, or repeats frames); Qwen2-VL's does
    assert compared > 3000 and (errors > 10 if kind == "qwen2" else errors == 0), (compared, errors)


def test_transformers_qwen3_frames_without_fps_assume_24(hf_processors):
    """Frames passed as an array carry no fps: Qwen3-VL's sampler assumes 24 (with a warning)."""
    processor = hf_processors["qwen3"]
    processor.min_frames, processor.max_frames = 4, 768
    from transformers.video_utils import VideoMetadata as HFMetadata

    for n in (1, 2, 5, 24, 47, 240, 1000):
        ref = processor.sample_frames(HFMetadata(total_num_frames=n, fps=None), fps=2).tolist()
        frames = np.zeros((n, 64, 64, 3), np.uint8)
        meta = VideoMetadata(n, None, None, 64, 64)
        assert sample_frames(meta, sampling="transformers", model_style="qwen3-vl") == ref
        if len(ref) >= 2:
            assert plan_video(frames, sampling="transformers", model_style="qwen3-vl").frame_indices == tuple(ref)


class _Videos:
    def __init__(self, frames, height, width):
        self.shape = (1, frames, 3, height, width)


@pytest.mark.parametrize("model_style, kind", [("qwen2.5-vl", "qwen2"), ("qwen3-vl", "qwen3")])
def test_transformers_frame_size_matches_resize(hf_processors, model_style, kind):
    from transformers.image_utils import SizeDict

    processor = hf_processors[kind]
    factor = processor.patch_size * processor.merge_size
    limit_sets = [
        {"min_pixels": processor.size["shortest_edge"], "max_pixels": processor.size["longest_edge"]},  # class default
        {"min_pixels": 3136, "max_pixels": 12845056} if kind == "qwen2" else {"min_pixels": 4096, "max_pixels": 25165824},
        {"min_pixels": 256 * factor * factor * 2, "max_pixels": 16384 * factor * factor * 2},
    ]
    rng = np.random.default_rng(5)
    sizes = [(int(h), int(w)) for h, w in np.exp(rng.uniform(np.log(8), np.log(5000), (120, 2))).astype(int)]
    sizes += [(1080, 1920), (33, 47), (20, 31), (16, 3000), (5, 700)]
    checked = errors = 0
    for h, w in sizes:
        for frames in (2, 3, 4, 17, 120, 768):
            for limits in limit_sets:
                for cap in (False, True):
                    size = SizeDict(shortest_edge=limits["min_pixels"], longest_edge=limits["max_pixels"])
                    meta = VideoMetadata(frames, 2.0, frames / 2.0, h, w)
                    try:
                        ref = processor.resize(_Videos(frames, h, w), size, None, factor=factor, temporal_factor=2,
                                               cap_pixels_per_frame=cap)
                    except (ValueError, ZeroDivisionError):
                        with pytest.raises(MmtokError):
                            plan_video(meta, model_style=model_style, sampling="transformers", nframes=frames,
                                       cap_pixels_per_frame=cap, **limits)
                        errors += 1
                        continue
                    plan = plan_video(meta, model_style=model_style, sampling="transformers", do_sample_frames=False,
                                      cap_pixels_per_frame=cap, **limits)
                    assert plan.resized == ref, (h, w, frames, limits, cap)
                    if not (cap and kind == "qwen2"):  # its get_num_of_video_patches ignores the cap
                        vk = {"size": {"shortest_edge": limits["min_pixels"], "longest_edge": limits["max_pixels"]},
                              "cap_pixels_per_frame": cap}
                        assert plan.patches == processor.get_num_of_video_patches(frames, h, w, vk)
                    assert plan.tokens == plan.patches // 4
                    checked += 1
    assert checked > 3000 and errors > 0, (checked, errors)


# --- the two modes side by side, and worked examples -------------------------------------------------------


def test_modes_disagree_as_documented(qvu, hf_processors):
    """300 frames at 30 fps, 2 fps wanted: the references pick different frames."""
    meta = VideoMetadata(300, 30.0, 10.0, 360, 640)
    qvu_indices = reference_qvu(qvu, meta, {}, 14)[0]
    qwen2 = hf_processors["qwen2"].sample_frames(_hf_meta(meta), fps=2, temporal_patch_size=2, min_frames=4,
                                                  max_frames=768).tolist()
    assert qvu_indices[:3] == [0, 16, 31] and qvu_indices[-1] == 299  # rounded linspace to the last frame
    assert qwen2[:3] == [0, 15, 30] and qwen2[-1] == 285  # floor-spaced from 0
    assert sample_frames(meta) == qvu_indices
    assert sample_frames(meta, sampling="transformers", fps=2) == qwen2
    # Qwen3-VL: int() instead of floor-to-even, so odd counts survive (padded by the last frame)
    meta = VideoMetadata(105, 30.0, 3.5, 360, 640)
    plan = plan_video(meta, model_style="qwen3-vl", sampling="transformers")
    assert plan.frames == 7 and plan.grid_thw[0] == 4
    assert plan_video(meta, model_style="qwen3-vl").frames == 6


def test_worked_examples_from_research():
    """qwen.md §8: a 1920x1080, 30 fps video at the default 2 fps (figures computed with the references)."""
    minute = VideoMetadata(1800, 30.0, 60.0, 1080, 1920)
    ten = VideoMetadata(18000, 30.0, 600.0, 1080, 1920)
    a = plan_video(minute, model_style="qwen2.5-vl")
    assert (a.frames, a.resized, a.tokens) == (120, (560, 1008), 43200)
    b = plan_video(ten, model_style="qwen2.5-vl")
    assert (b.frames, b.resized, b.tokens) == (768, (336, 644), 105984)
    b2 = plan_video(ten, model_style="qwen2.5-vl", total_pixels=24576 * 28 * 28)
    assert (b2.resized, b2.tokens) == ((224, 420), 46080)
    c = plan_video(minute, model_style="qwen3-vl")
    assert (c.frames, c.resized, c.tokens) == (120, (640, 1152), 43200)
    d = plan_video(minute, model_style="qwen3-vl", sampling="transformers")
    assert (d.frames, d.resized, d.tokens) == (120, (320, 608), 11400)
    d2 = plan_video(ten, model_style="qwen3-vl", sampling="transformers")
    assert (d2.frames, d2.resized, d2.tokens) == (768, (128, 224), 10752)


# --- bad options --------------------------------------------------------------------------------------------


def test_bad_options_raise_typed_errors():
    meta = VideoMetadata(300, 30.0, 10.0, 360, 640)
    with pytest.raises(InvalidOptionError, match="mutually exclusive"):
        sample_frames(meta, fps=2, nframes=8)
    with pytest.raises(InvalidOptionError, match="video_start"):
        sample_frames(meta, sampling="transformers", video_start=1.0)
    with pytest.raises(UnknownNameError, match="qwen-vl-utils, transformers"):
        sample_frames(meta, sampling="decord")
    with pytest.raises(UnknownNameError, match="qwen3-vl"):
        plan_video(meta, model_style="qwen9-vl")
    with pytest.raises(InvalidOptionError, match="total_pixels"):
        plan_video(meta, sampling="transformers", total_pixels=1000)
    with pytest.raises(VideoSamplingError, match="empty range"):
        sample_frames(meta, video_start=8.0, video_end=2.0)
    one = VideoMetadata(1, 30.0, 1 / 30, 360, 640)
    for sampling in ("qwen-vl-utils", "transformers"):
        with pytest.raises(MmtokError):  # every reference fails on a one-frame video
            plan_video(one, sampling=sampling, model_style="qwen3-vl")
    with pytest.raises(VideoSamplingError, match="outside"):
        sample_frames(VideoMetadata(1, 30.0, 1 / 30, 360, 640))
    assert math.isclose(plan_video(meta).sample_fps, 2.0)
