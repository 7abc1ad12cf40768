"""Peak memory of mmtok's Qwen2-VL processor: one 12 MP JPEG, and a batch of 64 photos.

    python bench/memory.py [--workers N]

Each case runs in a fresh subprocess (so one case's peak does not hide the next): it reads the encoded
files into memory, notes its resident size, runs `processor.preprocess_images`, and reports the peak
resident size (getrusage ru_maxrss) above that baseline, and tracemalloc's peak (numpy's arrays;
Pillow's image buffers are not traced). The peak is printed beside the output tensor (pixel_values)
and the decoded image (height x width x 3 bytes; for a batch, its largest image, since one image is
decoded at a time per worker). Target: peak - decoded <= 2 x output.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, tracemalloc
import numpy as np, PIL.Image
import mmtok
paths, workers = json.loads(sys.argv[1]), int(sys.argv[2])
blobs = [open(p, "rb").read() for p in paths]
processor = mmtok.get_processor("qwen2-vl")


def rss():  # resident bytes now (statm: pages)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


base = rss()
base_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tracemalloc.start()
out = processor.preprocess_images(blobs, workers=workers)
traced = tracemalloc.get_traced_memory()[1]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
decoded = max(p.size[0] * p.size[1] * 3 for p in out.plans)
print(json.dumps({"base": base, "base_max": base_max, "peak": peak, "traced": traced,
                  "output": out["pixel_values"].nbytes, "decoded": decoded, "images": len(paths)}))
"""


def make_files(folder: str) -> dict[str, list[str]]:
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]

    def save(image, name):
        path = os.path.join(folder, name)
        image.save(path, "JPEG", quality=90)
        return path

    big = save(Image.fromarray(photos[0]).resize((4000, 3000), Image.Resampling.BICUBIC), "12mp.jpg")
    small = [save(Image.fromarray(p), f"photo{i}.jpg") for i, p in enumerate(photos)]
    return {"one 12 MP JPEG (4000x3000)": [big], "64 photos (~500 px)": [small[i % len(small)] for i in range(64)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    mb = 1 / 2**20
    with tempfile.TemporaryDirectory() as folder:
        cases = make_files(folder)
        print(f"load: {os.getloadavg()[0]:.2f}")
        for name, paths in cases.items():
            for workers in args.workers:
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, json.dumps(paths), str(workers)], capture_output=True, text=True
                )
                if done.returncode:
                    sys.exit(f"{name}, workers={workers} failed:\n{done.stderr}")
                r = json.loads(done.stdout.strip().splitlines()[-1])
                # ru_maxrss is the process's peak: if the call never rose above what importing had
                # reached, the call's own peak is only known to be at most that (flagged "<=")
                above = r["peak"] - r["base"]
                bound = "<=" if r["peak"] <= r["base_max"] else ""
                ratio = (above - r["decoded"]) / r["output"]
                print(
                    f"{name:28s} workers={workers}  output {r['output'] * mb:7.1f} MB  decoded {r['decoded'] * mb:6.1f} MB  "
                    f"peak above baseline {bound}{above * mb:7.1f} MB (numpy traced {r['traced'] * mb:7.1f} MB)  "
                    f"(peak - decoded) / output = {ratio:.2f} (target <= 2)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
