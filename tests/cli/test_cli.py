"""The command line, run in-process (and once as the installed console script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok.cli.main import main

SAMPLE = Path(mmtok.__file__).parent / "data" / "sample.jpg"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tokenize_json_matches_library(capsys):
    code, out, err = run(capsys, "tokenize", "--model", "qwen2-vl", "--image", str(SAMPLE), "--prompt", "Describe this image.", "--json")
    assert code == 0
    data = json.loads(out)
    expected = mmtok.get_processor("qwen2-vl")(
        [{"role": "user", "content": [{"type": "image", "image": str(SAMPLE)}, {"type": "text", "text": "Describe this image."}]}],
        add_generation_prompt=True,
    )
    assert data["input_ids"] == expected["input_ids"][0].tolist()
    assert data["num_tokens"] == len(data["input_ids"])
    assert data["images"] == [expected.plans[0].to_dict()]
    assert data["limits"] == {"min_pixels": 3136, "max_pixels": 12845056}
    assert set(data) == {"model", "input_ids", "num_tokens", "images", "limits"}


def test_tokenize_human_and_save(capsys, tmp_path, ref_qwen2vl_processor):
    out_file = tmp_path / "out.npz"
    code, out, err = run(capsys, "tokenize", "--image", str(SAMPLE), "--prompt", "Hi", "--max-pixels", "200704", "--save", str(out_file))
    assert code == 0
    assert "max_pixels 200,704" in out and "<|image_pad|> x " in out and "<|vision_end|>Hi<|im_end|>" in out
    saved = np.load(out_file)
    ref = ref_qwen2vl_processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image", "image": str(SAMPLE)}, {"type": "text", "text": "Hi"}]}],
        add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="np", max_pixels=200704,
    )
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw"):
        np.testing.assert_array_equal(saved[key], ref[key], err_msg=key)


def test_count_folder_with_bad_files(capsys, tmp_path):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    ref = Qwen2VLImageProcessorPil(min_pixels=3136, max_pixels=12845056)
    rng = np.random.default_rng(2)
    (tmp_path / "sub").mkdir()
    sizes = {}
    for i, (h, w) in enumerate([(30, 40), (480, 640), (1080, 1920), (7, 1000)]):
        path = tmp_path / ("sub" if i % 2 else "") / f"img{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        sizes[str(path)] = (h, w)
    (tmp_path / "broken.jpg").write_bytes(SAMPLE.read_bytes()[:100])
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "readme.txt").write_text("ignored: not an image extension")

    code, out, err = run(capsys, "count", "--json", str(tmp_path))
    assert code == 1  # some files failed
    rows = [json.loads(line) for line in out.splitlines()]
    good = {r["path"]: r for r in rows if "error" not in r}
    bad = {Path(r["path"]).name for r in rows if "error" in r}
    assert bad == {"broken.jpg", "notes.png"}
    assert set(good) == set(sizes)
    for path, (h, w) in sizes.items():
        assert good[path]["size"] == [h, w]
        assert good[path]["tokens"] == ref.get_number_of_image_patches(h, w, {}) // 4
    assert f"{len(sizes)} images, {sum(r['tokens'] for r in good.values()):,} tokens" in err

    code, out, err = run(capsys, "count", str(tmp_path / "sub"))
    assert code == 0 and "total: 2 images" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["count", "missing.jpg"], "no such file"),
        (["count", "--model", "nope", "x.jpg"], "unknown model 'nope'; known: "),
        (["tokenize", "--image", "missing.jpg"], "missing.jpg: no such file"),
        (["count", "--min-pixels", "9000", "--max-pixels", "10", str(SAMPLE)], "above max_pixels"),
    ],
)
def test_errors_are_one_line_no_traceback(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code != 0
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_debug_shows_traceback(capsys):
    with pytest.raises(mmtok.errors.ImageNotFoundError):
        main(["--debug", "tokenize", "--image", "missing.jpg"])


def test_console_script_installed():
    exe = shutil.which("mmtok", path=str(Path(sys.executable).parent))
    assert exe, "the mmtok console script is not installed next to this Python"
    result = subprocess.run([exe, "count", "--json", str(SAMPLE)], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout)["size"] == list(Image.open(SAMPLE).size[::-1])
