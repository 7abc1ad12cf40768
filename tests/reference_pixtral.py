"""mistral-common's Pixtral token grid, transcribed for the tests.

Source: mistralai/mistral-common, src/mistral_common/tokens/tokenizers/image.py @ 05a47dc4a3d0654f1a31a8b74c126b8f4e81aafe,
`ImageEncoder._image_to_num_tokens` (the pixel path there resizes with OpenCV and is not used here).
`MultiModalVersion.m1` = ImageConfig(image_patch_size=16, max_image_size=1024, spatial_merge_size=1).
"""

from __future__ import annotations


def image_to_num_tokens(
    w: int, h: int, *, image_patch_size: int = 16, max_image_size: int = 1024, spatial_merge_size: int = 1
) -> tuple[int, int]:
    """(width_tokens, height_tokens) for an image of `w` x `h` pixels (PIL's img.size order)."""
    ratio = max(h / max_image_size, w / max_image_size)
    if ratio > 1:
        w = round(w / ratio)
        h = round(h / ratio)

    width_tokens = (w - 1) // (image_patch_size * spatial_merge_size) + 1
    height_tokens = (h - 1) // (image_patch_size * spatial_merge_size) + 1

    return width_tokens, height_tokens
