"""Bicubic antialiased resize of uint8 frames, bit-identical to torchvision's tensor resize.

The Qwen video references resize frames with torchvision, `resize(frames, [h, w], BICUBIC, antialias=True)`
on a uint8 (T, C, H, W) tensor, and torchvision hands the work to `torch.nn.functional.interpolate(...,
mode="bicubic", align_corners=False, antialias=True)`. They do it in one of two ways, which give
different pixels (on scikit-image's sample photos 9 % of values differ, by up to 13 levels):

* ``kernel="uint8"``: torchvision.transforms.v2.functional.resize (`resize_image`), which transformers'
  `TorchvisionBackend.resize` calls for the Qwen2-VL / Qwen3-VL video processors (and fast image
  processors). On CPU it keeps the tensor uint8 for bicubic (`_do_native_uint8_resize_on_cpu`), so torch
  runs its fixed-point uint8 kernel (UpSampleKernelAVXAntialias.h on AVX2 machines,
  `basic_loop_aa_horizontal/vertical<uint8_t>` elsewhere; both the same integer arithmetic): weights
  computed in double and rounded to int16 with `weights_precision` fraction bits, a horizontal pass then a
  vertical pass, each `clamp((2**(p-1) + sum(pixel * weight)) >> p, 0, 255)`, so the intermediate image is
  uint8. Integer sums do not depend on summation order, so this path is exact on every machine; here the
  sums run through float32 (or float64 when they could pass 2**24) matrix products holding integers
  exactly.
* ``kernel="float32"``: torchvision.transforms.functional.resize (v1, `_functional_tensor.resize`), which
  qwen-vl-utils' `fetch_video` calls: cast to float32, interpolate, `clamp(0, 255)`, `round` (half to
  even), cast to uint8. (v2 takes these steps for a GPU tensor, with CUDA arithmetic not reproduced
  here.) Float results depend on how torch's C++ was compiled; this reproduces torch's x86-64 CPU
  builds exactly (measured on torch 2.13, AVX2 and AVX512 kernels):
  GCC contracts the cubic filter's polynomial into fused multiply-adds (FMA), and vectorises each
  output's sum over taps as an in-order reduction: the product of tap 0, then the products of taps
  1..8k (+4) rounded one by one and added in order, then the last (< 4) taps fused multiply-added.
  ``fma=False`` gives torch's DEFAULT (no AVX2) kernel: no FMA anywhere, plain in-order float32 sums.
  Every rounding is float32's; float64 only holds exact values (the float32 products inside an emulated
  FMA, and the uint8 kernel's integer sums past 2**24).

Weights follow pytorch/pytorch aten/src/ATen/native/cpu/UpSampleKernel.cpp
(`HelperInterpBase::_compute_indices_min_size_weights_aa`, `_compute_index_ranges_int16_weights`,
`HelperInterpCubic::aa_filter` with a = -0.5; support `2 * scale` when downscaling and 2 when
upscaling: antialias=True uses this same kernel both ways, never the a = -0.75 bicubic of
antialias=False); the passes follow `separable_upsample_generic_Nd_kernel_impl` (width first, then
height, a pass skipped when that side keeps its size). Verified against torch 2.13 on x86-64 (AVX512,
AVX2 and DEFAULT kernels); torch's ARM (NEON) uint8 kernel was not checked.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from mmtok.errors import InvalidOptionError, UnsupportedInputError

KERNELS = ("uint8", "float32")
_A = -0.5  # Keys' cubic parameter torch uses with antialias=True (PIL's value)
_CHUNK_VALUES = 1 << 23  # pixel values resized together: bounds the working arrays to ~150 MB
_BLOCK = 4  # outputs per band of the uint8 kernel's weight matrix (narrow bands waste few zeros)
# Multiply-adds per BLAS call. OpenBLAS runs a product this small on the calling thread; larger ones go
# to its thread pool, which for products this size costs more than it gives, and on a busy machine
# (other processes, data-loader workers) its spinning threads made a 480p resize 80x slower.
_SINGLE_THREAD_MACS = 1 << 18


def resize_bicubic_aa(
    frames: np.ndarray, size: tuple[int, int], *, kernel: str = "uint8", fma: bool = True
) -> np.ndarray:
    """Resize uint8 frames (T, H, W, C) or one frame (H, W, C) to `size` = (height, width).

    Returns uint8 in the same layout. `kernel` picks which torchvision call to match (see the module
    docstring): "uint8" (transformers' video processors; exact everywhere) or "float32" (qwen-vl-utils;
    exact against torch's x86-64 AVX2/AVX512 builds, or its DEFAULT build with `fma=False`).
    """
    arr, single = _check_frames(frames)
    height, width = _check_size(size)
    if kernel not in KERNELS:
        raise InvalidOptionError(f"kernel {kernel!r} is not one of {', '.join(KERNELS)}")
    t, h, w, c = arr.shape
    if (height, width) == (h, w):  # torchvision returns the input untouched
        out = arr.copy()
        return out[0] if single else out
    out = np.empty((t, height, width, c), dtype=np.uint8)
    per_chunk = max(1, _CHUNK_VALUES // (c * max(h, height) * max(w, width)))
    for start in range(0, t, per_chunk):
        stop = min(t, start + per_chunk)
        out[start:stop] = _resize_chunk(arr[start:stop], height, width, kernel, fma)
    return out[0] if single else out


def _check_frames(frames) -> tuple[np.ndarray, bool]:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        what = f"array of {frames.dtype}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise UnsupportedInputError(
            f"frames to resize ({what})", frames, "a uint8 numpy array shaped (T, H, W, C) or (H, W, C)"
        )
    if frames.ndim not in (3, 4) or 0 in frames.shape:
        raise InvalidOptionError(
            f"frames to resize have shape {frames.shape}; pass a non-empty uint8 array shaped (T, H, W, C) "
            "or (H, W, C), channels last"
        )
    return (frames[None], True) if frames.ndim == 3 else (frames, False)


def _check_size(size) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in size)
        ok = (height, width) == tuple(size) and height > 0 and width > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InvalidOptionError(f"resize size {size!r} is not a (height, width) pair of positive integers")
    return height, width


def _resize_chunk(frames: np.ndarray, height: int, width: int, kernel: str, fma: bool) -> np.ndarray:
    """(t, H, W, C) uint8 -> (t, height, width, C) uint8, in the frames' own layout: each pass resamples
    axis 1 of a (batch, size, pixel) view, width as (t * H, W, C), then height as (t, H, width * C)."""
    t, h, w, c = frames.shape
    one_pass = _fixed_point_pass if kernel == "uint8" else _float_pass
    x = np.ascontiguousarray(frames, dtype=np.float32)
    if width != w:
        x = one_pass(x.reshape(t * h, w, c), width, fma)
    if height != h:
        x = one_pass(x.reshape(t, h, width * c), height, fma)
    x = x.reshape(t, height, width, c)
    if kernel == "float32":  # torchvision: clamp_(0, 255), round_() (half to even, as np.round), to(uint8)
        np.clip(x, 0, 255, out=x)
        np.round(x, out=x)
    return x.astype(np.uint8)


# --- filter weights -------------------------------------------------------------------------------


class _Taps(NamedTuple):
    xmin: np.ndarray  # (n_out,) int64: first input index of each output
    xsize: np.ndarray  # (n_out,) int64: number of taps used
    weights: np.ndarray  # (n_out, K) normalised weights, zero past xsize


def _filter_weights(n_in: int, n_out: int, dtype, fma: bool) -> _Taps:
    """`_compute_indices_min_size_weights_aa` for every output index at once, in `dtype` (torch's scalar_t:
    float32 for float input, float64 for the uint8 path), with C++'s promotions: a `scalar_t` times a
    double literal is computed in double and rounded when stored back into `scalar_t`."""
    f = np.dtype(dtype).type
    scale = f(n_in) / f(n_out)  # area_pixel_compute_scale: (scalar_t)input_size / output_size
    if scale >= 1.0:
        support = f(2.0 * np.float64(scale))  # (interp_size * 0.5) * scale
        invscale = f(1.0 / np.float64(scale))
    else:
        support, invscale = f(2.0), f(1.0)
    max_size = int(np.ceil(support)) * 2 + 1
    center = (np.float64(scale) * (np.arange(n_out) + 0.5)).astype(dtype)
    # static_cast<int64_t> truncates toward zero
    xmin = np.maximum(np.trunc((center - support).astype(np.float64) + 0.5).astype(np.int64), 0)
    xend = np.trunc((center + support).astype(np.float64) + 0.5).astype(np.int64)
    xsize = np.clip(np.minimum(xend, n_in) - xmin, 0, max_size)
    j = np.arange(max_size)
    # (j + xmin - center + 0.5) * invscale: int64 -> scalar_t, minus center in scalar_t, then double
    offset = (xmin[:, None] + j).astype(dtype) - center[:, None]
    x = ((offset.astype(np.float64) + 0.5) * np.float64(invscale)).astype(dtype)
    used = j < xsize[:, None]
    w = np.where(used, _cubic(x, fma), f(0))
    total = np.zeros(n_out, dtype)
    for k in range(max_size):  # total_w += w, in order
        total += w[:, k]
    w = np.divide(w, total[:, None], out=w, where=total[:, None] != 0)
    return _Taps(xmin, xsize, w)


def _cubic(x: np.ndarray, fma: bool) -> np.ndarray:
    """HelperInterpCubic::aa_filter (a = -0.5) in x's dtype. With `fma`, the multiply-adds are fused
    the way GCC contracts them in torch's AVX2/AVX512 kernels:
    cubic_convolution1 = ((a + 2) * x - (a + 3)) * x * x + 1 and
    cubic_convolution2 = ((a * x - 5a) * x + 8a) * x - 4a, each `u * x + v` one rounding."""
    f = x.dtype.type
    x = np.abs(x)
    if fma:
        madd = _fma32 if x.dtype == np.float32 else _fma64
        near = madd(madd(f(_A + 2), x, f(-(_A + 3))) * x, x, f(1))
        far = madd(madd(madd(f(_A), x, f(-5 * _A)), x, f(8 * _A)), x, f(-4 * _A))
    else:
        near = ((f(_A + 2) * x - f(_A + 3)) * x) * x + f(1)
        far = ((f(_A) * x - f(5 * _A)) * x + f(8 * _A)) * x - f(4 * _A)
    return np.where(x < 1, near, np.where(x < 2, far, f(0))).astype(x.dtype)


# Fused multiply-add emulation. numpy has no fma, and rounding a float64 sum to float32 can round twice;
# summing with round-to-odd first makes the final rounding the only one (Boldo & Melquiond, "Emulation
# of FMA and correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 2008).


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _add_round_to_odd(a, b):
    """a + b rounded to odd (float64): the nearest neighbour with an odd last bit when inexact."""
    s, err = _two_sum(a, b)
    s = np.array(s, dtype=np.float64)
    even = (s.view(np.int64) & 1) == 0
    fix = even & (err != 0)
    s[fix] = np.nextafter(s[fix], np.where(err[fix] > 0, np.inf, -np.inf))
    return s


def _fma32(a, b, c, out=None, wide=None, low=None) -> np.ndarray:
    """float32 a * b + c with one rounding. The float64 product of two float32 values is exact and the
    float64 sum is then rounded to float32; that second rounding can only be wrong when the first left
    the sum exactly halfway between two float32 values, which is checked for and mended (round to odd).
    Values here are far from float32's subnormal range, where the halfway pattern would differ.
    `wide` (float64) and `low` (int64) are optional scratch arrays of the result's shape: reusing them
    saves the page faults of fresh large arrays."""
    shape = np.broadcast_shapes(np.shape(a), np.shape(b), np.shape(c))
    wide = np.empty(shape, dtype=np.float64) if wide is None else wide
    low = np.empty(shape, dtype=np.int64) if low is None else low
    np.multiply(a, b, out=wide, dtype=np.float64)
    wide += c
    np.bitwise_and(wide.view(np.int64), 0x1FFFFFFF, out=low)  # the 29 bits float32 drops
    halfway = np.flatnonzero(low == 0x10000000)  # 1 then 28 zeros (often exact sums: nothing to mend)
    if halfway.size:
        at = np.unravel_index(halfway, shape)
        a, b, c = (np.broadcast_to(v, shape)[at].astype(np.float64) for v in (a, b, c))
        wide.reshape(-1)[halfway] = _add_round_to_odd(a * b, c)
    if out is None:
        return wide.astype(np.float32)
    np.copyto(out, wide, casting="same_kind")
    return out


def _fma64(a, b, c):
    """float64 a * b + c with one rounding: exact product by Veltkamp/Dekker splitting, then
    RN(th + RO(tl + ul)) from the paper above."""
    a, b, c = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c)))
    uh = a * b
    split = 134217729.0  # 2**27 + 1
    ta, tb = split * a, split * b
    ah, bh = ta - (ta - a), tb - (tb - b)
    al, bl = a - ah, b - bh
    ul = ((ah * bh - uh) + ah * bl + al * bh) + al * bl
    th, tl = _two_sum(c, uh)
    return th + _add_round_to_odd(tl, ul)


# --- uint8 kernel: fixed point --------------------------------------------------------------------


class _FixedPlan(NamedTuple):
    blocks: tuple  # (out_start, out_stop, in_start, in_stop, weights (rows, in_stop - in_start))
    precision: int  # weights_precision: weights are int16 with this many fraction bits
    dtype: type  # float32 when every partial sum stays below 2**24 (exact), else float64


@lru_cache(maxsize=64)
def _fixed_plan(n_in: int, n_out: int, fma: bool) -> _FixedPlan:
    """`_compute_index_ranges_int16_weights`: double weights, scaled by 2**p and rounded half away from
    zero to int16, p the first precision at which round(max weight * 2**(p + 1)) reaches 2**15 (at most
    22), so the largest weight keeps a spare bit. Then cut into bands of `_BLOCK` outputs for matmul."""
    taps = _filter_weights(n_in, n_out, np.float64, fma)
    wt_max = float(taps.weights.max())
    precision = 0
    while precision < 22 and int(0.5 + wt_max * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    v = taps.weights * (1 << precision)
    q = np.where(v < 0, np.trunc(v - 0.5), np.trunc(v + 0.5))  # (int)(v -/+ 0.5)
    # Pixels are 0..255, so any partial sum lies within 255 * (sum of negative, sum of positive weights).
    reach = 255 * max(np.where(q > 0, q, 0).sum(1).max(), -np.where(q < 0, q, 0).sum(1).min())
    dtype = np.float32 if reach + (1 << precision) < (1 << 24) else np.float64
    blocks = []
    for start in range(0, n_out, _BLOCK):
        stop = min(n_out, start + _BLOCK)
        lo = int(taps.xmin[start:stop].min())
        hi = int((taps.xmin[start:stop] + taps.xsize[start:stop]).max())
        dense = np.zeros((stop - start, hi - lo), dtype=dtype)
        for r, o in enumerate(range(start, stop)):
            a, n = int(taps.xmin[o]) - lo, int(taps.xsize[o])
            dense[r, a : a + n] = q[o, :n]
        blocks.append((start, stop, lo, hi, dense))
    return _FixedPlan(tuple(blocks), precision, dtype)


@lru_cache(maxsize=64)
def _kron_blocks(n_in: int, n_out: int, fma: bool, channels: int) -> tuple:
    """The plan's blocks as right-hand matrices over (position, channel) pairs: kron(block.T, I_channels)."""
    plan = _fixed_plan(n_in, n_out, fma)
    eye = np.eye(channels, dtype=plan.dtype)
    return tuple((lo * channels, hi * channels, np.kron(dense.T, eye)) for _, _, lo, hi, dense in plan.blocks)


def _fixed_point_pass(x: np.ndarray, n_out: int, fma: bool = True) -> np.ndarray:
    """One uint8 pass over axis 1: (batch, n_in, M) float32 holding 0..255 -> (batch, n_out, M) likewise.

    Computes clamp((2**(p-1) + sum(pixel * q)) >> p, 0, 255) exactly: every product and partial sum is
    an integer the matrix product's dtype holds without rounding, whatever order BLAS sums in. `fma`
    only reaches the double weights (FMA moves them by an ulp; no int16 weight changed over all sizes
    1..259 -> 1..259)."""
    batch, n_in, m = x.shape
    plan = _fixed_plan(n_in, n_out, fma)
    x = x.astype(plan.dtype, copy=False)
    acc = np.empty((batch, n_out, m), dtype=plan.dtype)
    if m <= 4:  # the channels of one row: multiply the flat (n_in * m) rows by kron(weights, I_m)
        flat_in, flat_out = x.reshape(batch, n_in * m), acc.reshape(batch, n_out * m)
        for (start, stop, *_), (lo, hi, weights) in zip(plan.blocks, _kron_blocks(n_in, n_out, fma, m)):
            step = max(1, _SINGLE_THREAD_MACS // weights.size)
            for r in range(0, batch, step):
                np.matmul(flat_in[r : r + step, lo:hi], weights, out=flat_out[r : r + step, start * m : stop * m])
    else:  # whole rows: weights (rows, band) times each batch item's (band, M) rows
        for start, stop, lo, hi, dense in plan.blocks:
            step = max(1, _SINGLE_THREAD_MACS // dense.size)
            for b in range(batch):
                for col in range(0, m, step):
                    cols = slice(col, col + step)
                    np.matmul(dense, x[b, lo:hi, cols], out=acc[b, start:stop, cols])
    # (acc + 2**(p-1)) >> p == floor(acc / 2**p + 1/2); both steps are exact in this dtype
    acc *= 2.0 ** -plan.precision
    acc += 0.5
    np.floor(acc, out=acc)
    np.clip(acc, 0, 255, out=acc)
    return acc.astype(np.float32, copy=False)


# --- float32 kernel: in-order float sums ----------------------------------------------------------


class _FloatPlan(NamedTuple):
    index: np.ndarray  # (n_out, K) input row of each tap (clipped; its weight is 0 past xsize)
    added: np.ndarray  # (n_out, K) float32 weights of taps whose rounded product is added
    fused: np.ndarray  # (n_out, K) float32 weights of taps that are fused multiply-added
    fused_rows: tuple  # per tap: the outputs whose tap is fused (an int array, maybe empty)


@lru_cache(maxsize=64)
def _float_plan(n_in: int, n_out: int, fma: bool) -> _FloatPlan:
    taps = _filter_weights(n_in, n_out, np.float32, fma)
    w = taps.weights
    k = np.arange(w.shape[1])
    index = np.minimum(taps.xmin[:, None] + k, n_in - 1)
    if fma:
        # `output = t0 * w0; for j in 1..xsize-1: output += tj * wj`, vectorised by GCC as an in-order
        # reduction over 8 lanes, then 4, with the remaining iterations left scalar (and contracted).
        n = np.maximum(taps.xsize - 1, 0)
        vectorised = n // 8 * 8 + np.where(n % 8 >= 4, 4, 0)
        fused_mask = (k[None, :] > vectorised[:, None]) & (k[None, :] >= 1)
    else:
        fused_mask = np.zeros(w.shape, dtype=bool)
    added = np.where(fused_mask, np.float32(0), w)
    fused = np.where(fused_mask, w, np.float32(0))
    fused_rows = tuple(np.flatnonzero(fused_mask[:, j] & (fused[:, j] != 0)) for j in k)
    return _FloatPlan(index, added, fused, fused_rows)


def _float_pass(x: np.ndarray, n_out: int, fma: bool = True) -> np.ndarray:
    """One float32 pass over axis 1: (batch, n_in, M) -> (batch, n_out, M), each output summed tap by tap
    in torch's order (`interpolate_aa_single_dim`); the loop runs over taps, numpy over pixels."""
    plan = _float_plan(x.shape[1], n_out, fma)
    acc = np.take(x, plan.index[:, 0], axis=1)
    acc *= plan.added[:, :1]  # output = t0 * w0
    src, prod = np.empty_like(acc), np.empty_like(acc)
    wide = low = None  # float64 / int64 scratch for fused taps, allocated once when first needed
    for j in range(1, plan.index.shape[1]):
        added, fused = plan.added[:, j : j + 1], plan.fused_rows[j]
        if not (fused.size or added.any()):
            continue
        np.take(x, plan.index[:, j], axis=1, out=src)
        if added.any():
            np.multiply(src, added, out=prod)  # rounded to float32, then added: two roundings
            acc += prod
        if fused.size * 4 > n_out:  # most outputs: fuse everywhere, a zero weight leaves acc as it is
            if wide is None:
                wide, low = np.empty(acc.shape, dtype=np.float64), np.empty(acc.shape, dtype=np.int64)
            _fma32(src, plan.fused[:, j : j + 1], acc, out=acc, wide=wide, low=low)
        elif fused.size:
            acc[:, fused] = _fma32(src[:, fused], plan.fused[fused, j : j + 1], acc[:, fused])
    return acc
