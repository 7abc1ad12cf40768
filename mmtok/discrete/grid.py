"""A PNG grid of original images beside their reconstructions (Pillow), for eyeballing a tokenizer.

Each cell is a pair: the original on the left, the reconstruction on the right, both scaled up by an
integer factor with nearest-neighbour resampling (so single pixels stay visible), with a 2-pixel
gutter between pairs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pair_grid", "save_grid"]


def pair_grid(originals: np.ndarray, reconstructions: np.ndarray, columns: int = 8, scale: int = 4, gap: int = 2) -> np.ndarray:
    """uint8 (N, H, W, 3) originals and reconstructions -> one uint8 RGB grid image (white gutters)."""
    originals, reconstructions = np.asarray(originals), np.asarray(reconstructions)
    if originals.shape != reconstructions.shape or originals.ndim != 4 or len(originals) == 0:
        from ..errors import InvalidOptionError

        raise InvalidOptionError(
            f"a grid needs originals and reconstructions of the same non-empty shape (N, H, W, 3); got "
            f"{originals.shape} and {reconstructions.shape}"
        )
    n, h, w, c = originals.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    cell_h, cell_w = h * scale, 2 * w * scale
    out = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, c), 255, dtype=np.uint8)
    for i in range(n):
        pair = np.concatenate([originals[i], reconstructions[i]], axis=1)
        pair = pair.repeat(scale, axis=0).repeat(scale, axis=1)
        top = gap + (i // columns) * (cell_h + gap)
        left = gap + (i % columns) * (cell_w + gap)
        out[top : top + cell_h, left : left + cell_w] = pair
    return out


def save_grid(path: str, originals: np.ndarray, reconstructions: np.ndarray, columns: int = 8, scale: int = 4) -> str:
    """Writes the grid as a PNG at `path`; returns the path."""
    from PIL import Image

    Image.fromarray(pair_grid(originals, reconstructions, columns, scale)).save(path, format="PNG")
    return path
