"""Batches over several workers: the same output as one worker, in input order, every bad item named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok import parallel
from mmtok.cli.main import main
from mmtok.errors import ImageNotFoundError, InvalidOptionError, NotAnImageError
from mmtok.vision.families import get_family, model_names

SAMPLE = Path(mmtok.__file__).parent / "data" / "sample.jpg"
PIXEL_FAMILIES = [name for name in model_names() if not getattr(get_family(name), "count_only", False)]


@pytest.fixture(scope="module")
def photos():
    """Differently sized and shaped photos, so that padding or batch-level choices would show."""
    from skimage import data

    return [Image.fromarray(p) for p in (data.astronaut(), data.chelsea(), data.rocket(), data.coffee())]


def assert_same(a: tuple, b: tuple) -> None:
    (data_a, plans_a), (data_b, plans_b) = a, b
    assert plans_a == plans_b
    assert list(data_a) == list(data_b)
    for key, value in data_a.items():
        other = data_b[key]
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype and value.shape == other.shape, key
            assert np.array_equal(value, other), key
        else:
            assert len(value) == len(other), key
            assert all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(value, other)), key


@pytest.mark.parametrize("name", PIXEL_FAMILIES)
def test_two_workers_match_one(name, photos):
    family = get_family(name)
    assert_same(parallel.preprocess_images(family, photos, workers=2), family.preprocess_images(photos))


@pytest.mark.parametrize("name", sorted(parallel.STACKING_FAMILIES))
def test_stacking_families_stack(name, photos):
    """The rule the pool relies on: the batch is the per-image outputs stacked."""
    family = get_family(name)
    parts = [family.preprocess_images([photo]) for photo in photos]
    assert_same(parallel.stack(parts), family.preprocess_images(photos))


def test_processor_paths_in_order(tmp_path):
    paths = []
    for i, size in enumerate([(300, 500), (640, 480), (120, 900)]):
        path = tmp_path / f"{i}.jpg"
        Image.open(SAMPLE).resize(size).save(path)
        paths.append(str(path))
    processor = mmtok.get_processor("qwen2-vl")
    one, two = processor.preprocess_images(paths), processor.preprocess_images(paths, workers=2)
    assert_same((dict(two), two.plans), (dict(one), one.plans))
    assert [p.source for p in two.plans] == paths


def test_bad_items_are_reported_with_their_index(tmp_path):
    processor = mmtok.get_processor("qwen2-vl")
    good = SAMPLE.read_bytes()
    batch = [good, b"not an image", good, str(tmp_path / "missing.jpg")]
    with pytest.raises(NotAnImageError) as caught:
        processor.preprocess_images(batch, workers=2)
    assert caught.value.index == 1  # the first bad one, as a single worker would raise
    assert [(f.index, f.error_type) for f in caught.value.failures] == [(1, "NotAnImageError"), (3, "ImageNotFoundError")]
    assert isinstance(caught.value.failures[1].error, ImageNotFoundError)
    assert "image 1 of the batch of 4" in "\n".join(caught.value.__notes__)


def test_workers_must_be_a_count():
    with pytest.raises(InvalidOptionError):
        parallel.check_workers(-1)
    assert parallel.check_workers(0) >= 1


def test_count_workers_same_output_and_each_bad_file(tmp_path, capsys):
    for i in range(6):
        shutil.copy(SAMPLE, tmp_path / f"{i}.jpg")
    (tmp_path / "3b.jpg").write_bytes(b"junk")
    (tmp_path / "4b.png").write_bytes(b"junk too")
    results = []
    for workers in ("1", "2"):
        code = main(["count", "--json", "--workers", workers, str(tmp_path)])
        out, err = capsys.readouterr()
        results.append((code, [json.loads(line) for line in out.splitlines()], err))
    assert results[0] == results[1]
    code, records, _ = results[1]
    assert code == 1
    assert [Path(r["path"]).name for r in records if "error" in r] == ["3b.jpg", "4b.png"]
    assert len(records) == 8


def test_tokenize_workers_same_ids_and_each_bad_image(tmp_path, capsys):
    args = ["tokenize", "--image", str(SAMPLE), "--image", str(SAMPLE), "--prompt", "hi", "--json"]
    assert main(args) == 0
    one = capsys.readouterr().out
    assert main([*args, "--workers", "2"]) == 0
    assert capsys.readouterr().out == one
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"junk")
    code = main(["tokenize", "--image", str(bad), "--image", str(SAMPLE), "--image", str(tmp_path / "gone.jpg"), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1
    assert "bad.jpg" in err and "gone.jpg" in err


def test_pil_and_array_inputs(photos):
    arrays = [np.asarray(photos[0]), photos[1], np.asarray(photos[2])]
    family = get_family("qwen2-vl")
    assert_same(parallel.preprocess_images(family, arrays, workers=2), family.preprocess_images(arrays))
