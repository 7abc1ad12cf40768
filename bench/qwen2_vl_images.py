"""mmtok vs transformers' image processors, side by side in one process on the same inputs.

    python bench/qwen2_vl_images.py [--repeat N] [--quick] [--families qwen2-vl,llava-next,internvl]

For each family and image class it prints images/s for the reference (transformers 5.23's
Pillow/numpy processors: Qwen2VLImageProcessorPil, LlavaNextImageProcessorPil, GotOcr2ImageProcessorPil
with crop_to_patches as InternVLProcessor calls it) and for mmtok, and their ratio; once from files
(decode included) and once from decoded PIL images (decode excluded). Two floors bound what any exact
implementation can reach: Pillow's decode alone, and decode plus the very Pillow resizes the family
does (same sizes, same filter, reducing_gap=None). `/floor` is a time divided by the floor's time:
decode + resize when decode is included, resize alone when it is excluded. Outputs are checked to be
bit-identical before anything is timed. One thread; the best of --repeat passes, passes interleaved.
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
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# llava-hf/llava-v1.6-mistral-7b-hf preprocessor_config.json (as tests/reference_llava_next.py)
LLAVA_NEXT_KWARGS = {
    "size": {"shortest_edge": 336},
    "crop_size": {"height": 336, "width": 336},
    "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
    "resample": 3,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}
# OpenGVLab/InternVL3-1B-hf preprocessor_config.json (as tests/families/test_internvl.py)
INTERNVL_KWARGS = {
    "size": {"height": 448, "width": 448},
    "crop_to_patches": False,
    "min_patches": 1,
    "max_patches": 12,
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
}
QWEN_LIMITS = {"min_pixels": 3136, "max_pixels": 12845056}


def make_inputs(quick: bool):
    """(name, [encoded bytes, ...]) per class, from scikit-image's sample photos."""
    from PIL import Image
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry()]

    def enlarge(size, n=2):
        return [Image.fromarray(p).resize(size, Image.Resampling.BICUBIC) for p in photos[:n]]

    def encode(images, fmt, **kw):
        out = []
        for im in images:
            buf = io.BytesIO()
            im.save(buf, fmt, **kw)
            out.append(buf.getvalue())
        return out

    classes = [
        ("small photos (~500 px JPEG)", encode([Image.fromarray(p) for p in photos], "JPEG", quality=90)),
        ("1080p (1920x1080 JPEG)", encode(enlarge((1920, 1080)), "JPEG", quality=90)),
    ]
    if not quick:
        classes += [
            ("12 MP (4000x3000 JPEG)", encode(enlarge((4000, 3000), 1), "JPEG", quality=90)),
            ("large PNG (2560x1600)", encode(enlarge((2560, 1600), 1), "PNG")),
        ]
    return classes


def references():
    """family name -> (mmtok family, reference callable on one PIL image, Pillow resize sizes of a plan)."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from mmtok.vision.families import get_family

    qwen = Qwen2VLImageProcessorPil(**QWEN_LIMITS)
    llava = LlavaNextImageProcessorPil(**LLAVA_NEXT_KWARGS)
    intern = GotOcr2ImageProcessorPil(**INTERNVL_KWARGS)

    def internvl_sizes(plan):
        rows, cols = plan.details["grid"]
        return [(448 * rows, 448 * cols)] + ([(448, 448)] if plan.details["thumbnail"] else [])

    return {
        "qwen2-vl": (get_family("qwen2-vl", **QWEN_LIMITS), lambda im: qwen(im, return_tensors="np"),
                     lambda plan: [plan.resized]),
        "llava-next": (get_family("llava-next"), lambda im: llava(im, return_tensors="np"),
                       lambda plan: [(336, 336), tuple(plan.details["fitted"])]),
        "internvl": (get_family("internvl"), lambda im: intern([im], crop_to_patches=True, return_tensors="np"),
                     internvl_sizes),
    }  # fmt: skip


def best_times(fns: dict, items, repeat: int) -> dict:
    """Seconds per image for each callable, best of `repeat` passes; passes interleaved so that a burst
    of load from other processes hits every contender alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            for item in items:
                fn(item)
            best[key] = min(best[key], (time.perf_counter() - start) / len(items))
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu} | {os.cpu_count()} cores | load average {load}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small and 1080p classes only")
    parser.add_argument("--families", default="qwen2-vl,llava-next,internvl")
    args = parser.parse_args()

    import PIL
    import transformers
    from PIL import Image
    from transformers.image_utils import load_image

    import mmtok
    from mmtok.vision import io as mio
    from mmtok.vision import pixels

    refs = references()
    print(f"mmtok {mmtok.__version__} | transformers {transformers.__version__} | Pillow {PIL.__version__} | "
          f"numpy {np.__version__} | Python {platform.python_version()}")  # fmt: skip
    print(f"{machine()} | one process, one thread")
    print()
    header = (f"{'family':10} {'image class':28} {'decode':8} {'ref img/s':>9} {'mmtok img/s':>11} {'ratio':>6} "
              f"{'floor img/s':>11} {'ref/floor':>9} {'mmtok/floor':>11} {'mmtok/+out':>10}")  # fmt: skip
    print(header)
    print("-" * len(header))

    with tempfile.TemporaryDirectory() as tmp:
        for c, (name, blobs) in enumerate(make_inputs(args.quick)):
            paths = []
            for i, blob in enumerate(blobs):
                paths.append(os.path.join(tmp, f"{c}_{i}.img"))
                with open(paths[-1], "wb") as f:
                    f.write(blob)
            decoded = [load_image(p) for p in paths]
            t = best_times({"decode": lambda p: Image.open(p).load()}, paths, args.repeat)
            print(f"{'(Pillow)':10} {name:28} {'floor':8} {'':9} {'':11} {'':6} {1 / t['decode']:11.1f}")
            for family_name in args.families.split(","):
                family, ref, resizes = refs[family_name]
                plans = [family.plan_size((im.height, im.width)) for im in decoded]
                shapes = {}
                for image in decoded:  # parity before timing
                    a = np.asarray(ref(image)["pixel_values"])
                    b = family.preprocess_images([image])[0]["pixel_values"]
                    assert a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)), (family_name, name)
                    shapes[id(image)] = b.shape
                sizes = {id(im): resizes(plan) for im, plan in zip(decoded, plans)}

                def resize_only(im):
                    for size in sizes[id(im)]:
                        pixels.resize_bicubic(im, size)

                def decode_resize(i):
                    im = mio.load_rgb(paths[i])
                    for size in sizes[id(decoded[i])]:
                        pixels.resize_bicubic(im, size)

                def write_output(im):
                    np.empty(shapes[id(im)], np.float32).fill(0.0)

                excl = best_times({"ref": ref, "mine": lambda im: family.preprocess_images([im]), "floor": resize_only,
                                   "write": write_output}, decoded, args.repeat)  # fmt: skip
                incl = best_times({"ref": lambda i: ref(load_image(paths[i])),
                                   "mine": lambda i: family.preprocess_images([paths[i]]), "floor": decode_resize,
                                   "write": lambda i: write_output(decoded[i])},
                                  range(len(paths)), args.repeat)  # fmt: skip
                for mode, t in (("included", incl), ("excluded", excl)):
                    print(f"{family_name:10} {name:28} {mode:8} {1 / t['ref']:9.1f} {1 / t['mine']:11.1f} "
                          f"{t['ref'] / t['mine']:5.2f}x {1 / t['floor']:11.1f} {t['ref'] / t['floor']:8.2f}x "
                          f"{t['mine'] / t['floor']:10.2f}x {t['mine'] / (t['floor'] + t['write']):9.2f}x")  # fmt: skip
    print()
    print("floor: 'included' rows = Pillow decode + the family's Pillow resizes; 'excluded' rows = the resizes alone")
    print("mmtok/+out: mmtok's time over (floor + writing a fresh float32 array of the output's shape once), the")
    print("            least any exact path must also do, since the output itself has to be written to memory")


if __name__ == "__main__":
    main()
