"""Reconstruction and codebook metrics of a discrete image tokenizer.

* PSNR (dB) of images in [0, 1]: ``10 log10(1 / MSE)`` per image, averaged over images (the mean of
  ``skimage.metrics.peak_signal_noise_ratio(x, y, data_range=1)`` per image).
* SSIM (Wang et al. 2004) with scikit-image's defaults: a 7 x 7 uniform window, sample covariance
  (N / (N - 1)), K1 = 0.01, K2 = 0.03, computed per channel over the window positions that fit inside
  the image and averaged — the same numbers as ``skimage.metrics.structural_similarity(x, y,
  channel_axis=2, data_range=1)``, computed in torch for a whole batch at once.
* Codebook usage (distinct codes used / codebook size), perplexity ``exp(-sum p log p)`` of the code
  frequencies (as Sonnet's and taming's quantizers report it), and bits per image
  ``tokens x stages x log2(codebook_size)``.
"""

from __future__ import annotations

import math

from . import require_torch

__all__ = ["psnr", "ssim", "code_usage", "bits_per_image"]


def _pairs(x, y):
    torch = require_torch()
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.shape != y.shape or x.ndim != 4:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(
            f"metrics need two batches of the same shape (B, 3, H, W); got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x.double(), y.double()


def psnr_per_image(x, y):
    """PSNR (dB) of each image pair; images (B, C, H, W) in [0, 1]; inf for identical images."""
    torch = require_torch()
    x, y = _pairs(x, y)
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse)


def psnr(x, y) -> float:
    """Mean PSNR (dB) over the batch."""
    return float(psnr_per_image(x, y).mean())


def ssim_per_image(x, y, win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
    """SSIM of each image pair (B, C, H, W) in [0, 1], scikit-image's defaults (see the module docstring)."""
    torch = require_torch()
    import torch.nn.functional as F

    x, y = _pairs(x, y)
    if min(x.shape[-2:]) < win_size:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(f"SSIM needs images of at least {win_size} x {win_size} px; got {tuple(x.shape[-2:])}")

    def mean(t):  # valid positions only = skimage's filtered image with the (win_size - 1) / 2 border cropped
        return F.avg_pool2d(t, win_size, stride=1)

    n = win_size * win_size
    cov_norm = n / (n - 1)
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = k1**2, k2**2  # data_range 1
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(2, 3)).mean(1)  # per channel, then over channels


def ssim(x, y) -> float:
    """Mean SSIM over the batch."""
    return float(ssim_per_image(x, y).mean())


def code_usage(indices, codebook_size: int) -> dict:
    """Usage of a codebook by `indices` (N, tokens) or, for residual VQ, (N, tokens, stages).

    ``used`` counts distinct codes (per stage, summed), ``used_fraction`` divides by
    ``codebook_size x stages``, ``perplexity`` is exp(entropy) of the code frequencies (averaged over
    stages)."""
    torch = require_torch()
    indices = torch.as_tensor(indices).long()
    stages = indices.shape[-1] if indices.ndim == 3 else 1
    flat = indices.reshape(-1, stages)
    used, perplexities = 0, []
    for s in range(stages):
        counts = torch.bincount(flat[:, s], minlength=codebook_size).double()
        used += int((counts > 0).sum())
        p = counts[counts > 0] / counts.sum()
        perplexities.append(float(torch.exp(-(p * p.log()).sum())))
    return {
        "codebook_size": codebook_size,
        "stages": stages,
        "used": used,
        "used_fraction": used / (codebook_size * stages),
        "perplexity": sum(perplexities) / stages,
    }


def bits_per_image(tokens: int, codebook_size: int, stages: int = 1) -> float:
    """Bits to store one image's ids without entropy coding: tokens x stages x log2(codebook_size)."""
    return tokens * stages * math.log2(codebook_size)
