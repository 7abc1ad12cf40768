"""`mmtok discrete train|encode|decode|eval`, run in-process on the photos that ship with scikit-image/-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mmtok.cli.main import main

SMALL = ["--model-option", "channels=16", "--model-option", "res_channels=8", "--model-option", "res_blocks=1", "--model-option", "dim=8"]


def run(capsys, *argv):
    code = main(["discrete", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny conv tokenizer (16 px, 16 tokens, 32 codes) trained for a few steps via the CLI."""
    folder = tmp_path_factory.mktemp("ckpt")
    ckpt = str(folder / "tok.safetensors")
    code = main(["discrete", "train", "--builtin", "photos", "--size", "16", "--tokens", "16", "--codebook-size", "32",
                 *SMALL, "--steps", "20", "--batch-size", "32", "--out", ckpt, "--threads", "1", "--json"])
    assert code == 0
    return ckpt


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(path)
    return str(path)


def test_train_writes_a_checkpoint_and_resumes(capsys, tmp_path):
    ckpt = str(tmp_path / "t.safetensors")
    args = ["train", "--builtin", "photos", "--size", "16", "--tokens", "16", "--codebook-size", "32", *SMALL, "--batch-size", "8", "--out", ckpt, "--json"]
    code, out, err = run(capsys, *args, "--steps", "3")
    assert code == 0
    record = json.loads(out)
    assert record["step"] == 3 and record["path"] == ckpt and record["resumed_from"] == 0
    assert (tmp_path / "t.train.safetensors").is_file()
    code, out, err = run(capsys, *args, "--steps", "3")  # refuses to overwrite
    assert code == 2 and "exists; pass --resume" in err
    code, out, err = run(capsys, *args, "--steps", "5", "--resume")
    assert code == 0 and json.loads(out)["step"] == 5 and json.loads(out)["resumed_from"] == 3
    assert "resuming" in err


def test_encode_prints_ids_as_json(capsys, trained, photo):
    code, out, err = run(capsys, "encode", photo, "--ckpt", trained)
    assert code == 0
    ids = np.array(json.loads(out))
    assert ids.shape == (4, 4) and ids.min() >= 0 and ids.max() < 32
    code, out, err = run(capsys, "encode", photo, "--ckpt", trained, "--json")
    record = json.loads(out)
    assert record["ids"] == ids.tolist() and record["tokens"] == 16 and record["codebook_size"] == 32
    assert record["shape"] == [4, 4] and record["size"] == 16


def test_decode_writes_a_png_of_the_model_size(capsys, trained, photo, tmp_path):
    code, out, err = run(capsys, "encode", photo, "--ckpt", trained, "--json")
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(out)
    png = str(tmp_path / "back.png")
    code, out, err = run(capsys, "decode", str(ids_file), "--ckpt", trained, "--out", png)
    assert code == 0 and out.strip() == png
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (16, 16) and image.mode == "RGB"
        decoded = np.asarray(image)
    # a flat JSON list of the 16 ids decodes to the same picture
    flat = json.dumps(np.array(json.loads(ids_file.read_text())["ids"]).ravel().tolist())
    code, out, err = run(capsys, "decode", flat, "--ckpt", trained, "--out", str(tmp_path / "flat.png"), "--json")
    assert code == 0 and json.loads(out) == {"path": str(tmp_path / "flat.png")}
    assert np.array_equal(np.asarray(Image.open(tmp_path / "flat.png")), decoded)
    code, out, err = run(capsys, "decode", "[1, 2, 3]", "--ckpt", trained, "--out", str(tmp_path / "x.png"))
    assert code == 2 and "16 per image" in err


def test_eval_reports_metrics_that_scikit_image_reproduces(capsys, trained, tmp_path):
    from mmtok.discrete.checkpoint import load_model
    from mmtok.discrete.data import load_crops
    from mmtok.discrete.evaluate import reconstruct

    grid = str(tmp_path / "grid.png")
    code, out, err = run(capsys, "eval", "--ckpt", trained, "--count", "40", "--grid", grid, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["images"] == 40 and result["tokens"] == 16 and result["codebook_size"] == 32
    assert result["bits_per_image"] == 16 * 5 and result["held_out"] == ["china.jpg", "flower.jpg"]
    assert 0 < result["codes_used"] <= 32 and result["codebook_usage"] == result["codes_used"] / 32
    assert 1 <= result["perplexity"] <= result["codes_used"]
    # the same held-out crops, reconstructed, measured by scikit-image
    crops = load_crops("photos", 16, 0, 40, 0).test
    recon, _ = reconstruct(load_model(trained), crops)
    ref_psnr = np.mean([peak_signal_noise_ratio(a, b) for a, b in zip(crops, recon)])
    ref_ssim = np.mean([structural_similarity(a / 255.0, b / 255.0, channel_axis=2, data_range=1) for a, b in zip(crops, recon)])
    assert result["psnr"] == pytest.approx(ref_psnr, abs=1e-6) and result["ssim"] == pytest.approx(ref_ssim, abs=1e-6)
    with Image.open(grid) as image:  # 32 pairs of 16 x 16 crops scaled x4, 8 per row, 2 px gutters
        assert image.size == (2 + 8 * (2 * 16 * 4 + 2), 2 + 4 * (16 * 4 + 2))
    code, out, err = run(capsys, "eval", "--ckpt", trained, "--count", "8")
    assert code == 0 and "psnr" in out and "codebook_usage" in out


def test_titok_via_the_cli_costs_exactly_k_ids(capsys, tmp_path, photo):
    ckpt = str(tmp_path / "titok.safetensors")
    code, out, err = run(capsys, "train", "--arch", "titok", "--builtin", "photos", "--size", "16", "--tokens", "8", "--codebook-size", "16",
                         "--model-option", "width=32", "--model-option", "depth=1", "--model-option", "heads=2", "--steps", "2", "--batch-size", "8", "--out", ckpt)
    assert code == 0 and "2 steps" in out
    code, out, err = run(capsys, "encode", photo, "--ckpt", ckpt)
    assert code == 0 and len(json.loads(out)) == 8


def test_errors_name_the_input_and_the_fix(capsys, tmp_path, photo):
    code, out, err = run(capsys, "encode", photo, "--ckpt", str(tmp_path / "missing.safetensors"))
    assert code == 2 and "missing.safetensors" in err and "mmtok discrete train" in err
    code, out, err = run(capsys, "train", "--builtin", "photos", "--out", str(tmp_path / "a.safetensors"))
    assert code == 2 and "--minutes" in err
    code, out, err = run(capsys, "train", "--builtin", "photos", "--tokens", "10", "--steps", "1", "--out", str(tmp_path / "b.safetensors"))
    assert code == 2 and "--tokens 10" in err
    code, out, err = run(capsys, "train", "--arch", "pixelcnn", "--builtin", "photos", "--steps", "1")
    assert code == 2 and "unknown tokenizer architecture" in err


def test_sequence_puts_the_encoded_ids_in_the_reserved_range(capsys, trained, photo):
    """`discrete sequence`: the text's ids are tiktoken's own, then start marker, the 16 codes that
    `discrete encode` gives, each at code_ids[0] + code, and the end marker."""
    import tiktoken
    import tiktoken.load

    from mmtok.text.qwen2 import QWEN_PATTERN, qwen_tiktoken_path

    code, out, _ = run(capsys, "encode", photo, "--ckpt", trained)
    codes = np.array(json.loads(out)).ravel().tolist()
    code, out, _ = run(capsys, "sequence", photo, "--ckpt", trained, "--text", "Look: ", "--json")
    assert code == 0
    record = json.loads(out)
    ranks = tiktoken.load.load_tiktoken_bpe(str(qwen_tiktoken_path()))
    text_ids = tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={}).encode("Look: ")
    first_code = record["code_ids"][0]
    assert first_code > max(ranks.values()) + 14  # past the regular ids and Qwen's 14 specials
    ids = record["ids"]
    assert ids[: len(text_ids)] == text_ids
    assert ids[len(text_ids) + 1 : -1] == [first_code + c for c in codes]
    assert {ids[len(text_ids)], ids[-1]} <= set(record["markers"].values())


def test_dynamic_keeps_ceil_ratio_tokens(capsys, trained):
    code, out, _ = run(capsys, "dynamic", "--ckpt", trained, "--count", "8", "--ratios", "1,0.5,0.3", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["kept"] for r in rows] == [16, 8, 5]  # ceil(ratio * 16)
    code, _, err = run(capsys, "dynamic", "--ckpt", trained, "--ratios", "half")
    assert code == 2 and "--ratios" in err
