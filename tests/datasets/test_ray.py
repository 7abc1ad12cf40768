"""engine="ray": a real local Ray cluster (2 CPUs, started once for the module) gives the same clean
and rejected records, byte for byte and in the same order, as the single-process run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from mmtok.datasets.runner import run
from test_runner import FlagTask, check_outputs, make_dataset


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    # the workers import the test tasks (test_runner.FlagTask) from this folder, as a project's workers
    # would import its own modules
    if ray.is_initialized():  # started by another test without this module's runtime_env
        ray.shutdown()
    path = os.pathsep.join([os.path.dirname(__file__), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
    yield ray
    ray.shutdown()


def same_outputs(a, b) -> None:
    for name in ("clean.jsonl", "rejects.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_ray_matches_local(tmp_path, ray_cluster):
    truth = make_dataset(tmp_path / "data.jsonl", 700)
    local = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "local", batch_size=32, keep_columns=("line", "chars"))
    remote = run(
        tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "ray", engine="ray", workers=2, batch_size=32, keep_columns=("line", "chars")
    )
    check_outputs(tmp_path / "ray", truth)
    same_outputs(tmp_path / "local", tmp_path / "ray")
    assert remote.to_dict() == local.to_dict()
    assert remote.columns == local.columns
    assert remote.columns["line"] == truth["lines"]


def test_ray_resumes_a_local_run(tmp_path, ray_cluster):
    make_dataset(tmp_path / "data.jsonl", 200)
    reference = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "ref", batch_size=16)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "data.jsonl", FlagTask(interrupt_after=5), out_dir=tmp_path / "out", batch_size=16)
    resumed = run(tmp_path / "data.jsonl", FlagTask(), out_dir=tmp_path / "out", engine="ray", workers=2, batch_size=16)
    assert resumed.resumed_from == 80
    assert resumed.to_dict() == reference.to_dict()
    same_outputs(tmp_path / "ref", tmp_path / "out")


def swift(images: list[str], prompt: str, answer: str = "A photo.") -> str:
    return json.dumps({"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}], "images": images})


def test_ray_record_task_matches_local(tmp_path, ray_cluster):
    from mmtok.datasets.task import RecordTask

    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(64, 96), (300, 200), (120, 120)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.png")
    good = (tmp_path / "img1.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    planted = [
        (swift(["img0.png"], "<image>What is this?"), None),
        (swift(["img1.png", "img2.png"], "<image><image>Compare them."), None),
        (swift(["missing.png"], "<image>What is this?"), "missing_media"),
        (swift(["cut.png"], "<image>What is this?"), "corrupt_media"),
        (swift(["img0.png"], "No tag here."), "tag_mismatch"),
        ('{"messages": [', "bad_json"),
        (swift(["img2.png"], "<image>" + "long question " * 150), "too_long"),
    ] * 3  # fmt: skip
    (tmp_path / "data.jsonl").write_text("".join(text + "\n" for text, _ in planted))
    task = RecordTask(models=["qwen2-vl"], root=str(tmp_path), max_length=200, media="decode")
    keep = ("line", "qwen2-vl/total_tokens", "image_sizes")
    local = run(tmp_path / "data.jsonl", task, out_dir=tmp_path / "local", batch_size=4, keep_columns=keep)
    remote = run(tmp_path / "data.jsonl", task, out_dir=tmp_path / "ray", engine="ray", workers=2, batch_size=4, keep_columns=keep)
    same_outputs(tmp_path / "local", tmp_path / "ray")
    assert remote.to_dict() == local.to_dict()
    assert remote.columns == local.columns
    # the planted truth: which records are clean, and each rejected one's reason
    rejects = [json.loads(line) for line in (tmp_path / "ray" / "rejects.jsonl").read_text().splitlines()]
    assert {r["line"]: [p["code"] for p in r["reasons"]] for r in rejects} == {
        line: [code] for line, (_, code) in enumerate(planted, 1) if code is not None
    }
    clean = (tmp_path / "ray" / "clean.jsonl").read_text().splitlines()
    assert clean == [text for text, code in planted if code is None]
    assert remote.columns["image_sizes"][1] == "[[300, 200], [120, 120]]"
