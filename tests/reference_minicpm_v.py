"""MiniCPM-V 2.6's reference code, transcribed statement by statement for the tests (it cannot be installed).

The image processor and processor of openbmb/MiniCPM-V-2_6 are remote code on the Hugging Face Hub
(`image_processing_minicpmv.py`, `processing_minicpmv.py`), not part of transformers. The Hub files could
not be read here; these GitHub copies were:

* `image_processing_minicpmv.py`, `MiniCPMVImageProcessor`: guilh00009/llamafactory-fix-MiniCPM-o-2_6 @
  2f4dd5f7dd8cee05917980b04e632f153ed19440 (MiniCPM-o 2.6's copy of the 2.6 file, with `use_image_id`,
  `im_id_start`, `slice_mode`, `get_sliced_grid(image_size, max_slice_nums, nerver_split)`). Its one local
  patch, `_safe_normalize`, is not followed: the normalisation below is the unpatched
  `self.normalize(image=..., mean=self.mean, std=self.std, input_data_format=...)` of every other copy
  read (HwwwwwwwH/MiniCPM-V-2 @ 3ce0a28d1a445c7cfdbe6d612d7a8e2160d07637, the 2.0/2.5 file, whose slicing
  functions are the same line for line), i.e. transformers' `image_transforms.normalize` on a float32
  channels-last image: mean and std cast to float32, `(image - mean) / std`.
* `processing_minicpmv.py`, `MiniCPMVProcessor._convert_images_texts_to_inputs` and `_convert` (2.6: passes
  the image index and use_image_id): 404805854/minicpmv2.6-onnx @ 48804ee7110d544e367f808ff8f74c04048b78fb.
* Settings: the 2.6 preprocessor_config.json (max_slice_nums 9, scale_resolution 448, patch_size 14,
  use_image_id true, image_feature_size 64, norm_mean = norm_std = [0.5] * 3, version 2.6), as in
  /work/shared/research/families.md section 5.

`reshape_by_patch` keeps the reference's torch unfold. Only the class scaffolding and transformers'
BatchFeature wrapping are dropped.
"""

from __future__ import annotations

import math
import re

import numpy as np
from PIL import Image


class MiniCPMVImageProcessor:
    def __init__(self, max_slice_nums=9, scale_resolution=448, patch_size=14, **kwargs):
        self.max_slice_nums = max_slice_nums
        self.scale_resolution = scale_resolution
        self.patch_size = patch_size
        self.use_image_id = kwargs.pop("use_image_id", False)
        self.image_feature_size = kwargs.pop("image_feature_size", 64)
        self.im_start_token = kwargs.pop("im_start", "<image>")
        self.im_end_token = kwargs.pop("im_end", "</image>")
        self.slice_start_token = kwargs.pop("slice_start", "<slice>")
        self.slice_end_token = kwargs.pop("slice_end", "</slice>")
        self.unk_token = kwargs.pop("unk", "<unk>")
        self.im_id_start = kwargs.pop("im_id_start", "<image_id>")
        self.im_id_end = kwargs.pop("im_id_end", "</image_id>")
        self.slice_mode = kwargs.pop("slice_mode", True)
        self.mean = np.array(kwargs.pop("norm_mean", [0.5, 0.5, 0.5]))
        self.std = np.array(kwargs.pop("norm_std", [0.5, 0.5, 0.5]))
        self.version = kwargs.pop("version", 2.0)

    def ensure_divide(self, length, patch_size):
        return max(round(length / patch_size) * patch_size, patch_size)

    def find_best_resize(self, original_size, scale_resolution, patch_size, allow_upscale=False):
        width, height = original_size
        if (width * height > scale_resolution * scale_resolution) or allow_upscale:
            r = width / height
            height = int(scale_resolution / math.sqrt(r))
            width = int(height * r)
        best_width = self.ensure_divide(width, patch_size)
        best_height = self.ensure_divide(height, patch_size)
        return (best_width, best_height)

    def get_refine_size(self, original_size, grid, scale_resolution, patch_size, allow_upscale=False):
        width, height = original_size
        grid_x, grid_y = grid

        refine_width = self.ensure_divide(width, grid_x)
        refine_height = self.ensure_divide(height, grid_y)

        grid_width = refine_width / grid_x
        grid_height = refine_height / grid_y

        best_grid_size = self.find_best_resize((grid_width, grid_height), scale_resolution, patch_size, allow_upscale=allow_upscale)
        refine_size = (best_grid_size[0] * grid_x, best_grid_size[1] * grid_y)
        return refine_size

    def split_to_patches(self, image, grid):
        patches = []
        width, height = image.size
        grid_x = int(width / grid[0])
        grid_y = int(height / grid[1])
        for i in range(0, height, grid_y):
            images = []
            for j in range(0, width, grid_x):
                box = (j, i, j + grid_x, i + grid_y)
                patch = image.crop(box)
                images.append(patch)
            patches.append(images)
        return patches

    def slice_image(self, image, max_slice_nums=9, scale_resolution=448, patch_size=14, never_split=False):
        original_size = image.size
        source_image = None
        best_grid = self.get_sliced_grid(original_size, max_slice_nums, never_split)
        patches = []

        if best_grid is None:
            # dont need to slice, upsample
            best_size = self.find_best_resize(original_size, scale_resolution, patch_size, allow_upscale=True)
            source_image = image.resize(best_size, resample=Image.Resampling.BICUBIC)
        else:
            # source image, down-sampling and ensure divided by patch_size
            best_resize = self.find_best_resize(original_size, scale_resolution, patch_size)
            source_image = image.copy().resize(best_resize, resample=Image.Resampling.BICUBIC)
            refine_size = self.get_refine_size(original_size, best_grid, scale_resolution, patch_size, allow_upscale=True)
            refine_image = image.resize(refine_size, resample=Image.Resampling.BICUBIC)
            patches = self.split_to_patches(refine_image, best_grid)

        return source_image, patches, best_grid

    def get_grid_placeholder(self, grid):
        if grid is None:
            return ""
        slice_image_placeholder = self.slice_start_token + self.unk_token * self.image_feature_size + self.slice_end_token

        cols = grid[0]
        rows = grid[1]
        slices = []
        for i in range(rows):
            lines = []
            for j in range(cols):
                lines.append(slice_image_placeholder)
            slices.append("".join(lines))

        slice_placeholder = "\n".join(slices)
        return slice_placeholder

    def get_image_id_placeholder(self, idx=0):
        return f"{self.im_id_start}{idx}{self.im_id_end}"

    def get_sliced_images(self, image, max_slice_nums=None):
        slice_images = []

        if not self.slice_mode:
            return [image]

        max_slice_nums = self.max_slice_nums if max_slice_nums is None else int(max_slice_nums)
        assert max_slice_nums > 0
        source_image, patches, sliced_grid = self.slice_image(image, max_slice_nums, self.scale_resolution, self.patch_size)

        slice_images.append(source_image)
        if len(patches) > 0:
            for i in range(len(patches)):
                for j in range(len(patches[0])):
                    slice_images.append(patches[i][j])
        return slice_images

    def get_sliced_grid(self, image_size, max_slice_nums, nerver_split=False):
        original_width, original_height = image_size
        log_ratio = math.log(original_width / original_height)
        ratio = original_width * original_height / (self.scale_resolution * self.scale_resolution)
        multiple = min(math.ceil(ratio), max_slice_nums)
        if multiple <= 1 or nerver_split:
            return None
        candidate_split_grids_nums = []
        for i in [multiple - 1, multiple, multiple + 1]:
            if i == 1 or i > max_slice_nums:
                continue
            candidate_split_grids_nums.append(i)

        candidate_grids = []
        for split_grids_nums in candidate_split_grids_nums:
            m = 1
            while m <= split_grids_nums:
                if split_grids_nums % m == 0:
                    candidate_grids.append([m, split_grids_nums // m])
                m += 1

        best_grid = [1, 1]
        min_error = float("inf")
        for grid in candidate_grids:
            error = abs(log_ratio - math.log(grid[0] / grid[1]))
            if error < min_error:
                best_grid = grid
                min_error = error

        return best_grid

    def get_slice_image_placeholder(self, image_size, image_idx=0, max_slice_nums=None, use_image_id=None):
        max_slice_nums = self.max_slice_nums if max_slice_nums is None else int(max_slice_nums)
        assert max_slice_nums > 0
        grid = self.get_sliced_grid(image_size=image_size, max_slice_nums=max_slice_nums)

        image_placeholder = self.im_start_token + self.unk_token * self.image_feature_size + self.im_end_token
        use_image_id = self.use_image_id if use_image_id is None else bool(use_image_id)
        if use_image_id:
            final_placeholder = self.get_image_id_placeholder(image_idx) + image_placeholder
        else:
            final_placeholder = image_placeholder

        if self.slice_mode:
            final_placeholder = final_placeholder + self.get_grid_placeholder(grid=grid)
        return final_placeholder

    def reshape_by_patch(self, image):
        """
        :param image: shape [3, H, W]
        :param patch_size:
        :return: [3, patch_size, HW/patch_size]
        """
        import torch

        image = torch.from_numpy(image)
        patch_size = self.patch_size
        patches = torch.nn.functional.unfold(image, (patch_size, patch_size), stride=(patch_size, patch_size))

        patches = patches.reshape(image.size(0), patch_size, patch_size, -1)
        patches = patches.permute(0, 1, 3, 2).reshape(image.size(0), patch_size, -1)
        return patches.numpy()

    def normalize(self, image, mean, std):
        # transformers image_transforms.normalize, channels-last float32 input (see the module docstring)
        mean = np.array(mean, dtype=image.dtype)
        std = np.array(std, dtype=image.dtype)
        return (image - mean) / std

    def preprocess(self, images, max_slice_nums=None):
        """`preprocess` for PIL images (one list per prompt), channels-last as `infer_channel_dimension_format`
        finds it for every image higher than 3 px."""
        if isinstance(images, Image.Image):
            images_list = [[images]]
        elif isinstance(images[0], Image.Image):
            images_list = [images]
        else:
            images_list = images

        new_images_list, image_sizes_list, tgt_sizes_list = [], [], []
        for _images in images_list:
            if _images is None or len(_images) == 0:
                new_images_list.append([])
                image_sizes_list.append([])
                tgt_sizes_list.append([])
                continue
            _images = [image.convert("RGB") for image in _images]
            new_images = []
            image_sizes = [image.size for image in _images]
            tgt_sizes = []
            for image in _images:
                image_patches = self.get_sliced_images(image, max_slice_nums)
                image_patches = [np.array(image).astype(np.float32) / 255 for image in image_patches]
                image_patches = [self.normalize(image, self.mean, self.std) for image in image_patches]
                image_patches = [image.transpose(2, 0, 1) for image in image_patches]  # to_channel_dimension_format FIRST
                for slice_image in image_patches:
                    new_images.append(self.reshape_by_patch(np.ascontiguousarray(slice_image)))
                    tgt_sizes.append(np.array((slice_image.shape[1] // self.patch_size, slice_image.shape[2] // self.patch_size)))
            if tgt_sizes:
                tgt_sizes = np.vstack(tgt_sizes)
            new_images_list.append(new_images)
            image_sizes_list.append(image_sizes)
            tgt_sizes_list.append(tgt_sizes)
        return {"pixel_values": new_images_list, "image_sizes": image_sizes_list, "tgt_sizes": tgt_sizes_list}


class MiniCPMVProcessor:
    """`MiniCPMVProcessor.__call__` -> `_convert_images_texts_to_inputs` (2.6), with a Hugging Face tokenizer.
    Ids are kept as lists (the reference makes int32 tensors and left-pads the batch with 0)."""

    def __init__(self, image_processor: MiniCPMVImageProcessor, tokenizer):
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.version = image_processor.version

    def __call__(self, text, images, max_slice_nums=None, use_image_id=None):
        image_inputs = self.image_processor.preprocess(images, max_slice_nums=max_slice_nums)
        return self._convert_images_texts_to_inputs(image_inputs, text, max_slice_nums=max_slice_nums, use_image_id=use_image_id)

    def _convert(self, input_str):
        # version > 2.5: tokenizer.encode (Qwen2: no BOS)
        input_ids = self.tokenizer.encode(input_str)
        ids = np.array(input_ids)
        token_id = self.tokenizer.convert_tokens_to_ids
        start_cond = (ids == token_id("<image>")) | (ids == token_id("<slice>"))  # im_start_id, slice_start_id
        end_cond = (ids == token_id("</image>")) | (ids == token_id("</slice>"))
        image_start_tokens = np.where(start_cond)[0] + 1
        image_end_tokens = np.where(end_cond)[0]
        valid_image_nums = max(len(image_start_tokens), len(image_end_tokens))
        image_bounds = np.stack([image_start_tokens[:valid_image_nums], image_end_tokens[:valid_image_nums]], axis=-1)
        return input_ids, image_bounds

    def _convert_images_texts_to_inputs(self, images, texts, max_slice_nums=None, use_image_id=None):
        pattern = "(<image>./</image>)"
        images, image_sizes, tgt_sizes = images["pixel_values"], images["image_sizes"], images["tgt_sizes"]

        if isinstance(texts, str):
            texts = [texts]
        input_ids_list = []
        image_bounds_list = []
        for index, text in enumerate(texts):
            image_tags = re.findall(pattern, text)
            assert len(image_tags) == len(image_sizes[index])
            text_chunks = text.split(pattern)
            final_text = ""
            for i in range(len(image_tags)):
                final_text = final_text + text_chunks[i] + self.image_processor.get_slice_image_placeholder(
                    image_sizes[index][i], i, max_slice_nums, use_image_id
                )
            final_text += text_chunks[-1]
            input_ids, image_bounds = self._convert(final_text)
            input_ids_list.append(input_ids)
            image_bounds_list.append(image_bounds)
        return {
            "input_ids": input_ids_list,
            "pixel_values": images,
            "image_sizes": image_sizes,
            "image_bound": image_bounds_list,
            "tgt_sizes": tgt_sizes,
        }
