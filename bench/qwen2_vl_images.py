"""mmtok vs transformers' Qwen2-VL image processor, side by side in one process on the same inputs.

    python bench/qwen2_vl_images.py [--repeat N] [--quick]

For each image class it prints images/s for the reference (Qwen2VLImageProcessorPil, the PIL/numpy
backend) and for mmtok, and their ratio; once from decoded PIL images (decode excluded) and once from
files (decode included). Outputs are checked to be bit-identical before anything is timed.
Single-threaded: both run on one core in this process.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_inputs(quick: bool):
    """(name, [encoded bytes, ...], format) per class, from scikit-image's sample photos."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]
    small = [Image.fromarray(p) for p in photos]

    def enlarge(size):
        return [Image.fromarray(p).resize(size, Image.Resampling.BICUBIC) for p in photos[:2]]

    def encode(images, fmt, **kw):
        out = []
        for im in images:
            buf = io.BytesIO()
            im.save(buf, fmt, **kw)
            out.append(buf.getvalue())
        return out

    classes = [
        ("small photos (~500 px, JPEG)", encode(small, "JPEG", quality=90)),
        ("1080p (1920x1080, JPEG)", encode(enlarge((1920, 1080)), "JPEG", quality=90)),
    ]
    if not quick:
        classes += [
            ("12 MP (4000x3000, JPEG)", encode(enlarge((4000, 3000))[:1], "JPEG", quality=90)),
            ("large PNG (2560x1600)", encode(enlarge((2560, 1600))[:1], "PNG")),
        ]
    return classes


def best_rate(fn, items, repeat: int) -> float:
    """Images per second, best of `repeat` passes over `items`."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small and 1080p classes only")
    args = parser.parse_args()

    import PIL
    import transformers
    from PIL import Image
    from transformers.image_utils import load_image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    import mmtok

    limits = {"min_pixels": 3136, "max_pixels": 12845056}
    ref = Qwen2VLImageProcessorPil(**limits)
    proc = mmtok.get_processor("qwen2-vl", **limits)

    print(f"mmtok {mmtok.__version__} | transformers {transformers.__version__} | Pillow {PIL.__version__} | numpy {np.__version__}")
    print(f"{platform.processor() or platform.machine()} | Python {platform.python_version()} | one process, one thread")
    print()
    header = f"{'image class':32} {'mode':16} {'reference img/s':>16} {'mmtok img/s':>12} {'ratio':>7}"
    print(header)
    print("-" * len(header))

    with tempfile.TemporaryDirectory() as tmp:
        for name, blobs in make_inputs(args.quick):
            paths = []
            for i, blob in enumerate(blobs):
                path = os.path.join(tmp, f"{abs(hash(name))}_{i}.img")
                with open(path, "wb") as f:
                    f.write(blob)
                paths.append(path)
            decoded = [load_image(p) for p in paths]
            for image in decoded:  # parity before timing
                a = ref(image, return_tensors="np")["pixel_values"]
                b = proc.preprocess_images([image])["pixel_values"]
                assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), name
            rows = [
                ("decode excluded", decoded, lambda im: ref(im, return_tensors="np"), lambda im: proc.preprocess_images([im])),
                ("decode included", paths, lambda p: ref(load_image(p), return_tensors="np"), lambda p: proc.preprocess_images([p])),
            ]
            for mode, items, ref_fn, mine_fn in rows:
                r = best_rate(ref_fn, items, args.repeat)
                m = best_rate(mine_fn, items, args.repeat)
                print(f"{name:32} {mode:16} {r:16.1f} {m:12.1f} {m / r:6.2f}x")
            floor = best_rate(lambda p: Image.open(p).load(), paths, args.repeat)
            print(f"{name:32} {'floor: decode':16} {'':16} {floor:12.1f}")


if __name__ == "__main__":
    main()
