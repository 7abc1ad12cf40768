"""`mmtok data stats` throughput: records measured per second from image headers, on 1 and 2 workers.

    python bench/data_stats.py [--records 100000] [--images 300] [--model qwen2-vl] [--profile]

Builds, in a temporary folder, `--images` small JPEG / PNG / WebP files of varied sizes (crops of
scikit-image's sample photos) and an ms-swift-format JSONL of `--records` records, each with 1-3
`<image>` tags and a user text of lognormal length (median ~60 words, up to ~1,500) plus an answer,
and runs the stats pipeline on it: mmtok.datasets.runner.run(dataset, RecordTask(models=[model],
media="header"), keep_columns=(the length columns, image_sizes)) followed by
mmtok.datasets.stats.compare, with workers=1 and workers=2 (local engine: spawn processes). Prints
records/s and the speed-up. --profile runs cProfile over a single-process pass of 5,000 records
and prints the 25 most expensive functions (cumulative).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = (
    "the a of and to in is that for it with as on was by this are be at from or an which image picture shows "
    "describe person people left right top bottom red blue green white black small large two three table car "
    "street building sky tree dog cat water man woman child holding standing sitting next behind front near"
).split()


def build_images(root: Path, count: int, seed: int = 0) -> list[str]:
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(p).convert("RGB") for p in (data.astronaut(), data.chelsea(), data.coffee(), data.rocket())]
    names = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = (int(v) for v in rng.integers(32, 1600, 2))
        image = photo.resize((w, h)) if i % 5 == 0 else photo.crop((0, 0, min(w, photo.width), min(h, photo.height)))
        kind = ("jpg", "png", "webp")[i % 3]
        name = f"images/{i:04d}.{kind}"
        image.save(root / name, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[kind], **({"quality": 80} if kind != "png" else {}))
        names.append(name)
    return names


def build_dataset(path: Path, images: list[str], records: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    n_words = np.clip(rng.lognormal(4.1, 0.9, records), 3, 1500).astype(int)
    n_answer = np.clip(rng.lognormal(3.5, 0.8, records), 1, 600).astype(int)
    n_images = rng.integers(1, 4, records)
    words = np.array(WORDS)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(records):
            picks = [images[j] for j in rng.integers(0, len(images), n_images[i])]
            question = " ".join(words[rng.integers(0, len(words), n_words[i])])
            answer = " ".join(words[rng.integers(0, len(words), n_answer[i])])
            record = {
                "messages": [
                    {"role": "user", "content": "<image>" * len(picks) + question.capitalize() + "?"},
                    {"role": "assistant", "content": answer.capitalize() + "."},
                ],
                "images": picks,
            }
            f.write(json.dumps(record) + "\n")


def stats_pass(dataset: Path, model: str, workers: int, batch_size: int) -> tuple[float, dict]:
    from mmtok.datasets.runner import run
    from mmtok.datasets.source import dataset_root
    from mmtok.datasets.stats import compare
    from mmtok.datasets.task import RecordTask

    start = time.perf_counter()
    task = RecordTask(models=[model], root=dataset_root(dataset), media="header")
    keep = tuple(f"{model}/{k}_tokens" for k in ("text", "visual", "total")) + ("image_sizes",)
    result = run(str(dataset), task, workers=workers, batch_size=batch_size, progress=False, keep_columns=keep)
    (stats,) = compare(result.columns, [model], 8192)
    elapsed = time.perf_counter() - start
    return elapsed, {"records": result.records, "rejected": result.rejected, "p50": stats.total.p50, "p99": stats.total.p99}


def profile(dataset: Path, model: str, records: int = 5000) -> None:
    import cProfile
    import pstats
    from itertools import islice

    from mmtok.datasets.source import dataset_root, iter_raw
    from mmtok.datasets.task import RecordTask

    raws = list(islice(iter_raw(dataset), records))
    task = RecordTask(models=[model], root=dataset_root(dataset), media="header")
    task({"line": [raws[0].line], "text": [raws[0].text]})  # build the processor outside the profile
    batch = {"line": [r.line for r in raws], "text": [r.text for r in raws]}
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    task(batch)
    profiler.disable()
    print(f"profile: {records:,} records in one process, {records / (time.perf_counter() - start):,.0f} records/s under cProfile")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--model", default="qwen2-vl")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores visible")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        start = time.perf_counter()
        images = build_images(root, args.images)
        dataset = root / "data.jsonl"
        build_dataset(dataset, images, args.records)
        size = dataset.stat().st_size
        print(f"built {args.records:,} records ({size / 1e6:.1f} MB) over {len(images)} images in {time.perf_counter() - start:.1f} s")
        if args.profile:
            profile(dataset, args.model)
            return
        times = {}
        for workers in (1, 2):
            elapsed, info = stats_pass(dataset, args.model, workers, args.batch_size)
            times[workers] = elapsed
            print(f"workers={workers}: {args.records / elapsed:,.0f} records/s ({elapsed:.1f} s; {info})")
        print(f"speed-up on 2 workers: {times[1] / times[2]:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
