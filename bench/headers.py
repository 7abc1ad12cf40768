"""mmtok's header reader vs Pillow's lazy open, side by side in one process on the same files.

    python bench/headers.py [--files N] [--repeat N]

Builds a folder of small JPEG, PNG and WebP files (crops of scikit-image's sample photos at random
sizes, a quarter of the JPEGs with an EXIF orientation), checks that `read_header(p).stored_size`
agrees with `PIL.Image.open(p).size` on every file, then times both over the whole folder: files/s,
best of `--repeat` passes, per format and overall. Single-threaded and pinned to one core when the
OS allows it. The page cache is warm for both (each pass reads the same files).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def build(root: Path, count: int, seed: int = 0) -> list[Path]:
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(p).convert("RGB") for p in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket())]
    exif = Image.Exif()
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = (int(v) for v in rng.integers(48, 640, 2))
        x, y = int(rng.integers(0, photo.width - 48)), int(rng.integers(0, photo.height - 48))
        image = photo.crop((x, y, x + w, y + h))  # may run past the photo: padded with black
        kind = ("jpg", "png", "webp")[i % 3]
        path = root / f"{i:05d}.{kind}"
        if kind == "jpg":
            options = {"quality": 85}
            if i % 4 == 0:
                exif[274] = int(rng.integers(1, 9))
                options["exif"] = exif.tobytes()
            image.save(path, "JPEG", **options)
        elif kind == "png":
            image.save(path, "PNG", compress_level=1)
        else:
            image.save(path, "WEBP", quality=80)
        paths.append(path)
    return paths


def best_rate(fn, paths: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        best = min(best, time.perf_counter() - start)
    return len(paths) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    from PIL import Image

    from mmtok.vision.headers import read_header

    def pillow_size(p):
        with Image.open(p) as im:
            return im.size

    def mmtok_size(p):
        return read_header(p).stored_size

    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp), args.files)
        total = sum(p.stat().st_size for p in paths)
        for p in paths:  # agreement first
            assert mmtok_size(p) == pillow_size(p)[::-1], p
        print(f"{len(paths)} files, {total / len(paths) / 1024:.1f} KiB on average; Python {platform.python_version()}, "
              f"Pillow {Image.__version__}, best of {args.repeat} passes, one core")
        print(f"{'files':<8} {'Pillow open().size':>20} {'mmtok read_header':>20} {'ratio':>7}")
        groups = [(s, [str(p) for p in paths if p.suffix == s]) for s in (".jpg", ".png", ".webp")]
        for label, group in [*groups, ("all", [str(p) for p in paths])]:
            theirs = best_rate(pillow_size, group, args.repeat)
            ours = best_rate(mmtok_size, group, args.repeat)
            print(f"{label:<8} {theirs:>16,.0f} f/s {ours:>16,.0f} f/s {ours / theirs:>6.1f}x")


if __name__ == "__main__":
    main()
