"""Evaluation of a trained discrete image tokenizer on held-out images: encode, decode, measure.

Reports PSNR and SSIM of the reconstructions (decode(encode(x)), clipped to [0, 1] and rounded to
8-bit pixels, i.e. the PNG a user gets back), codebook usage and perplexity over all held-out ids,
tokens and bits per image (metrics.py), and optionally writes a PNG grid of originals beside
reconstructions (grid.py).
"""

from __future__ import annotations

import numpy as np

from . import require_torch

__all__ = ["reconstruct", "evaluate"]


def reconstruct(model, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, object]:
    """uint8 (N, H, W, 3) -> (uint8 reconstructions (N, H, W, 3), long ids (N, *token_shape))."""
    torch = require_torch()
    from .data import to_tensor, to_uint8

    model.eval()
    outs, ids = [], []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = to_tensor(images[start : start + batch_size])
            codes = model.encode(x)
            ids.append(codes)
            outs.append(to_uint8(model.decode(codes)))
    return np.concatenate(outs), torch.cat(ids)


def evaluate(model, images: np.ndarray, *, grid: str | None = None, grid_count: int = 32, batch_size: int = 256) -> dict:
    """Metrics of `model` on uint8 images (N, size, size, 3); writes the grid PNG if `grid` is a path."""
    from .data import to_tensor
    from .metrics import bits_per_image, code_usage, psnr, ssim

    recon, ids = reconstruct(model, images, batch_size)
    x, y = to_tensor(images), to_tensor(recon)
    usage = code_usage(ids.reshape(len(images), model.tokens, -1), model.codebook_size)
    result = {
        "images": int(len(images)),
        "size": model.size,
        "arch": model.arch,
        "tokens": model.tokens,
        "codebook_size": model.codebook_size,
        "psnr": psnr(x, y),
        "ssim": ssim(x, y),
        "codes_used": usage["used"],
        "codebook_usage": usage["used_fraction"],
        "perplexity": usage["perplexity"],
        "bits_per_image": bits_per_image(model.tokens, model.codebook_size, usage["stages"]),
    }
    if usage["stages"] > 1:
        result["stages"] = usage["stages"]
    if grid:
        from .grid import save_grid

        n = min(grid_count, len(images))
        result["grid"] = save_grid(grid, images[:n], recon[:n])
    return result
