"""Phi-3(.5)-vision's image processor and processor, transcribed from its Hugging Face remote code.

Source: microsoft/Phi-3.5-vision-instruct `processing_phi3_v.py` (it holds both classes; vLLM cites it as
https://huggingface.co/microsoft/Phi-3.5-vision-instruct/blob/64f88b6/processing_phi3_v.py), read in the
GitHub copies of the identical Phi-3-vision-128k-instruct files:
* GaiZhenbiao/Phi3V-Finetuning @ 6420ab6954eeaf3822905d0654cee87abf1cf289, model/image_processing_phi3_v.py
  (padding_336, calc_padded_size, HD_transform, calc_hd_transform_size, pad_to_max_num_crops_tensor,
  Phi3VImageProcessor.calc_num_image_tokens_from_image_size and .preprocess);
* g1y5x3/vlm-study @ c982100e066038a147b6cc6ce804991e7601bd79, processing_phi3_v.py
  (Phi3VProcessor._convert_images_texts_to_inputs).

The code below is the original's, statement for statement (comments trimmed); only the transformers
helpers it calls on a list of PIL images are inlined, and torchvision, which is not installed, is the
stand-in `torchvision` below, written from torchvision's source (pytorch/vision
torchvision/transforms/functional.py and _functional_pil.py): on PIL images `resize` is Pillow's
`Image.resize(size[::-1], BILINEAR)` (the image itself when the size is unchanged) and `pad` is
`ImageOps.expand(img, border, fill=tuple(fill))`; ToTensor is `uint8 -> float32 / 255` (HWC -> CHW) and
Normalize is `tensor.sub_(mean).div_(std)` with float32 mean/std. torch itself (installed) runs the
global view's `interpolate`.
"""

from __future__ import annotations

import re
import types

import numpy as np
import torch
from PIL import Image, ImageOps

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


# --- torchvision stand-in ---------------------------------------------------------------------------


def _resize(img, size, interpolation=None):
    if [img.height, img.width] == list(size):
        return img
    return img.resize(tuple(size[::-1]), Image.BILINEAR)


def _pad(img, padding, fill=0):
    return ImageOps.expand(img, border=tuple(padding), fill=tuple(fill) if isinstance(fill, list) else fill)


class _ToTensor:
    def __call__(self, pic):
        img = torch.from_numpy(np.array(pic, np.uint8, copy=True)).view(pic.size[1], pic.size[0], len(pic.getbands()))
        return img.permute((2, 0, 1)).contiguous().to(dtype=torch.float32).div(255)


class _Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return tensor.clone().sub_(mean).div_(std)


class _Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


torchvision = types.SimpleNamespace(
    transforms=types.SimpleNamespace(
        functional=types.SimpleNamespace(resize=_resize, pad=_pad),
        Compose=_Compose,
        ToTensor=_ToTensor,
        Normalize=_Normalize,
    )
)


# --- image_processing_phi3_v.py ---------------------------------------------------------------------


def padding_336(b):
    width, height = b.size
    tar = int(np.ceil(height / 336) * 336)
    top_padding = int((tar - height) / 2)
    bottom_padding = tar - height - top_padding
    left_padding = 0
    right_padding = 0
    b = torchvision.transforms.functional.pad(b, [left_padding, top_padding, right_padding, bottom_padding], fill=[255, 255, 255])

    return b


def calc_padded_size(width, height, padding_unit=336):
    target_height = int(np.ceil(height / padding_unit) * padding_unit)
    top_padding = int((target_height - height) / 2)
    bottom_padding = target_height - height - top_padding
    left_padding = 0
    right_padding = 0
    padded_width = width + left_padding + right_padding
    padded_height = height + top_padding + bottom_padding
    return padded_width, padded_height


def HD_transform(img, hd_num=16):
    width, height = img.size
    trans = False
    if width < height:
        img = img.transpose(Image.TRANSPOSE)
        trans = True
        width, height = img.size
    ratio = width / height
    scale = 1
    while scale * np.ceil(scale / ratio) <= hd_num:
        scale += 1
    scale -= 1
    new_w = int(scale * 336)
    new_h = int(new_w / ratio)

    img = torchvision.transforms.functional.resize(img, [new_h, new_w],)
    img = padding_336(img)
    width, height = img.size
    if trans:
        img = img.transpose(Image.TRANSPOSE)

    return img


def calc_hd_transform_size(width, height, hd_num=16):
    transposed = False
    if width < height:
        width, height = height, width
        transposed = True

    ratio = width / height
    scale = 1
    while scale * np.ceil(scale / ratio) <= hd_num:
        scale += 1
    scale -= 1

    new_width = int(scale * 336)
    new_height = int(new_width / ratio)

    padded_width, padded_height = calc_padded_size(new_width, new_height)

    if transposed:
        padded_width, padded_height = padded_height, padded_width

    return padded_width, padded_height


def pad_to_max_num_crops_tensor(images, max_crops=5):
    B, _, H, W = images.shape
    if B < max_crops:
        pad = torch.zeros(max_crops - B, 3, H, W, dtype=images.dtype, device=images.device)
        images = torch.cat([images, pad], dim=0)
    return images


def convert_to_rgb(image):
    """transformers' image_transforms.convert_to_rgb on a PIL image (5.23: transparency onto white)."""
    from transformers.image_transforms import convert_to_rgb as hf_convert_to_rgb

    return hf_convert_to_rgb(image, return_numpy=False)


class Phi3VImageProcessor:
    model_input_names = ["pixel_values"]

    def __init__(self, num_crops=1, image_mean=None, image_std=None, do_convert_rgb=True, **kwargs):
        self.num_crops = num_crops
        self.image_mean = image_mean if image_mean is not None else OPENAI_CLIP_MEAN
        self.image_std = image_std if image_std is not None else OPENAI_CLIP_STD
        self.do_convert_rgb = do_convert_rgb
        self.num_img_tokens = kwargs.get("num_img_tokens", 144)

    def calc_num_image_tokens_from_image_size(self, width, height):
        new_width, new_height = calc_hd_transform_size(width, height, hd_num=self.num_crops)
        num_img_tokens = int((new_height // 336 * new_width // 336 + 1) * 144 + 1 + (new_height // 336 + 1) * 12)
        return num_img_tokens

    def preprocess(self, images, image_mean=None, image_std=None, do_convert_rgb=None):
        """Returns (pixel_values, image_sizes, num_img_tokens), as the original's BatchFeature with
        return_tensors="pt" holds them."""
        image_mean = image_mean if image_mean is not None else self.image_mean
        image_std = image_std if image_std is not None else self.image_std
        do_convert_rgb = do_convert_rgb if do_convert_rgb is not None else self.do_convert_rgb

        images = list(images) if isinstance(images, (list, tuple)) else [images]  # make_list_of_images

        if do_convert_rgb:
            images = [convert_to_rgb(image) for image in images]

        img_processor = torchvision.transforms.Compose([
            torchvision.transforms.ToTensor(),
            torchvision.transforms.Normalize(image_mean, image_std)
        ])  # fmt: skip

        images = [image.convert("RGB") for image in images]
        elems = [HD_transform(im, hd_num=self.num_crops) for im in images]
        hd_images = [img_processor(im) for im in elems]
        global_image = [
            torch.nn.functional.interpolate(im.unsqueeze(0).float(), size=(336, 336), mode="bicubic").to(im.dtype)
            for im in hd_images
        ]

        shapes = [[im.size(1), im.size(2)] for im in hd_images]
        num_img_tokens = [int(((h // 336) * (w // 336) + 1) * 144 + 1 + (h // 336 + 1) * 12) for h, w in shapes]
        hd_images_reshape = [
            im.reshape(1, 3, h // 336, 336, w // 336, 336).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3, 336, 336).contiguous()
            for im, (h, w) in zip(hd_images, shapes)
        ]
        hd_images_reshape = [torch.cat([_global_image] + [_im], dim=0) for _global_image, _im in zip(global_image, hd_images_reshape)]

        image_transformed = [pad_to_max_num_crops_tensor(im, self.num_crops + 1) for im in hd_images_reshape]
        image_transformed = torch.stack(image_transformed, dim=0)
        padded_images = image_transformed
        image_sizes = shapes

        return padded_images, torch.tensor(image_sizes, dtype=torch.long), torch.tensor(num_img_tokens, dtype=torch.long)


# --- processing_phi3_v.py -----------------------------------------------------------------------------


def convert_images_texts_to_inputs(tokenizer, num_img_tokens, texts):
    """Phi3VProcessor._convert_images_texts_to_inputs after its image processor call, for one prompt
    string: the input_ids list (images as -N) and the attention mask list."""
    pattern = r"<\|image_\d+\|>"
    prompt_chunks = [tokenizer(chunk).input_ids for chunk in re.split(pattern, texts)]

    image_tags = re.findall(pattern, texts)
    image_ids = [int(s.split("|")[1].split("_")[-1]) for s in image_tags]
    unique_image_ids = sorted(list(set(image_ids)))
    assert unique_image_ids == list(range(1, len(unique_image_ids) + 1))
    assert len(unique_image_ids) == len(num_img_tokens)

    image_ids_pad = [[-iid] * num_img_tokens[iid - 1] for iid in image_ids]

    def insert_separator(X, sep_list):
        if len(X) > len(sep_list):
            sep_list.append([])
        return [ele for sublist in zip(X, sep_list) for ele in sublist]

    input_ids = []
    offset = 0
    for x in insert_separator(prompt_chunks, image_ids_pad):
        input_ids.extend(x[offset:])

    attention_mask = [int(i > -1000000) for i in input_ids]
    return input_ids, attention_mask
