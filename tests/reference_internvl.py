"""OpenGVLab's own InternVL image code, transcribed statement by statement for the tests.

* `find_closest_aspect_ratio`, `dynamic_preprocess`: OpenGVLab/InternVL
  `internvl_chat/internvl/train/dataset.py` @ 1831ceb9a2b6dd90ae1b714c2b4a76748c8b42b1 (the model cards
  copy both; their `dynamic_preprocess` defaults to max_num=12 where this file says 6, and `load_image`
  passes max_num=12 explicitly).
* `build_transform` (eval, pad2square=False) and the model cards' `load_image`:
  `Image.open(image_file).convert('RGB')`, `dynamic_preprocess(image, image_size=448, use_thumbnail=True,
  max_num=max_num)`, then Compose([convert RGB, Resize((448, 448), BICUBIC), ToTensor(), Normalize(ImageNet)])
  per tile, stacked. torchvision is not installed here, so the transform is written as torchvision 0.2x
  runs it on a PIL image: `F.resize` returns the image unchanged when it already has the size, else
  `img.resize(size[::-1], BICUBIC)`; `to_tensor` -> `torch.from_numpy(np.array(pic, np.uint8)).view(h, w, c)
  .permute(2, 0, 1).contiguous().to(torch.float32).div(255)`; `normalize` -> `tensor.sub_(mean[:, None, None])
  .div_(std[:, None, None])` with float32 mean / std.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def find_closest_aspect_ratio(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff = float("inf")
    best_ratio = (1, 1)
    area = width * height
    for ratio in target_ratios:
        target_aspect_ratio = ratio[0] / ratio[1]
        ratio_diff = abs(aspect_ratio - target_aspect_ratio)
        if ratio_diff < best_ratio_diff:
            best_ratio_diff = ratio_diff
            best_ratio = ratio
        elif ratio_diff == best_ratio_diff:
            if area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
    return best_ratio


def target_ratios(min_num, max_num):
    """dynamic_preprocess's candidate list."""
    ratios = set(
        (i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1) if
        i * j <= max_num and i * j >= min_num
    )
    return sorted(ratios, key=lambda x: x[0] * x[1])


def closest_grid(width, height, min_num=1, max_num=12, image_size=448):
    """(cols, rows) dynamic_preprocess picks for an image of width x height."""
    return find_closest_aspect_ratio(width / height, target_ratios(min_num, max_num), width, height, image_size)


def dynamic_preprocess(image, min_num=1, max_num=12, image_size=448, use_thumbnail=False):
    orig_width, orig_height = image.size
    aspect_ratio = orig_width / orig_height

    # calculate the existing image aspect ratio
    ratios = target_ratios(min_num, max_num)

    # find the closest aspect ratio to the target
    target_aspect_ratio = find_closest_aspect_ratio(aspect_ratio, ratios, orig_width, orig_height, image_size)

    # calculate the target width and height
    target_width = image_size * target_aspect_ratio[0]
    target_height = image_size * target_aspect_ratio[1]
    blocks = target_aspect_ratio[0] * target_aspect_ratio[1]

    # resize the image
    resized_img = image.resize((target_width, target_height))
    processed_images = []
    for i in range(blocks):
        box = (
            (i % (target_width // image_size)) * image_size,
            (i // (target_width // image_size)) * image_size,
            ((i % (target_width // image_size)) + 1) * image_size,
            ((i // (target_width // image_size)) + 1) * image_size,
        )
        # split the image
        split_img = resized_img.crop(box)
        processed_images.append(split_img)
    assert len(processed_images) == blocks
    if use_thumbnail and len(processed_images) != 1:
        thumbnail_img = image.resize((image_size, image_size))
        processed_images.append(thumbnail_img)
    return processed_images


def transform(img, input_size=448):
    """build_transform(input_size): convert, Resize((s, s), BICUBIC), ToTensor, Normalize(ImageNet)."""
    import torch

    img = img.convert("RGB") if img.mode != "RGB" else img
    if img.size != (input_size, input_size):
        img = img.resize((input_size, input_size), Image.Resampling.BICUBIC)
    w, h = img.size
    tensor = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(h, w, 3).permute(2, 0, 1).contiguous()
    tensor = tensor.to(dtype=torch.float32).div(255)
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32)
    std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32)
    return tensor.sub_(mean[:, None, None]).div_(std[:, None, None])


def load_image(image_file, input_size=448, max_num=12, min_num=1):
    """The model cards' load_image (min_num passed through to dynamic_preprocess for the tests)."""
    import torch

    image = image_file.convert("RGB") if isinstance(image_file, Image.Image) else Image.open(image_file).convert("RGB")
    images = dynamic_preprocess(image, min_num=min_num, image_size=input_size, use_thumbnail=True, max_num=max_num)
    pixel_values = [transform(image, input_size) for image in images]
    return torch.stack(pixel_values).numpy()
