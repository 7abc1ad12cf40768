"""Batch throughput over cores: mmtok's Qwen2-VL preprocess_images with workers=1 and workers=N.

    python bench/workers.py [--repeat N] [--workers N] [--processes]

For small photos and 1080p JPEGs (encoded bytes, decode included) it prints images/s for one worker
and for N (default: every core), and the speed-up (target: >= 1.8x on 2 cores). --processes also
times a spawn process pool doing the same per-image work, the design mmtok.parallel measured and
rejected (each image's float32 rows are pickled back to the parent). Outputs are checked identical
before timing. The load average is printed: other processes on the machine lower the speed-up.
"""

from __future__ import annotations

import argparse
import io
import os
import time
import warnings

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_batches():
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]

    def encode(images):
        out = []
        for im in images:
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            out.append(buf.getvalue())
        return out

    small = encode([Image.fromarray(p) for p in photos])
    hd = encode([Image.fromarray(p).resize((1920, 1080), Image.Resampling.BICUBIC) for p in photos[:4]])
    return [("small photos (~500 px)", small * 8), ("1080p", hd * 4)]


def best_time(fn, repeat: int) -> tuple[float, float]:
    """Best wall time of `repeat` runs, and that run's CPU time over wall time (how many cores this
    process kept busy: near N when nothing else competes for the cores)."""
    best, busy = float("inf"), 0.0
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, busy = wall, (time.process_time() - cpu) / wall
    return best, busy


def _pixels_of_one(image):
    import mmtok

    return mmtok.get_processor("qwen2-vl").family.preprocess_images([image])[0]["pixel_values"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--processes", action="store_true", help="also time a spawn process pool")
    args = parser.parse_args()

    import numpy as np

    import mmtok

    processor = mmtok.get_processor("qwen2-vl")
    print(f"cores: {os.cpu_count()}   load before: {os.getloadavg()[0]:.2f}")
    for name, batch in make_batches():
        one = processor.preprocess_images(batch)
        many = processor.preprocess_images(batch, workers=args.workers)
        assert np.array_equal(one["pixel_values"], many["pixel_values"]) and one.plans == many.plans
        # interleaved, so that a burst of load from other processes hits both settings alike
        t1 = tn = float("inf")
        for _ in range(args.repeat):
            t1 = min(t1, best_time(lambda: processor.preprocess_images(batch), 1)[0])
            t, b = best_time(lambda: processor.preprocess_images(batch, workers=args.workers), 1)
            tn, busy = (t, b) if t < tn else (tn, busy)
        line = (
            f"{name:24s} {len(batch):3d} images   workers=1 {len(batch) / t1:7.1f}/s   "
            f"workers={args.workers} {len(batch) / tn:7.1f}/s   speed-up {t1 / tn:.2f}x (cpu/wall {busy:.2f})"
        )
        if args.processes:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(_pixels_of_one, batch[: args.workers]))  # start the workers, import mmtok

                def run():
                    return np.concatenate(list(pool.map(_pixels_of_one, batch)), axis=0)

                tp, _ = best_time(run, args.repeat)
            line += f"   processes {len(batch) / tp:7.1f}/s ({t1 / tp:.2f}x)"
        print(line, flush=True)
    print(f"load after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} (1, 5, 15 min)")


if __name__ == "__main__":
    main()
