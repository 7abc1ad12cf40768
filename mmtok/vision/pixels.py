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
    # uint8 codes are always in range of the 256-entry table, so skip numpy's per-index check (3x faster)
    mode = "clip" if rgb.dtype == np.uint8 else "raise"
    for ch in range(c):
        np.take(lut[ch], rgb[:, :, ch], out=planes[ch], mode=mode)
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


@lru_cache(maxsize=8)
def normalize_pair_lut(mean: tuple[float, ...], std: tuple[float, ...], rescale_factor: float = 1 / 255) -> np.ndarray:
    """(channels, 65536) uint64 table: two adjacent uint8 pixels (read as one native uint16) -> their
    two `normalize_lut` float32 values, as the 8 bytes that hold them in memory.

    One gather then yields two outputs, and numpy's cast of the indices to intp (which every `take`
    pays) covers half as many elements; 512 KiB per channel stays cache-resident. Entries are copies of
    `normalize_lut`'s, so the bits are the reference's.
    """
    lut = normalize_lut(mean, std, rescale_factor)
    pairs = np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(-1, 2)  # native byte order
    table = np.ascontiguousarray(lut[:, pairs]).view(np.uint64).reshape(len(lut), 65536)
    table.setflags(write=False)
    return table


def patchify_merged_u8(
    rgb: np.ndarray, lut: np.ndarray, pair_lut: np.ndarray | None = None, *, patch_size: int, merge_size: int,
    temporal_patch_size: int,
) -> np.ndarray:
    """(H, W, C) uint8 -> the rows of `patchify_merged(normalized_planes(rgb, lut), ...)`, bit-identical.

    No float planes: per row of merge blocks (a band small enough to stay in cache) the uint8 pixels
    are permuted into patch order (a byte copy), looked up channel by channel (two pixels per lookup
    with `pair_lut` from `normalize_pair_lut`, else one), and the band is written into the output once
    per temporal frame in a single broadcast copy. The output itself is the only full-size write.
    Lookups use mode="clip": every code is in range by construction (uint8 / uint16 into 256 / 65536
    entries), and numpy's default mode="raise" checks each index, about 3x slower.
    """
    h, w, c = rgb.shape
    p, m, t = patch_size, merge_size, temporal_patch_size
    gh, gw = h // p, w // p
    bh, bw = gh // m, gw // m
    out = np.empty((bh, bw, m, m, c, t, p, p), dtype=np.float32)
    # (bh, mh, py, bw, mw, px, c) -> (bh, c, bw, mh, mw, py, px): one band is channel-major in patch order
    src = rgb.reshape(bh, m, p, bw, m, p, c).transpose(0, 6, 3, 1, 4, 2, 5)
    values = np.empty((c, bw, m, m, p, p), dtype=np.float32)
    band = np.broadcast_to(values.transpose(1, 2, 3, 0, 4, 5)[:, :, :, :, None], out.shape[1:])
    if pair_lut is not None and p % 2 == 0:
        codes = np.empty((c, bw, m, m, p, p), dtype=np.uint8)
        pairs, pair_values = codes.view(np.uint16), values.view(np.uint64)
        for b in range(bh):
            np.copyto(codes, src[b])
            for ch in range(c):
                np.take(pair_lut[ch], pairs[ch], out=pair_values[ch], mode="clip")
            np.copyto(out[b], band)
    else:
        codes = np.empty((c, bw, m, m, p, p), dtype=np.intp)
        for b in range(bh):
            np.copyto(codes, src[b], casting="unsafe")
            for ch in range(c):
                np.take(lut[ch], codes[ch], out=values[ch], mode="clip")
            np.copyto(out[b], band)
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


def interpolate_bicubic(planes: np.ndarray, size: tuple[int, int], *, fma: bool = True) -> np.ndarray:
    """(C, H, W) float32 -> (C, height, width) float32, as torch's CPU
    `interpolate(x[None], size, mode="bicubic", align_corners=False)` (antialias=False), which the Phi
    vision processors use for their global view of an already normalised image.

    torch's kernel (aten/src/ATen/native/cpu/UpSampleKernel.cpp, `HelperInterpCubic`, Keys' a = -0.75,
    4 taps per axis, edge indices clamped, no antialiasing even when shrinking) computes in float32, and
    on x86-64 its AVX2 / AVX-512 builds are compiled with fused multiply-adds; measured on torch 2.13:
    source index `fma(scale, dst + 0.5, -0.5)`; coefficients `fma(a + 2, x, -(a + 3)) * x * x + 1` and
    `fma(fma(a, x, -5a), x, 8a) * x - 4a`; each 4-tap sum `fma(t3, w3, fma(t2, w2, fma(t0, w0, t1 * w1)))`,
    over width then over the resulting rows. `fma=False` is torch's DEFAULT (pre-AVX2) build: plain
    float32 arithmetic. A fused multiply-add is emulated in float64, where the product of two float32 is
    exact.
    """
    c, h, w = planes.shape
    height, width = size
    f32 = np.float32

    def fused(a, b, acc):
        if not fma:
            return a * b + acc
        return (a.astype(np.float64) * b + acc).astype(f32)

    def taps(n_in: int, n_out: int):
        a = f32(-0.75)
        scale = f32(n_in) / f32(n_out)
        dst = np.arange(n_out, dtype=f32)
        real = fused(np.full(n_out, scale, f32), dst + f32(0.5), f32(-0.5))
        first = np.minimum(np.floor(real).astype(np.int64), n_in - 1)
        t = np.minimum(np.maximum(real - first.astype(f32), f32(0)), f32(1))

        def near(x):  # |x| <= 1
            return fused(np.full_like(x, a + f32(2)), x, -(a + f32(3))) * x * x + f32(1)

        def far(x):  # 1 < |x| < 2
            inner = fused(fused(np.full_like(x, a), x, -(f32(5) * a)), x, f32(8) * a)
            return inner * x - f32(4) * a

        weights = [far(t + f32(1)), near(t), near(f32(1) - t), far((f32(1) - t) + f32(1))]
        indices = [np.clip(first - 1 + k, 0, n_in - 1) for k in range(4)]
        return indices, weights

    def sum4(values, weights):
        first_two = fused(values[0], weights[0], values[1] * weights[1])
        return fused(values[3], weights[3], fused(values[2], weights[2], first_two))

    ys, wy = taps(h, height)
    xs, wx = taps(w, width)
    wx = [v[None, None, :] for v in wx]
    rows = []
    for y in ys:
        band = planes[:, y, :]  # (C, height, W)
        rows.append(sum4([band[:, :, x] for x in xs], wx))
    return sum4(rows, [v[None, :, None] for v in wy])
