"""Reference code that cannot be imported here, loaded from its installed source with `ast`.

qwen-vl-utils and transformers' Qwen video processors import torchvision at module level, and
torchvision is not installed (it would replace the CPU torch build). Their sampling and sizing code is
plain Python over math/numpy/torch, so the tests pick those definitions out of the installed .py
files and run them unchanged in a namespace that holds the globals they need. Nothing is copied: if the
installed reference changes, the tests run the new code.

* `load_definitions(path, names, namespace)`: top-level functions, classes and assignments by name.
* `load_class(path, class_name, namespace, methods=..., bases=...)`: a stand-in class with the
  original class's constant attributes and the chosen methods (their source unchanged, so zero-argument
  `super()` resolves to the given bases).
"""

from __future__ import annotations

import __future__
import ast
import importlib.util
import logging
from pathlib import Path
from typing import Any, Iterable

_FLAGS = __future__.annotations.compiler_flag  # annotations stay strings: their names need not exist here


def package_dir(package: str) -> Path:
    """Where `package` is installed, found without importing it (importing may need torchvision)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(package)
    return Path(list(spec.submodule_search_locations)[0])


def transformers_file(relative: str) -> Path:
    return package_dir("transformers") / relative


def qwen_vl_utils_file() -> Path:
    return package_dir("qwen_vl_utils") / "vision_process.py"


def _parse(path: Path) -> ast.Module:
    return ast.parse(Path(path).read_text(), filename=str(path))


def _assigned_names(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return [node.target.id]
    return []


def load_definitions(path: Path, names: Iterable[str] | None, namespace: dict[str, Any] | None = None) -> dict:
    """Execute the top-level defs/classes/assignments of `path` named in `names` (all if None), in
    source order, in `namespace` (returned). Imports are never executed: put what they bind in the
    namespace."""
    wanted = None if names is None else set(names)
    namespace = {} if namespace is None else namespace
    namespace.setdefault("__name__", f"reference:{Path(path).name}")
    body = []
    for node in _parse(path).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if wanted is None or node.name in wanted:
                body.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = _assigned_names(node)
            if targets and (wanted is None or wanted & set(targets)):
                body.append(node)
    missing = (wanted or set()) - {n for node in body for n in ([getattr(node, "name", None)] + _assigned_names(node))}
    if missing:
        raise LookupError(f"{path}: no top-level definition of {', '.join(sorted(missing))}")
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec", flags=_FLAGS, dont_inherit=True), namespace)
    return namespace


def _constant(node: ast.expr) -> bool:
    """A class attribute value made of literals and arithmetic only (e.g. {"a": 128 * 28 * 28})."""
    try:
        eval(compile(ast.Expression(node), "<attr>", "eval"), {"__builtins__": {}})
        return True
    except Exception:
        return False


def load_class(
    path: Path,
    class_name: str,
    namespace: dict[str, Any],
    *,
    methods: Iterable[str],
    bases: Iterable[str] = (),
) -> type:
    """A class named `class_name` holding the original's constant attributes and `methods`."""
    methods = set(methods)
    for node in _parse(path).body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            break
    else:
        raise LookupError(f"{path}: no class {class_name}")
    body = []
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name in methods:
            body.append(item)
            methods.discard(item.name)
        elif _assigned_names(item) and _constant(item.value):
            body.append(item)
    if methods:
        raise LookupError(f"{path}: {class_name} has no method {', '.join(sorted(methods))}")
    fields = dict(name=class_name, bases=[ast.Name(id=b, ctx=ast.Load()) for b in bases], keywords=[], body=body,
                  decorator_list=[])
    if "type_params" in ast.ClassDef._fields:  # Python 3.12+
        fields["type_params"] = []
    shim = ast.ClassDef(**fields)
    module = ast.fix_missing_locations(ast.Module(body=[shim], type_ignores=[]))
    namespace.setdefault("__name__", f"reference:{Path(path).name}")
    exec(compile(module, str(path), "exec", flags=_FLAGS, dont_inherit=True), namespace)
    return namespace[class_name]


class QuietLogger:
    """Stands in for transformers' logger (`warning_once` is not on logging.Logger)."""

    def __init__(self, name: str = "reference"):
        self._log = logging.getLogger(name)

    def __getattr__(self, name):
        return getattr(self._log, name)

    def warning_once(self, *args, **kwargs):
        self._log.debug(*args)


# --- ready-made reference namespaces --------------------------------------------------------------------


def qwen_vl_utils_namespace(**overrides) -> dict:
    """All of qwen-vl-utils' vision_process.py (its installed version), run without torchvision.

    torchvision's names (`torchvision`, `io`, `transforms`, `InterpolationMode`) are None unless given
    in `overrides`; so is `requests` (no downloads in tests). `overrides` can also replace torch."""
    import base64
    import copy
    import math
    import os
    import sys
    import time
    import warnings
    from concurrent.futures import ThreadPoolExecutor
    from functools import lru_cache
    from io import BytesIO

    import numpy as np
    import torch
    from packaging import version
    from PIL import Image

    namespace = dict(
        base64=base64, copy=copy, logging=logging, math=math, os=os, sys=sys, time=time, warnings=warnings,
        lru_cache=lru_cache, BytesIO=BytesIO, ThreadPoolExecutor=ThreadPoolExecutor, requests=None, torch=torch,
        torchvision=None, version=version, Image=Image, np=np, io=None, transforms=None, InterpolationMode=None,
    )
    namespace.update(overrides)
    return load_definitions(qwen_vl_utils_file(), None, namespace)


QWEN_VIDEO_PROCESSORS = {
    "qwen2": ("models/qwen2_vl/video_processing_qwen2_vl.py", "Qwen2VLVideoProcessor"),
    "qwen3": ("models/qwen3_vl/video_processing_qwen3_vl.py", "Qwen3VLVideoProcessor"),
}


class _ResizeSink:
    """Base of the processor stand-ins: `BaseVideoProcessor.resize` reduced to reporting the size asked for."""

    def resize(self, image, size, resample=None, **kwargs):
        return (size.height, size.width)


def transformers_video_processor(kind: str):
    """An instance of transformers' Qwen2VLVideoProcessor ("qwen2") or Qwen3VLVideoProcessor ("qwen3")
    stand-in: the class's own attributes and its `sample_frames`, `resize` and `get_num_of_video_patches`
    methods, with `smart_resize` from the same file. `resize` returns the (height, width) it would
    resize to (its input only needs a `.shape`). Attributes the real __init__ would set from
    BaseVideoProcessor's kwargs (fps, num_frames) default to None."""
    import math

    import numpy as np
    import torch
    from transformers.image_utils import SizeDict
    from transformers.video_utils import VideoMetadata

    relative, class_name = QWEN_VIDEO_PROCESSORS[kind]
    path = transformers_file(relative)
    namespace = dict(math=math, np=np, torch=torch, SizeDict=SizeDict, VideoMetadata=VideoMetadata,
                     logger=QuietLogger("reference.video"), _ResizeSink=_ResizeSink)
    load_definitions(path, ["smart_resize"], namespace)
    cls = load_class(path, class_name, namespace, methods=["sample_frames", "resize", "get_num_of_video_patches"],
                     bases=["_ResizeSink"])
    processor = cls()
    for name in ("fps", "num_frames"):
        if not hasattr(processor, name):
            setattr(processor, name, None)
    processor.smart_resize = namespace["smart_resize"]
    return processor


# --- torchvision's two tensor resizes and its normalize, for the pixel references -----------------------


class _InterpolationMode:
    NEAREST, BILINEAR, BICUBIC, LANCZOS = "nearest", "bilinear", "bicubic", "lanczos"


def torchvision_functional():
    """The torchvision.transforms functions the Qwen video references call, written from torchvision's
    source (torchvision is not installed; both are thin wrappers over torch, which is):

    * `resize` = v2 `resize_image` on a CPU uint8 tensor with BICUBIC + antialias: torchvision keeps the
      tensor uint8 (`_do_native_uint8_resize_on_cpu`) and calls `interpolate` on it directly
      (transformers' TorchvisionBackend.resize -> tvF.resize).
    * `resize_v1` = v1 `_functional_tensor.resize` (qwen-vl-utils' fetch_video): cast to float32,
      `interpolate`, `clamp(0, 255)` for bicubic, round, cast back.
    * `normalize` = `tensor.sub_(mean).div_(std)` with mean/std as float tensors of the image's dtype.
    """
    import types

    import torch
    import torch.nn.functional as F

    def _as4d(image):
        shape = image.shape
        return image.reshape(-1, *shape[-3:]), shape

    def resize(image, size, interpolation=_InterpolationMode.BICUBIC, antialias=True, **kwargs):
        assert interpolation == _InterpolationMode.BICUBIC and image.dtype == torch.uint8
        flat, shape = _as4d(image)
        if tuple(size) == tuple(shape[-2:]):
            return image
        out = F.interpolate(flat, size=list(size), mode="bicubic", align_corners=False, antialias=antialias)
        return out.reshape(*shape[:-2], *out.shape[-2:])

    def resize_v1(image, size, interpolation=_InterpolationMode.BICUBIC, antialias=True, **kwargs):
        flat, shape = _as4d(image)
        dtype = flat.dtype
        out = F.interpolate(flat.to(torch.float32), size=list(size), mode="bicubic", align_corners=False, antialias=antialias)
        if dtype == torch.uint8:
            out = out.clamp(min=0, max=255).round().to(dtype)
        return out.reshape(*shape[:-2], *out.shape[-2:])

    def normalize(tensor, mean, std, inplace=False):
        if not inplace:
            tensor = tensor.clone()
        mean = torch.as_tensor(mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.as_tensor(std, dtype=tensor.dtype).view(-1, 1, 1)
        return tensor.sub_(mean).div_(std)

    return types.SimpleNamespace(resize=resize, resize_v1=resize_v1, normalize=normalize, InterpolationMode=_InterpolationMode)


def transformers_video_pixels(kind: str):
    """transformers' Qwen2VLVideoProcessor ("qwen2") or Qwen3VLVideoProcessor ("qwen3") pixel path: its
    own `_preprocess`, `resize` and `patchify`, over TorchvisionBackend's own `resize`,
    `rescale_and_normalize`, `_fuse_mean_std_and_rescale_factor` and `normalize`, with torchvision's
    functions from `torchvision_functional`."""
    import math
    from functools import lru_cache

    import numpy as np
    import torch
    from transformers.image_processing_utils import BatchFeature
    from transformers.image_utils import PILImageResampling, SizeDict
    from transformers.video_utils import group_videos_by_shape, reorder_videos

    tvF = torchvision_functional()
    namespace = dict(
        math=math, np=np, torch=torch, lru_cache=lru_cache, SizeDict=SizeDict, BatchFeature=BatchFeature,
        PILImageResampling=PILImageResampling, tvF=tvF, logger=QuietLogger("reference.video"),
        pil_torch_interpolation_mapping={PILImageResampling.BICUBIC: tvF.InterpolationMode.BICUBIC},
        is_torchdynamo_compiling=lambda: False, is_rocm_platform=lambda: False,
        group_videos_by_shape=group_videos_by_shape, reorder_videos=reorder_videos,
    )
    load_class(transformers_file("image_processing_backends.py"), "TorchvisionBackend", namespace,
               methods=["resize", "rescale_and_normalize", "_fuse_mean_std_and_rescale_factor", "normalize"])
    relative, class_name = QWEN_VIDEO_PROCESSORS[kind]
    path = transformers_file(relative)
    load_definitions(path, ["smart_resize"], namespace)
    cls = load_class(path, class_name, namespace, methods=["_preprocess", "resize", "patchify"], bases=["TorchvisionBackend"])
    return cls()
