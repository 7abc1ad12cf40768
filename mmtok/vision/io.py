"""Opening image inputs: sizes from headers (no decoding), and RGB pixels the way the reference does.

Inputs: a path (str or os.PathLike, optionally "file://..."), a "data:image/...;base64," string,
bytes, a PIL image, or a uint8 numpy array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).

RGB conversion. The references disagree, so mmtok names each behaviour (`rgb=`):

* "reference" (default): exactly what transformers 5.23 does for this kind of input. A path goes
  through `load_image` (EXIF transpose, then a plain `convert("RGB")`, which keeps the hidden colour
  of transparent pixels), then the image processor's `convert_to_rgb` (which composites alpha or a
  transparency key onto white). A PIL image or array gets only `convert_to_rgb`, and no EXIF
  transpose.
* "composite": alpha and transparency keys composited onto white for every input (transformers 5's
  `convert_to_rgb`; qwen-vl-utils does this for RGBA only).
* "convert": a plain `Image.convert("RGB")` for every input (transformers 4.x image processors).

`exif_transpose=None` means "as the reference": True for paths and bytes, False for PIL images
and arrays.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from ..errors import (
    ImageModeError,
    ImageNotFoundError,
    ImageTooLargeError,
    InvalidOptionError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedInputError,
)
from .headers import read_header  # pure Python, imports no imaging library

RGB_MODES = ("reference", "composite", "convert")
_NOT_PLAIN_PATHS = ("data:", "file://", "http://", "https://")  # strings _path_or_bytes rewrites or refuses
ALLOWED_INPUTS = "a path, bytes, a 'data:image/...;base64,' string, a PIL image, or a uint8 numpy array (H, W[, C])"


def _kind(source: Any) -> str:
    """'path', 'bytes', 'pil', 'array' or 'size'."""
    if isinstance(source, (str, os.PathLike)):
        return "path"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "bytes"
    if isinstance(source, tuple) and len(source) == 2 and all(isinstance(v, int) for v in source):
        return "size"
    mod = type(source).__module__
    if mod.startswith("PIL."):
        return "pil"
    if mod == "numpy" and hasattr(source, "shape"):
        return "array"
    raise UnsupportedInputError("image", source, ALLOWED_INPUTS)


def describe(source: Any) -> str:
    """The name error messages and outputs use for an input."""
    kind = _kind(source)
    if kind == "path":
        s = os.fspath(source)
        return "<base64 image>" if s.startswith("data:") else s
    return {"bytes": "<bytes>", "pil": "<PIL image>", "array": "<numpy array>", "size": "<size>"}[kind]


def _path_or_bytes(source: Any) -> str | bytes:
    """A file path, or the encoded bytes of a base64 data URL / bytes input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    s = os.fspath(source)
    if s.startswith("data:"):
        try:
            return base64.b64decode(s.split(",", 1)[1], validate=False)
        except (IndexError, ValueError) as e:
            raise NotAnImageError("<base64 image>", f"bad base64 data URL: {e}") from None
    if s.startswith(("http://", "https://")):
        raise UnsupportedInputError("image", s, "a local file: mmtok does not download; fetch the URL first")
    return s[7:] if s.startswith("file://") else s


def image_size(source: Any, *, exif_transpose: bool | None = None) -> tuple[int, int]:
    """(height, width) the pixel path will see, read from the header only (never decoded)."""
    if type(source) is str and not source.startswith(_NOT_PLAIN_PATHS):
        # A plain path string, the case counting meets a million times: straight to the header
        # reader, whose error messages name the path as describe() would. The general dispatch below
        # costs a fifth of a small PNG's header parse.
        header = read_header(source)
        return header.size if exif_transpose in (None, True) else header.stored_size
    kind = _kind(source)
    if kind == "size":
        return source
    if kind in ("path", "bytes"):
        header = read_header(_path_or_bytes(source), name=describe(source))
        return header.size if exif_transpose in (None, True) else header.stored_size
    if kind == "pil":
        if exif_transpose:
            orientation = source.getexif().get(0x0112, 1)
            if orientation in (5, 6, 7, 8):
                return source.width, source.height
        return source.height, source.width
    shape = source.shape
    return int(shape[0]), int(shape[1])


def _open(source: Any, name: str):
    from PIL import Image

    data = _path_or_bytes(source)
    try:
        if isinstance(data, bytes):
            import io

            image = Image.open(io.BytesIO(data))
        else:
            image = Image.open(data)
        image.load()
    except FileNotFoundError:
        raise ImageNotFoundError(name) from None
    except IsADirectoryError:
        raise NotAnImageError(name, "it is a directory") from None
    except Image.DecompressionBombError:
        from .headers import MAX_IMAGE_PIXELS, read_header

        h = read_header(data, name=name)
        raise ImageTooLargeError(name, h.stored_size, 2 * (Image.MAX_IMAGE_PIXELS or MAX_IMAGE_PIXELS)) from None
    except Image.UnidentifiedImageError as e:
        raise NotAnImageError(name, str(e).split(" '")[0]) from None
    except (OSError, SyntaxError, ValueError) as e:
        # Pillow reports cut-off pixel data as OSError("image file is truncated ...") or
        # "broken data stream"; a header it cannot parse as SyntaxError.
        raise TruncatedImageError(name, str(e)) from None
    return image


def _composite_on_white(image):
    """transformers 5 `convert_to_rgb` for a PIL image: alpha or transparency onto white."""
    from PIL import Image

    if "A" in image.getbands() or image.info.get("transparency") is not None:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return _as_rgb(image)


def _as_rgb(image):
    """`image.convert("RGB")` without its full-size copy when the image is RGB already (the copy
    would be pixel-for-pixel the same; nothing downstream mutates the image)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _array_to_rgb(array, rgb: str):
    """transformers 5 `convert_to_rgb` for a channels-last uint8 array, then to PIL."""
    import numpy as np
    from PIL import Image

    if array.dtype != np.uint8:
        raise UnsupportedInputError(
            "image array", array, "a uint8 array; convert float images with (x * 255).round().astype(np.uint8)"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise UnsupportedInputError(
            f"image array of shape {tuple(array.shape)}", array, "a channels-last array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
        )
    channels = array.shape[2]
    if channels == 1:
        array = np.repeat(array, 3, axis=2)
    elif channels == 4:
        if rgb == "convert":
            array = array[:, :, :3]
        else:
            alpha = array[..., 3:4] / 255
            array = np.round(alpha * array[..., :3] + (1 - alpha) * 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array), mode="RGB")


def load_rgb(source: Any, *, rgb: str = "reference", exif_transpose: bool | None = None, draft: tuple[int, int] | None = None):
    """Decode `source` into an RGB PIL image, as the reference would before resizing.

    draft=(height, width), off by default: the size the image will be resized to; a JPEG at least
    twice that size is then decoded at a reduced scale, which is faster but not bit-identical (see
    vision.fast_decode for the measured deviation)."""
    if rgb not in RGB_MODES:
        raise InvalidOptionError(f"rgb must be one of {', '.join(RGB_MODES)}; got {rgb!r}")
    kind = _kind(source)
    name = describe(source)
    if kind == "size":
        raise UnsupportedInputError("pixels", source, "an image, not a (height, width) size")
    if kind == "array":
        return _array_to_rgb(source, rgb)
    from PIL import ImageOps

    if exif_transpose is None:
        exif_transpose = kind in ("path", "bytes")
    image = None
    if draft is not None and kind in ("path", "bytes"):
        from .fast_decode import open_draft

        image = open_draft(_path_or_bytes(source), draft, exif_transpose=exif_transpose)
    if image is None:
        image = _open(source, name) if kind in ("path", "bytes") else source
    if exif_transpose:
        if kind in ("path", "bytes"):  # our own image: transpose in place, no copy when upright
            ImageOps.exif_transpose(image, in_place=True)
        else:  # never mutate the caller's image
            image = ImageOps.exif_transpose(image)
    try:
        if rgb == "convert":
            return _as_rgb(image)
        if rgb == "reference" and kind in ("path", "bytes"):
            image = _as_rgb(image)  # transformers' load_image
        return _composite_on_white(image)
    except ValueError as exc:  # Pillow: "conversion from La to RGB not supported"
        if "conversion from" in str(exc):
            raise ImageModeError(name, image.mode) from None
        raise
