"""Discrete image tokenizers: token counts, encode/decode consistency, metrics against scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from mmtok.discrete.data import load_crops, random_crops, to_tensor, to_uint8
from mmtok.discrete.grid import pair_grid
from mmtok.discrete.metrics import bits_per_image, code_usage, psnr_per_image, ssim_per_image
from mmtok.discrete.models import build_model
from mmtok.errors import InvalidOptionError, UnknownNameError

VQ = {"name": "vq", "codebook_size": 64}
SMALL_CONV = {"channels": 16, "res_channels": 8, "res_blocks": 1, "dim": 8}
SMALL_TITOK = {"width": 32, "depth": 1, "heads": 2, "dim": 8}


@pytest.fixture(scope="module")
def photos():
    """Real photo crops (uint8, (8, 32, 32, 3)) from skimage's astronaut and coffee."""
    return random_crops([skdata.astronaut(), skdata.coffee()], 8, 32, seed=3)


@pytest.mark.parametrize("size,factor", [(32, 4), (32, 8), (16, 4), (32, 2)])
def test_conv_ids_form_a_size_over_f_grid(size, factor):
    torch.manual_seed(0)
    model = build_model({"arch": "vqvae", "size": size, "factor": factor, **SMALL_CONV, "quantizer": VQ}).eval()
    x = torch.rand(3, 3, size, size)
    ids = model.encode(x)
    side = size // factor
    assert ids.shape == (3, side, side) and model.tokens == side * side
    assert ids.dtype == torch.long and 0 <= int(ids.min()) and int(ids.max()) < 64
    assert model.decode(ids).shape == (3, 3, size, size)


@pytest.mark.parametrize("k", [8, 32, 64])
def test_titok_makes_exactly_k_ids_whatever_the_image(k, photos):
    torch.manual_seed(0)
    model = build_model({"arch": "titok", "size": 32, "tokens": k, **SMALL_TITOK, "quantizer": VQ}).eval()
    flat = torch.full((1, 3, 32, 32), 0.5)  # a flat gray image and busy photo crops cost the same
    busy = to_tensor(photos)
    assert model.encode(flat).shape == (1, k)
    assert model.encode(busy).shape == (len(photos), k)
    assert model.tokens == k
    assert model.decode(model.encode(busy)).shape == busy.shape


@pytest.mark.parametrize(
    "config",
    [
        {"arch": "vqvae", "size": 32, "factor": 4, **SMALL_CONV, "quantizer": {**VQ, "ema": True}},
        {"arch": "vqvae", "size": 32, "factor": 4, **SMALL_CONV, "quantizer": {"name": "fsq", "levels": [4, 4, 4]}},
        {"arch": "vqvae", "size": 32, "factor": 8, **SMALL_CONV, "decoder_channels": 24, "quantizer": {"name": "residual-vq", "codebook_size": 16, "stages": 2}},
        {"arch": "titok", "size": 32, "tokens": 16, **SMALL_TITOK, "quantizer": {**VQ, "l2_norm": True}},
    ],
)
def test_decode_of_encode_is_the_forward_reconstruction(config, photos):
    torch.manual_seed(0)
    model = build_model(config).eval()
    x = to_tensor(photos)
    with torch.no_grad():
        out = model(x)
        ids = model.encode(x)
        assert torch.equal(ids, out.indices)
        assert torch.allclose(model.decode(ids), out.reconstruction, atol=1e-6, rtol=0)


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidOptionError, match="power of 2"):
        build_model({"arch": "vqvae", "size": 32, "factor": 3, "quantizer": VQ})
    with pytest.raises(UnknownNameError):
        build_model({"arch": "pixelcnn", "quantizer": VQ})
    model = build_model({"arch": "vqvae", "size": 32, "factor": 4, **SMALL_CONV, "quantizer": VQ}).eval()
    with pytest.raises(InvalidOptionError, match="32 x 32"):
        model.encode(torch.rand(1, 3, 16, 16))
    with pytest.raises(InvalidOptionError, match="64 per image"):
        model.decode(torch.zeros(1, 4, 4, dtype=torch.long))


def _distorted(photos):
    rng = np.random.default_rng(0)
    noisy = np.clip(photos.astype(np.float64) / 255 + rng.normal(0, 0.05, photos.shape), 0, 1)
    shifted = np.roll(photos, 1, axis=2).astype(np.float64) / 255
    return photos.astype(np.float64) / 255, [noisy, shifted]


def test_psnr_and_ssim_equal_scikit_image(photos):
    clean, distorted = _distorted(photos)
    for other in distorted:
        x = torch.from_numpy(clean).permute(0, 3, 1, 2)
        y = torch.from_numpy(other).permute(0, 3, 1, 2)
        ours_psnr, ours_ssim = psnr_per_image(x, y), ssim_per_image(x, y)
        for i in range(len(clean)):
            ref_psnr = peak_signal_noise_ratio(clean[i], other[i], data_range=1)
            ref_ssim = structural_similarity(clean[i], other[i], channel_axis=2, data_range=1)
            assert float(ours_psnr[i]) == pytest.approx(ref_psnr, abs=1e-9)
            assert float(ours_ssim[i]) == pytest.approx(ref_ssim, abs=1e-9)


def test_code_usage_perplexity_and_bits_by_hand():
    # codes 0, 0, 1, 1 of a 4-code book: 2 used, uniform over 2 -> perplexity exp(ln 2) = 2
    usage = code_usage(torch.tensor([[0, 0, 1, 1]]), 4)
    assert usage["used"] == 2 and usage["used_fraction"] == 0.5 and usage["perplexity"] == pytest.approx(2.0)
    # one code only -> perplexity 1; four distinct codes -> 4
    assert code_usage(torch.tensor([[3, 3, 3]]), 4)["perplexity"] == pytest.approx(1.0)
    assert code_usage(torch.tensor([[0, 1], [2, 3]]), 4)["perplexity"] == pytest.approx(4.0)
    # residual stages are counted per stage: stage 0 uses {0, 1}, stage 1 uses {2}
    usage = code_usage(torch.tensor([[[0, 2], [1, 2]]]), 4)
    assert usage["stages"] == 2 and usage["used"] == 3 and usage["used_fraction"] == 3 / 8
    assert usage["perplexity"] == pytest.approx((2.0 + 1.0) / 2)
    assert bits_per_image(64, 256) == 512.0 and bits_per_image(32, 4096, 2) == 32 * 12 * 2
    assert bits_per_image(64, 1000) == pytest.approx(64 * math.log2(1000))


def test_grid_puts_each_original_beside_its_reconstruction(photos):
    originals, recon = photos[:3], 255 - photos[:3]
    grid = pair_grid(originals, recon, columns=2, scale=2, gap=2)
    cell_h, cell_w = 32 * 2, 64 * 2
    assert grid.shape == (2 + 2 * (cell_h + 2), 2 + 2 * (cell_w + 2), 3)
    # image 2 sits in row 1, column 0: original on the left, reconstruction on the right, each pixel 2 x 2
    top, left = 2 + cell_h + 2, 2
    assert np.array_equal(grid[top : top + cell_h : 2, left : left + 64 : 2], originals[2])
    assert np.array_equal(grid[top + 1 : top + cell_h : 2, left + 65 : left + cell_w : 2], recon[2])
    assert (grid[:2] == 255).all()  # gutter


def test_crops_are_deterministic_and_held_out_by_source_image():
    a = load_crops("photos", 16, 50, 20, seed=5)
    b = load_crops("photos", 16, 50, 20, seed=5)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert a.train.shape == (50, 16, 16, 3) and a.test.shape == (20, 16, 16, 3) and a.train.dtype == np.uint8
    assert a.test_sources == ["china.jpg", "flower.jpg"] and not set(a.test_sources) & set(a.train_sources)
    assert not np.array_equal(load_crops("photos", 16, 50, 20, seed=6).train, a.train)
    # uint8 -> [0, 1] float -> uint8 is lossless
    assert np.array_equal(to_uint8(to_tensor(a.test)), a.test)
