"""mmtok's header reader vs Pillow's lazy open, side by side in one process on the same files.

    python bench/headers.py [--files N] [--repeat N] [--model NAME]

Builds a folder of small JPEG, PNG and WebP files (crops of scikit-image's sample photos at random
sizes, a quarter of the JPEGs with an EXIF orientation), checks that `read_header(p).stored_size`
agrees with `PIL.Image.open(p).size` on every file, then times over the whole folder, files/s, best
of `--repeat` passes, per format and overall:

* Pillow: `with Image.open(p) as im: im.size` (lazy: the header only),
* mmtok read_header: `read_header(p).stored_size`,
* mmtok plan_image: `mmtok.plan_image(model, p).tokens` (header + EXIF orientation + the family's
  arithmetic: what counting costs through the library),

and, on the whole folder, `mmtok count --json --model NAME FOLDER` end to end (folder walk, plans,
one JSON line per file to /dev/null), in this process through the CLI's `main`, against the same
walk plus Pillow's lazy open. Ratios are against Pillow; the functions' passes take turns.
Single-threaded and pinned to one core when the OS allows it. The page cache is warm for all (each
pass reads the same files).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
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


def best_rates(fns, paths: list[str], repeat: int) -> list[float]:
    """Files/s of each fn over `paths`, best of `repeat` passes; the passes of the functions take turns,
    so that a change in the machine's load (other processes, clock speed) hits them all alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for p in paths:
                fn(p)
            best[i] = min(best[i], time.perf_counter() - start)
    return [len(paths) / b for b in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default="qwen2-vl")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    from PIL import Image

    import mmtok
    from mmtok.cli.main import main as cli_main
    from mmtok.vision.headers import read_header

    def pillow_size(p):
        with Image.open(p) as im:
            return im.size

    def mmtok_size(p):
        return read_header(p).stored_size

    def mmtok_plan(p):
        return mmtok.plan_image(args.model, p).tokens

    def count_folder(folder: str) -> None:
        saved = sys.stdout, sys.stderr
        with open(os.devnull, "w") as sink:
            sys.stdout = sys.stderr = sink
            try:
                assert cli_main(["count", "--json", "--model", args.model, folder]) == 0
            finally:
                sys.stdout, sys.stderr = saved

    with tempfile.TemporaryDirectory() as tmp:
        paths = build(Path(tmp), args.files)
        total = sum(p.stat().st_size for p in paths)
        for p in paths:  # agreement first
            assert mmtok_size(p) == pillow_size(p)[::-1], p
            mmtok_plan(p)
        print(
            f"{len(paths)} files, {total / len(paths) / 1024:.1f} KiB on average; Python {platform.python_version()}, "
            f"Pillow {Image.__version__}, mmtok {mmtok.__version__}, model {args.model}; best of {args.repeat} "
            f"passes, one core; load {os.getloadavg()[0]:.2f}"
        )
        print(f"{'files':<8} {'Pillow open().size':>20} {'mmtok read_header':>24} {'mmtok plan_image':>24}")
        groups = [(s, [str(p) for p in paths if p.suffix == s]) for s in (".jpg", ".png", ".webp")]
        for label, group in [*groups, ("all", [str(p) for p in paths])]:
            theirs, header, plan = best_rates([pillow_size, mmtok_size, mmtok_plan], group, args.repeat)
            print(
                f"{label:<8} {theirs:>16,.0f} f/s {header:>14,.0f} f/s {header / theirs:>5.1f}x"
                f" {plan:>14,.0f} f/s {plan / theirs:>5.1f}x"
            )
        def pillow_folder(folder: str) -> None:  # the same walk as `mmtok count`, then Pillow on each file
            from mmtok.cli.count import iter_files

            for p in iter_files([folder]):
                pillow_size(p)

        theirs, count = (r * len(paths) for r in best_rates([pillow_folder, count_folder], [tmp], args.repeat))
        print(
            f"whole folder, walk included: Pillow {theirs:,.0f} f/s; `mmtok count --json` (CLI main, JSON lines to "
            f"/dev/null) {count:,.0f} f/s, {count / theirs:.1f}x"
        )


if __name__ == "__main__":
    main()
