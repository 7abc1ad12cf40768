"""transformers 5.23's Phi-4-multimodal image processor, run from its installed source without torchvision.

`Phi4MultimodalImageProcessor` (models/phi4_multimodal/image_processing_phi4_multimodal.py) exists only
on transformers' torchvision backend, which imports torchvision at module level; torchvision is not
installed. As tests/reference_functions.py does for the Qwen video processors, its methods are picked
out of the installed file with `ast` and run unchanged, over `TorchvisionBackend`'s own methods, with
the few torchvision.transforms.v2.functional calls they make written from torchvision's source
(pytorch/vision torchvision/transforms/v2/functional/_geometry.py `resize_image`, `pad_image`;
_misc.py `normalize_image`):

* `resize`: an image already at the size is returned as is; otherwise `interpolate(..., align_corners=
  False, antialias=...)` on a float32 copy, rounded and cast back for uint8, except that bilinear keeps a
  uint8 tensor uint8 on CPUs whose torch capability is AVX2 (`_do_native_uint8_resize_on_cpu`), and
  bicubic always does;
* `pad`: constant fill of [left, top, right, bottom];
* `normalize`: `image.sub(mean).div_(std)` with mean / std as tensors of the image's dtype.

`image_processor()` is an instance usable by `Phi4MultimodalProcessor`; `count_reference()` runs the
reference's own sizing (`dynamic_preprocess`) and token count (the statements of `_preprocess` that
compute `num_img_tokens` from the mask) on sizes alone.
"""

from __future__ import annotations

import ast
import math
import types
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from reference_functions import QuietLogger, _parse, load_class, transformers_file

PROCESSOR_FILE = "models/phi4_multimodal/image_processing_phi4_multimodal.py"
METHODS = ["find_closest_aspect_ratio", "dynamic_preprocess", "pad_to_max_num_crops", "pad_mask_to_max_num_crops", "_preprocess"]


class _InterpolationMode:
    NEAREST, BILINEAR, BICUBIC, LANCZOS = "nearest", "bilinear", "bicubic", "lanczos"


def _native_uint8(interpolation) -> bool:
    if interpolation == _InterpolationMode.BILINEAR:
        return "AVX2" in torch.backends.cpu.get_cpu_capability()
    return interpolation == _InterpolationMode.BICUBIC


def _resize(image, size, interpolation=_InterpolationMode.BILINEAR, max_size=None, antialias=True):
    antialias = False if antialias is None else antialias
    if interpolation not in (_InterpolationMode.BILINEAR, _InterpolationMode.BICUBIC):
        antialias = False
    shape = image.shape
    channels, old_h, old_w = shape[-3:]
    new_h, new_w = size
    if (new_h, new_w) == (old_h, old_w):
        return image
    dtype = image.dtype
    acceptable = [torch.float32, torch.float64] + ([torch.uint8] if _native_uint8(interpolation) else [])
    image = image.reshape(-1, channels, old_h, old_w)
    need_cast = dtype not in acceptable
    if need_cast:
        image = image.to(dtype=torch.float32)
    image = F.interpolate(image, size=[new_h, new_w], mode=interpolation, align_corners=False, antialias=antialias)
    if need_cast:
        if interpolation == _InterpolationMode.BICUBIC and dtype == torch.uint8:
            image = image.clamp_(min=0, max=255)
        if dtype == torch.uint8:
            image = image.round_()
        image = image.to(dtype=dtype)
    return image.reshape(shape[:-3] + (channels, new_h, new_w))


def _pad(image, padding, fill=0, padding_mode="constant"):
    left, top, right, bottom = padding
    values = set(fill) if isinstance(fill, (list, tuple)) else {fill}
    assert padding_mode == "constant" and len(values) == 1  # the only use here: fill=[255, 255, 255]
    return F.pad(image, (left, right, top, bottom), mode="constant", value=values.pop())


def _normalize(image, mean, std, inplace=False):
    mean = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    std = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(-1, 1, 1)
    image = image.sub_(mean) if inplace else image.sub(mean)
    return image.div_(std)


tvF = types.SimpleNamespace(resize=_resize, pad=_pad, normalize=_normalize, InterpolationMode=_InterpolationMode)


def _namespace(tv) -> dict:
    from transformers.image_processing_utils import BatchFeature
    from transformers.image_utils import PILImageResampling, SizeDict

    return dict(
        math=math, torch=torch, tvF=tv, lru_cache=lru_cache, SizeDict=SizeDict, BatchFeature=BatchFeature,
        PILImageResampling=PILImageResampling, logger=QuietLogger("reference.phi4"),
        pil_torch_interpolation_mapping={
            PILImageResampling.BICUBIC: _InterpolationMode.BICUBIC, PILImageResampling.BILINEAR: _InterpolationMode.BILINEAR,
        },
        is_torchdynamo_compiling=lambda: False, is_rocm_platform=lambda: False,
    )  # fmt: skip


def _reference_class(tv):
    namespace = _namespace(tv)
    load_class(transformers_file("image_processing_backends.py"), "TorchvisionBackend", namespace,
               methods=["resize", "rescale_and_normalize", "_fuse_mean_std_and_rescale_factor", "normalize"])
    return load_class(transformers_file(PROCESSOR_FILE), "Phi4MultimodalImageProcessor", namespace,
                      methods=METHODS, bases=["TorchvisionBackend"]), namespace


class ReferenceImageProcessor:
    """The reference class's `_preprocess` on PIL images, each converted as TorchvisionBackend's
    `process_image` converts one (transformers' `convert_to_rgb_pil`, then a uint8 CHW tensor), with the
    checkpoint's settings (the class defaults)."""

    def __init__(self, dynamic_hd: int = 36):
        cls, namespace = _reference_class(tvF)
        self._impl = cls()
        self._size = namespace["SizeDict"](height=448, width=448)
        self._resample = namespace["PILImageResampling"].BICUBIC
        self.dynamic_hd = dynamic_hd
        self.model_input_names = ["image_pixel_values", "image_sizes", "image_attention_mask"]

    def fetch_images(self, images):
        return images

    def __call__(self, images, **kwargs):
        from transformers.image_transforms import convert_to_rgb as convert_to_rgb_pil

        images = images if isinstance(images, (list, tuple)) else [images]
        tensors = [torch.from_numpy(convert_to_rgb_pil(im, return_numpy=True)).permute(2, 0, 1).contiguous() for im in images]
        return self._impl._preprocess(
            tensors, do_resize=True, size=self._size, resample=self._resample, do_rescale=True, rescale_factor=1 / 255,
            do_normalize=True, image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5), patch_size=14,
            dynamic_hd=self.dynamic_hd, return_tensors=None,
        )  # fmt: skip


# --- counts from sizes alone ------------------------------------------------------------------------


class _Shape:
    """Stands in for an image tensor where only its shape and device are read."""

    device = torch.device("cpu")

    def __init__(self, *shape):
        self.shape = torch.Size(shape)


_shape_tvF = types.SimpleNamespace(
    resize=lambda image, size, **kw: _Shape(image.shape[0], *size),
    pad=lambda image, padding, **kw: _Shape(image.shape[0], image.shape[1] + padding[1] + padding[3], image.shape[2] + padding[0] + padding[2]),
    InterpolationMode=_InterpolationMode,
)
_COUNT_TARGETS = {"mask_height", "mask_width", "attention_mask_reshape", "downsample_attention_mask", "num_img_tokens"}


def _assigned(node) -> set[str]:
    names = set()
    for target in getattr(node, "targets", []):
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


@lru_cache(maxsize=1)
def _tokens_from_mask():
    """The statements of `_preprocess`'s per-image loop that turn the attention mask into
    num_img_tokens, as a function (attention_mask, mask_size) -> num_img_tokens."""
    for node in _parse(transformers_file(PROCESSOR_FILE)).body:
        if isinstance(node, ast.ClassDef) and node.name == "Phi4MultimodalImageProcessor":
            method = next(m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == "_preprocess")
            loop = next(s for s in method.body if isinstance(s, ast.For))
            break
    body = [s for s in loop.body if isinstance(s, ast.Assign) and _assigned(s) and _assigned(s) <= _COUNT_TARGETS]
    if {name for s in body for name in _assigned(s)} != _COUNT_TARGETS:
        raise LookupError(f"{PROCESSOR_FILE}: _preprocess no longer computes num_img_tokens as expected")
    args = ast.arguments(posonlyargs=[], args=[ast.arg("attention_mask"), ast.arg("mask_size")], kwonlyargs=[],
                         kw_defaults=[], defaults=[])
    func = ast.FunctionDef(name="tokens_from_mask", args=args, body=body + [ast.Return(ast.Name("num_img_tokens", ast.Load()))],
                           decorator_list=[], returns=None, type_comment=None)
    if "type_params" in ast.FunctionDef._fields:
        func.type_params = []
    module = ast.fix_missing_locations(ast.Module(body=[func], type_ignores=[]))
    namespace = {"torch": torch, "int": int}
    exec(compile(module, str(transformers_file(PROCESSOR_FILE)), "exec"), namespace)
    return namespace["tokens_from_mask"]


@lru_cache(maxsize=4)
def _shape_processor():
    cls, _ = _reference_class(_shape_tvF)
    return cls()


def count_reference(height: int, width: int, dynamic_hd: int = 36):
    """(num_img_tokens, (hd_height, hd_width), attention_mask) of the reference for an image of this
    size, or None where the reference raises ("the aspect ratio is very extreme")."""
    processor = _shape_processor()
    try:
        resized, mask = processor.dynamic_preprocess(_Shape(3, height, width), 448, 14, 32, max_num=dynamic_hd)
    except ValueError:
        return None
    return _tokens_from_mask()(mask, 32), tuple(resized.shape[-2:]), mask


def as_numpy(batch) -> dict:
    return {k: (v.numpy() if hasattr(v, "numpy") else np.asarray(v)) for k, v in batch.items()}
