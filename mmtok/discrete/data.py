"""Training and held-out images for the discrete image tokenizers: deterministic square crops.

`--builtin photos` follows the CPU benchmark protocol of the research brief (discrete.md A11): crops
of the photos that ship inside scikit-image (``skimage.data``; gray photos replicated to three
channels; at full and 1/2 scale) for training, and crops of scikit-learn's two sample photos (``load_sample_images``:
china.jpg, flower.jpg) as the held-out set, so test crops come from images the model never saw.

`--images DIR` uses the image files of a folder (recursive, sorted by path); every fifth file
(the 5th, 10th, ...; with 2-4 files, the last one) is held out. Crops are drawn with a seeded numpy
generator, so the same arguments always give the same crops. Crops are kept as uint8 (N, H, W, 3);
`to_tensor` turns a batch into float (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import InvalidOptionError, MissingDependencyError, NotAnImageError

__all__ = ["CropSet", "builtin_photos", "folder_images", "random_crops", "load_crops", "to_tensor", "read_image"]

#: skimage.data images used for training (all ship in the wheel and load offline; binary and synthetic
#: ones left out); stereo_motorcycle gives its two views, lfw_subset its 200 25 x 25 faces as one mosaic
TRAIN_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
    "camera", "brick", "grass", "gravel", "moon", "coins", "cell", "clock",
    "colorwheel", "logo", "page", "text", "microaneurysms", "stereo_motorcycle", "lfw_subset",
)
#: training images are also cropped at these downscalings (1/2: more content per crop), where the
#: shorter side stays >= 48 px; held-out crops are always at full scale
TRAIN_SCALES = (1, 2)
#: scikit-learn sample photos held out for evaluation
HELD_OUT_PHOTOS = ("china.jpg", "flower.jpg")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class CropSet:
    """Train and held-out crops (uint8, (N, size, size, 3)) and the names of the images they come from."""

    train: np.ndarray
    test: np.ndarray
    train_sources: list[str] = field(default_factory=list)
    test_sources: list[str] = field(default_factory=list)


def _rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array.astype(np.uint8))


@lru_cache(maxsize=1)
def builtin_photos() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train, held_out): name -> uint8 RGB array. Train: skimage.data photos; held out: sklearn's."""
    try:
        import skimage.data
    except ImportError:
        raise MissingDependencyError("scikit-image", "the builtin photos (--builtin photos)", "discrete") from None
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        raise MissingDependencyError("scikit-learn", "the builtin photos (--builtin photos)", "discrete") from None
    train = {}
    for name in TRAIN_PHOTOS:
        image = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            train[f"{name}_left"], train[f"{name}_right"] = _rgb(image[0]), _rgb(image[1])
        elif name == "lfw_subset":  # (200, 25, 25) floats in [0, 1] -> a 10 x 20 mosaic, 250 x 500
            faces = (np.asarray(image) * 255 + 0.5).astype(np.uint8)
            train[name] = _rgb(faces.reshape(10, 20, 25, 25).transpose(0, 2, 1, 3).reshape(250, 500))
        else:
            train[name] = _rgb(image)
    held = {name: _rgb(load_sample_image(name)) for name in HELD_OUT_PHOTOS}
    return train, held


def read_image(path: str) -> np.ndarray:
    """One image file as a uint8 RGB array; typed errors for missing or unreadable files."""
    from PIL import Image, UnidentifiedImageError

    from ..errors import ImageNotFoundError

    if not os.path.isfile(path):
        raise ImageNotFoundError(path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise NotAnImageError(path, str(e)) from None


def folder_images(folder: str) -> list[tuple[str, np.ndarray]]:
    """(path, uint8 RGB array) of every image file under `folder`, sorted by path."""
    if not os.path.isdir(folder):
        raise InvalidOptionError(f"--images {folder}: not a folder; pass a folder of image files")
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)]
    return [(path, read_image(path)) for path in paths]


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    """Upscale (bicubic) an image whose shorter side is below `size`, so that a crop fits."""
    h, w = image.shape[:2]
    if min(h, w) >= size:
        return image
    from PIL import Image

    scale = size / min(h, w)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(new, Image.Resampling.BICUBIC))


def downscaled(images: list[np.ndarray], scales=TRAIN_SCALES, min_side: int = 48) -> list[np.ndarray]:
    """The images at each scale 1/f of `scales` (box filter), skipping any whose shorter side would drop below `min_side`."""
    from PIL import Image

    out = []
    for f in scales:
        for image in images:
            h, w = image.shape[:2]
            if f == 1:
                out.append(image)
            elif min(h, w) // f >= min_side:
                out.append(np.asarray(Image.fromarray(image).resize((w // f, h // f), Image.Resampling.BOX)))
    return out


def random_crops(images: list[np.ndarray], n: int, size: int, seed: int) -> np.ndarray:
    """`n` crops of size x size: the image is drawn uniformly, then the position; seeded, deterministic."""
    if not images:
        raise InvalidOptionError("no images to crop from; pass a folder that holds image files")
    rng = np.random.default_rng(seed)
    images = [_fit(image, size) for image in images]
    which = rng.integers(0, len(images), size=n)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i, k in enumerate(which):
        image = images[k]
        top = rng.integers(0, image.shape[0] - size + 1)
        left = rng.integers(0, image.shape[1] - size + 1)
        out[i] = image[top : top + size, left : left + size]
    return out


def split_folder(items: list[tuple[str, np.ndarray]]) -> tuple[list, list]:
    """(train, held_out): every fifth file is held out; with 2-4 files the last one; 1 file: an error."""
    if len(items) < 2:
        raise InvalidOptionError(
            f"the folder holds {len(items)} image file(s); a train/held-out split needs at least 2 "
            "(every fifth file is held out)"
        )
    held = items[4::5] or items[-1:]
    held_names = {name for name, _ in held}
    return [item for item in items if item[0] not in held_names], held


def load_crops(
    source: str = "photos", size: int = 32, n_train: int = 20000, n_test: int = 1000, seed: int = 0
) -> CropSet:
    """Train and held-out crops from the builtin photos (`source="photos"`) or from a folder path."""
    if size < 4:
        raise InvalidOptionError(f"crop size {size} is too small; pass --size 8 or more (e.g. 32)")
    if source == "photos":
        train, held = builtin_photos()
        train_items, held_items = list(train.items()), list(held.items())
    else:
        train_items, held_items = split_folder(folder_images(source))
    train_images = downscaled([a for _, a in train_items]) if n_train else []
    return CropSet(
        train=random_crops(train_images, n_train, size, seed) if n_train else np.empty((0, size, size, 3), np.uint8),
        test=random_crops([a for _, a in held_items], n_test, size, seed + 1),
        train_sources=[name for name, _ in train_items],
        test_sources=[name for name, _ in held_items],
    )


def to_tensor(batch: np.ndarray):
    """uint8 (B, H, W, 3) -> float32 torch tensor (B, 3, H, W) in [0, 1]."""
    from . import require_torch

    torch = require_torch()
    batch = np.ascontiguousarray(batch)
    if not batch.flags.writeable:  # e.g. np.asarray(PIL image): torch.from_numpy warns on read-only arrays
        batch = batch.copy()
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(images) -> np.ndarray:
    """float (B, 3, H, W) in [0, 1] (clipped) -> uint8 (B, H, W, 3), rounded."""
    array = images.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return (array * 255.0 + 0.5).astype(np.uint8)


def square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize (bicubic) to size x size: how `encode` fits any image."""
    from PIL import Image

    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    cropped = image[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(cropped)
    return np.asarray(Image.fromarray(cropped).resize((size, size), Image.Resampling.BICUBIC))


_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = np.linalg.inv(_YIQ)


def colour_jitter(batch: np.ndarray, rng) -> np.ndarray:
    """Each crop with a random colour transform: per-channel gains in [0.8, 1.2] (tints gray photos),
    a hue rotation by any angle and a saturation scale in [0.5, 1.5] (in YIQ), contrast in [0.8, 1.2]
    and a brightness shift in [-0.1, 0.1]; clipped to [0, 255]."""
    n = len(batch)
    theta, sat = rng.uniform(-np.pi, np.pi, n), rng.uniform(0.5, 1.5, n)
    gains, contrast, bright = rng.uniform(0.8, 1.2, (n, 3)), rng.uniform(0.8, 1.2, n), rng.uniform(-0.1, 0.1, n)
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0] = 1
    rot[:, 1, 1] = rot[:, 2, 2] = sat * np.cos(theta)
    rot[:, 2, 1] = sat * np.sin(theta)
    rot[:, 1, 2] = -rot[:, 2, 1]
    m = contrast[:, None, None] * (_YIQ_INV @ rot @ _YIQ) * gains[:, None, :]  # x -> M (gains * x)
    x = np.einsum("bhwc,bdc->bhwd", batch.astype(np.float32), m.astype(np.float32)) + (255 * bright[:, None, None, None]).astype(np.float32)
    return (np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def rotate_flip(batch: np.ndarray, rng) -> np.ndarray:
    """Each crop under one of the 8 symmetries of the square (k x 90-degree rotation, maybe mirrored)."""
    k, flip = rng.integers(0, 4, len(batch)), rng.random(len(batch)) < 0.5
    out = np.empty_like(batch)
    for r in range(4):
        for f in (False, True):
            sel = (k == r) & (flip == f)
            if sel.any():
                turned = np.rot90(batch[sel], r, axes=(1, 2))
                out[sel] = turned[:, :, ::-1] if f else turned
    return out


def augmented(batch: np.ndarray, rng) -> np.ndarray:
    """Training augmentation: colour_jitter, then rotate_flip. The training photos lack colours of the
    held-out ones (the teal and dark greens of china.jpg / flower.jpg; 10 of the skimage images are
    gray), and a codebook that never saw them maps them to the nearest training colour."""
    return rotate_flip(colour_jitter(batch, rng), rng)
