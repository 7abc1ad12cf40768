"""Library calls behind `mmtok discrete encode|decode|eval`: a checkpoint and files in, ids/PNGs/metrics out.

    from mmtok.discrete.api import encode_file, decode_to_png, evaluate_checkpoint
    record = encode_file("photo.jpg", "tok.safetensors")   # {"ids": [[...]], "shape": [8, 8], ...}
    decode_to_png(record["ids"], "tok.safetensors", "back.png")
    metrics = evaluate_checkpoint("tok.safetensors", grid="grid.png")

An image is centre-cropped to a square and resized (bicubic) to the checkpoint's size before encoding.
"""

from __future__ import annotations

import numpy as np

from . import require_torch
from ..errors import InvalidOptionError

__all__ = ["encode_image", "encode_file", "decode_ids", "decode_to_png", "evaluate_checkpoint"]


def _model(ckpt):
    if isinstance(ckpt, str):
        from .checkpoint import load_model

        return load_model(ckpt)
    return ckpt.eval()


def encode_image(image: np.ndarray, ckpt) -> dict:
    """uint8 RGB array (H, W, 3) -> {"ids": nested list (token_shape), "shape", "tokens", "codebook_size", "size", "arch"}."""
    torch = require_torch()
    from .data import square, to_tensor

    model = _model(ckpt)
    fitted = square(np.asarray(image), model.size)
    with torch.no_grad():
        ids = model.encode(to_tensor(fitted[None]))[0]
    return {
        "ids": ids.tolist(),
        "shape": list(ids.shape),
        "tokens": model.tokens,
        "codebook_size": model.codebook_size,
        "size": model.size,
        "arch": model.arch,
    }


def encode_file(path: str, ckpt) -> dict:
    from .data import read_image

    return {"image": path, **encode_image(read_image(path), ckpt)}


def decode_ids(ids, ckpt) -> np.ndarray:
    """ids of one image (nested list or array of the model's token shape) -> uint8 (size, size, 3)."""
    torch = require_torch()
    from .data import to_uint8

    model = _model(ckpt)
    try:
        array = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    except (TypeError, ValueError, OverflowError):
        raise InvalidOptionError(f"ids: pass integers in the shape {list(model.token_shape)} (the output of encode)") from None
    shape = tuple(model.token_shape)
    if tuple(array.shape[: len(shape)]) != shape and array.numel() and array.numel() % model.tokens == 0:
        stages = array.numel() // model.tokens  # a flat list of a grid's ids (residual VQ: of its tuples)
        array = array.reshape(shape + ((stages,) if stages > 1 else ()))
    with torch.no_grad():
        return to_uint8(model.decode(array[None]))[0]


def decode_to_png(ids, ckpt, path: str) -> str:
    from PIL import Image

    Image.fromarray(decode_ids(ids, ckpt)).save(path, format="PNG")
    return path


def evaluate_checkpoint(ckpt, *, images: str | None = None, count: int = 1000, seed: int = 0, grid: str | None = None) -> dict:
    """Metrics (evaluate.py) of a checkpoint on `count` held-out crops of the builtin photos or of a folder."""
    from .data import load_crops
    from .evaluate import evaluate

    if count < 1:
        raise InvalidOptionError(f"--count {count}: pass a positive number of held-out crops")
    model = _model(ckpt)
    data = load_crops(images or "photos", model.size, 0, count, seed)
    result = evaluate(model, data.test, grid=grid)
    result["step"] = getattr(model, "step", None)
    result["held_out"] = data.test_sources
    return result
