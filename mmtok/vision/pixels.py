"""The pixel path shared by all families: resize, rescale + normalise, patchify.

Bit-exact with transformers' PIL/numpy image processors (`image_transforms.rescale` / `normalize`),
but without their float64 detour and copies: a uint8 pixel can only take 256 values per channel, so
rescale-then-normalise is a 256-entry float32 lookup table per channel, computed with the very same
numpy operations the reference applies to whole images (so every entry has the reference's bits).
The table lookup writes straight into the patch layout.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=32)
def normalize_lut(mean: tuple[float, ...], std: tuple[float, ...], rescale_factor: float = 1 / 255) -> np.ndarray:
    """(channels, 256) float32 table: value of uint8 `u` in channel `c` after rescale and normalise.

    Mirrors the reference: `rescale` multiplies in float64 and casts to float32; `normalize` then
    computes `(x - mean) / std` in float32 with float32 mean and std.
    """
    levels = (np.arange(256, dtype=np.float64) * rescale_factor).astype(np.float32)
    mean32 = np.asarray(mean, dtype=np.float32)
    std32 = np.asarray(std, dtype=np.float32)
    lut = (levels[None, :] - mean32[:, None]) / std32[:, None]
    lut.setflags(write=False)
    return lut


def resize_bicubic(image, size: tuple[int, int]):
    """Pillow bicubic resize to (height, width), as the reference's `resize(..., resample=BICUBIC)`."""
    from PIL import Image

    height, width = size
    return image.resize((width, height), resample=Image.Resampling.BICUBIC, reducing_gap=None)


def normalized_planes(rgb: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 -> (C, H, W) float32 through the per-channel table."""
    h, w, c = rgb.shape
    planes = np.empty((c, h, w), dtype=np.float32)
    for ch in range(c):
        np.take(lut[ch], rgb[:, :, ch], out=planes[ch])
    return planes


def patchify_merged(
    planes: np.ndarray, *, patch_size: int, merge_size: int, temporal_patch_size: int
) -> np.ndarray:
    """(C, H, W) float32 -> (grid_h * grid_w, C * T * p * p) rows in Qwen2-VL's merge-block order.

    Rows run over 2x2 merge blocks in raster order, and inside a block over its patches in raster
    order, so the patches merged into one LLM token are consecutive rows. A row is laid out
    [channel][frame][py][px], the layout of the vision tower's Conv3d weight. A still image is
    repeated into `temporal_patch_size` identical frames.
    """
    c, h, w = planes.shape
    p, m, t = patch_size, merge_size, temporal_patch_size
    gh, gw = h // p, w // p
    # (c, bh, mh, py, bw, mw, px) -> (bh, bw, mh, mw, c, py, px)
    src = planes.reshape(c, gh // m, m, p, gw // m, m, p).transpose(1, 4, 2, 5, 0, 3, 6)
    out = np.empty((gh // m, gw // m, m, m, c, t, p, p), dtype=np.float32)
    for frame in range(t):
        out[:, :, :, :, :, frame] = src
    return out.reshape(gh * gw, c * t * p * p)


def normalize_lut_fused(mean: tuple[float, ...], std: tuple[float, ...], rescale_factor: float = 1 / 255) -> np.ndarray:
    """(channels, 256) float32 table of transformers' torchvision backend's fused rescale + normalise.

    `TorchvisionBackend.rescale_and_normalize` (used by the video processors) folds the rescale into the
    statistics: mean' = float32(mean) * (1 / rescale_factor), std' likewise, both float32 tensors; then
    `(float32(u) - mean') / std'`. This rounds differently from the PIL backend's `normalize_lut`.
    """
    scale = np.float32(1.0 / rescale_factor)
    mean32 = np.asarray(mean, dtype=np.float32) * scale
    std32 = np.asarray(std, dtype=np.float32) * scale
    levels = np.arange(256, dtype=np.float32)
    lut = (levels[None, :] - mean32[:, None]) / std32[:, None]
    lut.setflags(write=False)
    return lut


def patchify_frames(frames: np.ndarray, lut: np.ndarray, *, patch_size: int, merge_size: int, temporal_patch_size: int) -> np.ndarray:
    """(T, H, W, C) uint8 frames -> (grid_t * grid_h * grid_w, C * tp * p * p) normalised float32 rows.

    The Qwen video processors' `patchify`: an odd frame count is padded by repeating the last frame;
    rows run over temporal groups, then merge blocks in raster order, then patches inside a block; a row
    is [channel][frame of the group][py][px].
    """
    n, h, w, c = frames.shape
    p, m, tp = patch_size, merge_size, temporal_patch_size
    pad = -n % tp
    gt, gh, gw = (n + pad) // tp, h // p, w // p
    out = np.empty((gt, gh // m, gw // m, m, m, c, tp, p, p), dtype=np.float32)
    for i in range(n + pad):
        frame = frames[min(i, n - 1)]
        # (bh, mh, py, bw, mw, px, c) -> (bh, bw, mh, mw, c, py, px)
        src = frame.reshape(gh // m, m, p, gw // m, m, p, c).transpose(0, 3, 1, 4, 6, 2, 5)
        for ch in range(c):
            np.take(lut[ch], src[:, :, :, :, ch], out=out[i // tp, :, :, :, :, ch, i % tp])
    return out.reshape(gt * gh * gw, c * tp * p * p)
