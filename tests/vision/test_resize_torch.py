"""mmtok.vision.resize_torch against torch's interpolate, called the way torchvision calls it.

torchvision is not installed (it would replace the CPU torch build), so the two torchvision entry points
the Qwen references use are spelled out below from their source, and run on torch 2.13:

* v2 `torchvision.transforms.v2.functional._geometry.resize_image` on a CPU uint8 tensor with BICUBIC
  (transformers' `TorchvisionBackend.resize`, hence the Qwen2-VL/Qwen3-VL video processors): uint8 is in
  `acceptable_dtypes` because `_do_native_uint8_resize_on_cpu(BICUBIC)` is True, so no cast: the tensor
  goes straight to `interpolate(..., mode="bicubic", align_corners=False, antialias=True)`.
* v1 `torchvision.transforms._functional_tensor.resize` (qwen-vl-utils' `fetch_video`): `_cast_squeeze_in`
  to float32, `interpolate`, `clamp(0, 255)` (bicubic on uint8), `_cast_squeeze_out`: `round`, `to(uint8)`.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mmtok.errors import InvalidOptionError, UnsupportedInputError  # noqa: E402
from mmtok.vision import resize_torch  # noqa: E402
from mmtok.vision.resize_torch import resize_bicubic_aa  # noqa: E402

CAPABILITY = torch.backends.cpu.get_cpu_capability()
# The float32 kernel's rounding is that of torch's x86-64 builds; elsewhere it is unverified.
X86_FMA = CAPABILITY in ("AVX2", "AVX512")
NOT_X86_FMA = f"float32 rounding verified on torch's x86-64 AVX2/AVX512 builds, not {CAPABILITY}"


def torchvision_v2_cpu(frames: np.ndarray, size) -> np.ndarray:
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()
    if tuple(size) == tuple(video.shape[-2:]):
        return frames
    out = torch.nn.functional.interpolate(video, size=list(size), mode="bicubic", align_corners=False, antialias=True)
    return out.permute(0, 2, 3, 1).numpy()


def torchvision_v1(frames: np.ndarray, size) -> np.ndarray:
    video = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous().to(torch.float32)
    out = torch.nn.functional.interpolate(video, size=list(size), mode="bicubic", align_corners=False, antialias=True)
    out = torch.round(out.clamp(min=0, max=255)).to(torch.uint8)
    return out.permute(0, 2, 3, 1).numpy()


REFERENCES = {"uint8": torchvision_v2_cpu, "float32": torchvision_v1}


def _photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {
        "astronaut": data.astronaut(),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "camera": data.camera()[:, :, None],  # one channel
    }


PHOTOS = _photos()


def _photo_sizes(h: int, w: int) -> list[tuple[int, int]]:
    return [
        (h // 2, w // 2),
        (round(h * 0.37), round(w * 0.71)),
        (h + 13, 2 * w),  # upscale
        (28, 28),  # strong downscale (the uint8 path's float64 sums)
        (h, w // 3),  # width pass only
        (2 * h + 1, w),  # height pass only
        (h * 3 // 2, w * 2 // 5),  # up in height, down in width
    ]


PHOTO_CASES = [(name, size) for name, img in PHOTOS.items() for size in _photo_sizes(*img.shape[:2])]


def _video(name: str) -> np.ndarray:
    """Three frames of a photo (as is, mirrored, rolled), so frames differ."""
    img = PHOTOS[name]
    return np.stack([img, img[:, ::-1], np.roll(img, 37, axis=1)])


def _assert_same(kernel: str, frames: np.ndarray, size, **kw) -> None:
    expected = REFERENCES[kernel](frames, size)
    got = resize_bicubic_aa(frames, size, kernel=kernel, **kw)
    assert got.dtype == np.uint8 and got.shape == expected.shape
    diff = got != expected
    assert not diff.any(), f"{int(diff.sum())} of {diff.size} values differ"


@pytest.mark.parametrize("name,size", PHOTO_CASES)
def test_uint8_kernel_is_torchvision_v2_on_photos(name, size):
    _assert_same("uint8", _video(name), size)


@pytest.mark.skipif(not X86_FMA, reason=NOT_X86_FMA)
@pytest.mark.parametrize("name,size", PHOTO_CASES)
def test_float32_kernel_is_torchvision_v1_on_photos(name, size):
    _assert_same("float32", _video(name), size)


RANDOM_CASES = [
    ((1, 1080, 1920, 3), (560, 1008)),  # 1080p frame, the common Qwen video size
    ((3, 480, 640, 3), (476, 644)),  # slight down in height, slight up in width
    ((2, 97, 131, 3), (56, 112)),
    ((2, 10, 10, 3), (56, 56)),  # upscale
    ((1, 2, 300, 3), (28, 140)),  # thin
    ((1, 300, 2, 3), (140, 28)),
    ((2, 64, 48, 4), (200, 7)),  # four channels
    ((1, 500, 700, 3), (28, 28)),
    ((1, 2000, 40, 3), (7, 40)),  # a 285x downscale: hundreds of taps
    ((4, 33, 17, 3), (33, 17)),  # same size: returned as is
]


@pytest.mark.parametrize("kernel", ["uint8", "float32"])
@pytest.mark.parametrize("shape,size", RANDOM_CASES)
def test_random_frames(kernel, shape, size):
    if kernel == "float32" and not X86_FMA:
        pytest.skip(NOT_X86_FMA)
    rng = np.random.default_rng(sum(shape) + sum(size))
    _assert_same(kernel, rng.integers(0, 256, shape, dtype=np.uint8), size)


def test_single_frame_and_non_contiguous_input():
    img = PHOTOS["chelsea"][::-1, ::2]  # a strided view, shaped (H, W, C)
    got = resize_bicubic_aa(img, (100, 90))
    assert got.shape == (100, 90, 3)
    assert np.array_equal(got, torchvision_v2_cpu(img[None], (100, 90))[0])
    assert np.array_equal(resize_bicubic_aa(img, img.shape[:2]), img)


def test_strong_downscale_takes_the_float64_path():
    """The uint8 kernel's sums leave float32's exact integers past ~3x downscaling; make sure the cases
    above cover both dtypes of `_fixed_plan`."""
    assert resize_torch._fixed_plan(512, 28, True).dtype == np.float64
    assert resize_torch._fixed_plan(1920, 1008, True).dtype == np.float32


_OTHER_BUILD_SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np, torch
    from skimage import data
    from mmtok.vision.resize_torch import resize_bicubic_aa
    rng = np.random.default_rng(0)
    cases = [(data.chelsea()[None], (224, 336)), (data.coffee()[None], (700, 1000)),
             (rng.integers(0, 256, (2, 97, 131, 3), dtype=np.uint8), (56, 112)),
             (rng.integers(0, 256, (1, 640, 480, 3), dtype=np.uint8), (123, 457))]
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "uint8": 0, "float32": 0, "values": 0}
    for frames, size in cases:
        video = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
        ref = {"uint8": torch.nn.functional.interpolate(video, size=size, mode="bicubic", antialias=True),
               "float32": torch.nn.functional.interpolate(video.float(), size=size, mode="bicubic", antialias=True)
               .clamp(0, 255).round().to(torch.uint8)}
        for kernel, expected in ref.items():
            got = resize_bicubic_aa(frames, size, kernel=kernel, fma=sys.argv[1] == "fma")
            out[kernel] += int((got != expected.permute(0, 2, 3, 1).numpy()).sum())
        out["values"] += got.size
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("capability,fma", [("DEFAULT", False), ("AVX2", True)])
def test_torchs_other_cpu_kernels(capability, fma):
    """torch's DEFAULT kernel (no AVX2, so no FMA: `fma=False`) and its AVX2 kernel (the uint8 path's
    hand-written AVX2 code; the float path as compiled for AVX2), chosen with ATEN_CPU_CAPABILITY."""
    env = dict(os.environ, ATEN_CPU_CAPABILITY=capability.lower())
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", _OTHER_BUILD_SCRIPT, "fma" if fma else "no-fma"],
        env=env, cwd=root, capture_output=True, text=True, check=True,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["capability"] != capability:
        pytest.skip(f"torch runs its {result['capability']} kernel here, not {capability}")
    assert result["values"] > 1_000_000
    assert result["uint8"] == 0 and result["float32"] == 0


def test_the_two_torchvision_paths_disagree():
    """Why there are two kernels: on a photo, v1 (float) and v2 (uint8 on CPU) give different pixels."""
    frames, size = _video("astronaut"), (256, 256)
    v1, v2 = torchvision_v1(frames, size), torchvision_v2_cpu(frames, size)
    assert (v1 != v2).mean() > 0.05
    assert np.array_equal(resize_bicubic_aa(frames, size), v2)


# --- the references call what the module docstring says ----------------------------------------------


def _calls(path: Path, function: str) -> list[ast.Call]:
    tree = ast.parse(path.read_text())
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    return [c for c in ast.walk(node) if isinstance(c, ast.Call)]


def test_references_use_these_torchvision_calls():
    from reference_functions import qwen_vl_utils_file, transformers_file

    # transformers: TorchvisionBackend.resize passes the (uint8) tensor to v2 `tvF.resize` without a cast
    backend = [ast.unparse(c.func) for c in _calls(transformers_file("image_processing_backends.py"), "resize")]
    assert "tvF.resize" in backend and not any(name.endswith((".float", ".to")) for name in backend)
    # qwen-vl-utils: fetch_video calls v1 `transforms.functional.resize(..., BICUBIC, antialias=True)`
    for call in _calls(qwen_vl_utils_file(), "fetch_video"):
        if ast.unparse(call.func) == "transforms.functional.resize":
            kwargs = {k.arg: ast.unparse(k.value) for k in call.keywords}
            assert kwargs == {"interpolation": "InterpolationMode.BICUBIC", "antialias": "True"}
            break
    else:
        pytest.fail("fetch_video no longer calls transforms.functional.resize")


# --- the fused multiply-add emulation against exact rational arithmetic ----------------------------


def _round_to_float32(x: Fraction) -> np.float32:
    """x rounded once, half to even, to float32 (normal range)."""
    if x == 0:
        return np.float32(0)
    e = abs(x.numerator).bit_length() - abs(x.denominator).bit_length()
    while abs(x) >= Fraction(2) ** (e + 1):
        e += 1
    while abs(x) < Fraction(2) ** e:
        e -= 1
    ulp = Fraction(2) ** (e - 23)
    return np.float32(float(round(x / ulp) * ulp))


def test_fma32_rounds_once():
    rng = np.random.default_rng(5)
    a = rng.uniform(-300, 300, 2000).astype(np.float32)
    b = rng.uniform(-2, 2, 2000).astype(np.float32)
    c = rng.uniform(-300, 300, 2000).astype(np.float32)
    # and the case a float64 sum gets wrong: exactly halfway in float64, just below halfway in truth
    a[0], b[0], c[0] = np.float32(1 + 2**-18), np.float32(2**-24 * (1 - 2**-18)), np.float32(1 + 2**-23)
    got = resize_torch._fma32(a, b, c)
    exact = [
        _round_to_float32(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
        for x, y, z in zip(a, b, c)
    ]
    assert np.array_equal(got, np.array(exact, dtype=np.float32))
    naive = (a[0].astype(np.float64) * b[0] + c[0]).astype(np.float32)
    assert got[0] != naive  # the mended case really is one


def test_fma64_rounds_once():
    rng = np.random.default_rng(6)
    a, b, c = rng.uniform(-3, 3, (3, 2000))
    a[0], b[0], c[0] = 1 + 2**-30, 2**-53 * (1 - 2**-30), 1 + 2**-52  # a*b rounds up onto a tie
    got = resize_torch._fma64(a, b, c)
    exact = [float(Fraction(x) * Fraction(y) + Fraction(z)) for x, y, z in zip(a, b, c)]
    assert np.array_equal(got, np.array(exact))
    assert got[0] != a[0] * b[0] + c[0]


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frames,size,kwargs,error",
    [
        (np.zeros((4, 4, 3), np.float32), (2, 2), {}, UnsupportedInputError),
        ([[0]], (2, 2), {}, UnsupportedInputError),
        (np.zeros((4, 4), np.uint8), (2, 2), {}, InvalidOptionError),
        (np.zeros((0, 4, 4, 3), np.uint8), (2, 2), {}, InvalidOptionError),
        (np.zeros((4, 4, 3), np.uint8), (0, 2), {}, InvalidOptionError),
        (np.zeros((4, 4, 3), np.uint8), (2.5, 2), {}, InvalidOptionError),
        (np.zeros((4, 4, 3), np.uint8), 2, {}, InvalidOptionError),
        (np.zeros((4, 4, 3), np.uint8), (2, 2), {"kernel": "bilinear"}, InvalidOptionError),
    ],
)
def test_bad_input(frames, size, kwargs, error):
    with pytest.raises(error):
        resize_bicubic_aa(frames, size, **kwargs)
