"""mmtok's numpy bicubic+antialias frame resize vs torch's, side by side in one process.

    python bench/resize_video_frames.py [--frames N] [--repeat N]

Resizes 1080p RGB frames to 560x1008 (a Qwen video frame size) both ways torchvision does it:
"uint8" (v2 resize on a CPU uint8 tensor: transformers' video processors) and "float32" (v1 resize:
qwen-vl-utils), and prints frames/s for torch and for mmtok, and their ratio. Outputs are checked to be
identical before anything is timed. Single-threaded: torch.set_num_threads(1) and one BLAS thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

SIZE = (560, 1008)


def make_frames(n: int) -> np.ndarray:
    """n 1080p frames from scikit-image's sample photos, upscaled with Pillow."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    return np.stack([np.asarray(Image.fromarray(photos[i % 4]).resize((1920, 1080))) for i in range(n)])


def torch_resize(torch, video, kernel: str):
    """torchvision's two calls, spelled out (torchvision is not installed): see tests/vision/test_resize_torch.py."""
    x = video if kernel == "uint8" else video.to(torch.float32)
    out = torch.nn.functional.interpolate(x, size=list(SIZE), mode="bicubic", align_corners=False, antialias=True)
    return out if kernel == "uint8" else torch.round(out.clamp(0, 255)).to(torch.uint8)


def best_seconds(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import torch

    from mmtok.vision.resize_torch import resize_bicubic_aa

    torch.set_num_threads(1)
    fma = torch.backends.cpu.get_cpu_capability() != "DEFAULT"
    frames = make_frames(args.frames)
    video = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__} "
          f"({torch.backends.cpu.get_cpu_capability()}), numpy {np.__version__}")
    print(f"{args.frames} frames 1080x1920 -> {SIZE[0]}x{SIZE[1]}, best of {args.repeat}")
    print(f"{'kernel':8}  {'torch fps':>10}  {'mmtok fps':>10}  {'mmtok/torch':>11}")
    for kernel in ("uint8", "float32"):
        expected = torch_resize(torch, video, kernel).permute(0, 2, 3, 1).numpy()
        got = resize_bicubic_aa(frames, SIZE, kernel=kernel, fma=fma)
        if not np.array_equal(got, expected):
            raise SystemExit(f"{kernel}: {int((got != expected).sum())} values differ from torch; not timing")
        t_torch = best_seconds(lambda: torch_resize(torch, video, kernel), args.repeat)
        t_mmtok = best_seconds(lambda: resize_bicubic_aa(frames, SIZE, kernel=kernel, fma=fma), args.repeat)
        n = args.frames
        print(f"{kernel:8}  {n / t_torch:10.1f}  {n / t_mmtok:10.1f}  {t_torch / t_mmtok:11.2f}")


if __name__ == "__main__":
    main()
