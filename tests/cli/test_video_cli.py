"""`mmtok tokenize --video` and `mmtok count` on videos encoded here with PyAV."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

import mmtok
from mmtok.cli.main import main
from mmtok.vision.video_io import read_metadata


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_video") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(63):
            frame = np.full((64, 96, 3), (i * 4) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("model", ["qwen2-vl", "qwen3-vl"])
def test_tokenize_video_json_equals_library(capsys, clip, model):
    assert main(["tokenize", "--model", model, "--video", str(clip), "--prompt", "What happens?", "--fps", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    out = mmtok.get_processor(model, video_options={"fps": 4})(
        [{"role": "user", "content": [{"type": "video", "video": str(clip)}, {"type": "text", "text": "What happens?"}]}],
        add_generation_prompt=True,
    )
    assert data["input_ids"] == out["input_ids"][0].tolist()
    assert data["videos"] == [out.video_plans[0].to_dict()]
    # 63 frames at 25 fps = 2.52 s; qwen-vl-utils: round(2.52 * 4) = 10 frames, even
    assert data["videos"][0]["frames"] == 10


def test_count_videos_and_images_from_metadata(capsys, clip, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "clip.mp4").write_bytes(clip.read_bytes())
    (tmp_path / "a" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really")
    code = main(["count", "--json", "--sampling", "transformers", "--fps", "2", str(tmp_path)])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 1
    bad = [r for r in rows if "error" in r]
    good = [r for r in rows if "error" not in r]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.mp4")
    plan = mmtok.get_processor("qwen2-vl", sampling="transformers", video_options={"fps": 2}).family.plan_video(read_metadata(clip))
    assert good[0]["tokens"] == plan.tokens and good[0]["frame_indices"] == list(plan.frame_indices)
    assert "1 videos" in captured.err and "1 failed" in captured.err
