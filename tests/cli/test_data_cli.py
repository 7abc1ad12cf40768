"""`mmtok data validate`, run in-process, on a small dataset with real images and planted problems."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mmtok.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def swift(images: list[str], prompt: str, answer: str = "A photo.") -> str:
    return json.dumps({"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], "images": images})


@pytest.fixture
def dataset(tmp_path):
    """(path, planted) where planted[i] = (text, reason code or None) of line i + 1."""
    rng = np.random.default_rng(1)
    (tmp_path / "media").mkdir()
    for i, (h, w) in enumerate([(80, 60), (200, 320)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / "media" / f"p{i}.jpg", quality=90)
    data = (tmp_path / "media" / "p1.jpg").read_bytes()
    (tmp_path / "media" / "cut.jpg").write_bytes(data[: len(data) // 3])
    planted = [
        (swift(["media/p0.jpg"], "<image>Describe it."), None),
        (swift(["media/p1.jpg"], "<image>" + "Describe every detail. " * 60), "too_long"),
        (swift(["media/gone.jpg"], "<image>Describe it."), "missing_media"),
        (swift(["media/cut.jpg"], "<image>Describe it."), "corrupt_media"),
        ("not json at all", "bad_json"),
        (swift(["media/p1.jpg"], "<image>Short."), None),
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(text + "\n" for text, _ in planted))
    return path, planted


def test_validate_json_summary_and_files(capsys, tmp_path, dataset):
    path, planted = dataset
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys, "data", "validate", str(path), "--model", "qwen2-vl", "--max-length", "300", "--out", str(out_dir), "--json", "--workers", "2",
        "--batch-size", "2",
    )  # fmt: skip
    assert code == 1  # some records were rejected
    codes = [c for _, c in planted if c is not None]
    assert json.loads(out) == {
        "records": len(planted),
        "clean": len(planted) - len(codes),
        "rejected": len(codes),
        "by_reason": {c: 1 for c in sorted(codes)},
    }
    assert "6 records: 2 clean, 4 rejected" in err and "missing_media" in err
    assert (out_dir / "clean.jsonl").read_text().splitlines() == [text for text, c in planted if c is None]
    rejects = [json.loads(line) for line in (out_dir / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], [p["code"] for p in r["reasons"]]) for r in rejects] == [
        (line, [c]) for line, (_, c) in enumerate(planted, 1) if c is not None
    ]
    assert rejects[3]["record"] == "not json at all"  # bad JSON is kept as its raw text
    assert rejects[0]["record"] == json.loads(planted[1][0])


def test_validate_clean_dataset_exits_0(capsys, tmp_path, dataset):
    path, planted = dataset
    clean = tmp_path / "clean.jsonl"
    clean.write_text("".join(text + "\n" for text, c in planted if c is None))
    code, out, err = run(capsys, "data", "validate", str(clean), "--media", "decode")
    assert code == 0 and out == ""  # the human summary goes to stderr
    assert "2 records: 2 clean, 0 rejected" in err
    # without --max-length nothing is too long; --media none does not look at the files
    code, out, _ = run(capsys, "data", "validate", str(path), "--media", "none", "--json", "--no-progress")
    assert code == 1 and json.loads(out)["by_reason"] == {"bad_json": 1}


def test_validate_root_and_ray_engine(capsys, tmp_path, dataset):
    path, planted = dataset
    moved = tmp_path / "elsewhere" / "train.jsonl"
    moved.parent.mkdir()
    moved.write_text(path.read_text())
    # media paths are relative to the dataset's folder unless --root says otherwise
    code, out, _ = run(capsys, "data", "validate", str(moved), "--json")
    assert json.loads(out)["by_reason"]["missing_media"] == 5
    code, out, _ = run(capsys, "data", "validate", str(moved), "--root", str(tmp_path), "--json", "--engine", "ray", "--workers", "2")
    try:
        assert json.loads(out)["by_reason"] == {"bad_json": 1, "corrupt_media": 1, "missing_media": 1}
    finally:
        import ray

        ray.shutdown()


def test_validate_bad_options(capsys, tmp_path, dataset):
    path, _ = dataset
    code, _, err = run(capsys, "data", "validate", str(path), "--max-length", "100")
    assert code == 2 and "--max-length needs --model" in err
    code, _, err = run(capsys, "data", "validate", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "no such dataset file" in err
    code, _, err = run(capsys, "data", "validate", str(path), "--format", "nosuch")
    assert code == 2 and "unknown dataset format 'nosuch'" in err
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "rejects.jsonl").write_text("{}\n")
    code, _, err = run(capsys, "data", "validate", str(path), "--out", str(tmp_path / "theirs"))
    assert code == 2 and "no progress.json" in err
    code, _, err = run(capsys, "data")
    assert code == 2 and "validate" in err


def test_validate_rejects_an_image_the_processor_refuses(capsys, tmp_path):
    """An aspect ratio over 200: transformers' smart_resize raises for it, so training would fail;
    validate says so up front with its own reason code."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    Image.new("RGB", (4000, 16), "white").save(tmp_path / "strip.png")
    with pytest.raises(ValueError):
        smart_resize(16, 4000, factor=28, min_pixels=3136, max_pixels=12845056)
    path = tmp_path / "d.jsonl"
    path.write_text(swift(["strip.png"], "<image>Read it.") + "\n")
    code, out, _ = run(capsys, "data", "validate", str(path), "--model", "qwen2-vl", "--json")
    assert code == 1 and json.loads(out)["by_reason"] == {"unprocessable_media": 1}
