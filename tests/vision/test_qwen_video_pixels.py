"""Video pixels and layouts for the Qwen families, against the references' own code.

transformers' video processors and qwen-vl-utils import torchvision, which cannot be installed here, so
their pixel paths run from their installed source (tests/reference_functions.py) over torch, with
torchvision's resize/normalize written from its source; frames are decoded by transformers' PyAV reader.
Test videos are encoded here with PyAV.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch

import mmtok
from conftest import QWEN_MODELS
from reference_functions import torchvision_functional, transformers_video_pixels

# (name, frames, fps, height, width)
VIDEOS = [("short", 9, Fraction(10), 60, 90), ("odd", 23, Fraction(24), 50, 78), ("tall", 40, Fraction(25), 120, 40)]
SPEC = {  # patch, mean, std: the checkpoints' video settings
    "qwen2-vl": (14, [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]),
    "qwen3-vl": (16, [0.5] * 3, [0.5] * 3),
}


def frame_pattern(i, h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 7 + i * 9) % 256, (y * 5 + x * 3 + i * 13) % 256, (x * y + i * 31) % 256], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("qwen_videos")
    out = []
    for name, n, rate, h, w in VIDEOS:
        path = root / f"{name}.mp4"
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for i in range(n):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pattern(i, h, w), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        out.append(path)
    return out


def reference_frames(path, indices):
    from transformers.video_utils import read_video_pyav

    frames, _ = read_video_pyav(str(path), lambda metadata, **kwargs: np.asarray(indices))
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()  # (T, C, H, W) uint8


def reference_pixels(model, frames, *, do_resize, limits):
    from transformers.image_utils import SizeDict

    kind = "qwen3" if model == "qwen3-vl" else "qwen2"
    patch, mean, std = SPEC["qwen3-vl" if kind == "qwen3" else "qwen2-vl"]
    out = transformers_video_pixels(kind)._preprocess(
        videos=[frames], do_resize=do_resize, size=SizeDict(shortest_edge=limits[0], longest_edge=limits[1]),
        resample=3, do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=tuple(mean), image_std=tuple(std),
        patch_size=patch, temporal_patch_size=2, merge_size=2, cap_pixels_per_frame=False, return_tensors=None,
    )
    return out["pixel_values_videos"].numpy(), out["video_grid_thw"].numpy()


def message(video):
    return [{"role": "user", "content": [{"type": "video", "video": video}, {"type": "text", "text": "What happens?"}]}]


@pytest.mark.parametrize("model", QWEN_MODELS)
def test_transformers_mode_pixels_equal_video_processor(videos, model):
    # the video limits a checkpoint's processor loads (Qwen2/2.5: the image limits, no video config)
    limits = (4096, 25165824) if model == "qwen3-vl" else (3136, 12845056)
    proc = mmtok.get_processor(model, sampling="transformers", video_options={"fps": 4})
    for path in videos:
        out = proc(message(str(path)))
        plan = out.video_plans[0]
        ref_values, ref_grid = reference_pixels(model, reference_frames(path, plan.frame_indices), do_resize=True, limits=limits)
        assert out["pixel_values_videos"].dtype == np.float32
        assert np.array_equal(out["pixel_values_videos"].view(np.uint32), ref_values.view(np.uint32)), path.name
        np.testing.assert_array_equal(out["video_grid_thw"], ref_grid)
        assert int((out["mm_token_type_ids"] == 2).sum()) == plan.tokens


@pytest.mark.parametrize("model", ["qwen2.5-vl", "qwen3-vl"])
def test_qwen_vl_utils_mode_pixels(videos, model):
    """qwen-vl-utils' fetch_video resizes the frames (torchvision v1, float32 kernel); the processor then
    runs with do_resize=False, as Qwen's README calls it."""
    tvF = torchvision_functional()
    proc = mmtok.get_processor(model, video_options={"fps": 4})
    for path in videos:
        out = proc(message(str(path)))
        plan = out.video_plans[0]
        frames = tvF.resize_v1(reference_frames(path, plan.frame_indices), plan.resized)
        ref_values, ref_grid = reference_pixels(model, frames, do_resize=False, limits=(1, 1))
        assert np.array_equal(out["pixel_values_videos"].view(np.uint32), ref_values.view(np.uint32)), path.name
        np.testing.assert_array_equal(out["video_grid_thw"], ref_grid)
        if model == "qwen2.5-vl":
            np.testing.assert_allclose(out["second_per_grid_ts"], [2 / plan.sample_fps])


def test_qwen3_timestamps_and_layouts(videos, ref_processors):
    """Qwen3VLProcessor's own replace_video_token and text replacement write the 5.23 layout."""
    from transformers.video_utils import VideoMetadata

    path = videos[1]
    reference = ref_processors("qwen3-vl")
    for layout in ("transformers", "qwen"):
        proc = mmtok.get_processor("qwen3-vl", sampling="transformers", video_layout=layout)
        text = proc.apply_chat_template(message(str(path)))
        out = proc(message(str(path)))
        plan = out.video_plans[0]
        meta = plan.metadata
        video_inputs = {
            "video_grid_thw": out["video_grid_thw"],
            "video_metadata": [VideoMetadata(total_num_frames=meta.total_frames, fps=meta.fps, frames_indices=list(plan.frame_indices))],
        }

        class VideoProcessor:  # the two attributes replace_video_token reads, the checkpoint's values
            merge_size, temporal_patch_size = 2, 2

        reference.video_processor = VideoProcessor()
        try:
            replacement = reference.replace_video_token(video_inputs, 0)
            expected = reference.get_text_with_replacements([text], [], [replacement])[0][0]
        finally:
            reference.video_processor = None
        if layout == "qwen":  # transformers 4.57 / vLLM: the template's whole block is replaced
            expected = expected.replace("<|vision_start|><" , "<", 1)
            expected = expected[::-1].replace(">|dne_noisiv|<>|dne_noisiv|<", ">|dne_noisiv|<", 1)[::-1]
        tok = mmtok.get_tokenizer("qwen2")
        assert out["input_ids"][0].tolist() == tok.encode(expected, allowed_special="all"), layout
        assert "seconds>" in expected


def test_sequence_lengths_and_plans_from_metadata(videos):
    proc = mmtok.get_processor("qwen2-vl")
    for path in videos:
        messages = message(str(path))
        assert proc.sequence_lengths(messages) == [proc(messages)["input_ids"].shape[1]]
