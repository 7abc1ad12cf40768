"""Phi-3-vision / Phi-3.5-vision and Phi-4-multimodal: high-resolution crops plus a global view.

Phi-3.5-vision. Reference: the remote code of microsoft/Phi-3.5-vision-instruct (`processing_phi3_v.py`,
which holds `Phi3VImageProcessor` and `Phi3VProcessor`; the same code as Phi-3-vision-128k-instruct's
`image_processing_phi3_v.py`, transcribed in tests/reference_phi3_v.py) and its preprocessor_config.json:
num_crops 4 (Phi-3-vision-128k-instruct: 16), num_img_tokens 144, CLIP mean/std.

* Plan (`calc_hd_transform_size`): a portrait image is handled transposed; with r = long / short side,
  the largest s with s * ceil(s / r) <= num_crops; the long side becomes 336 s, the short one
  int(336 s / r), padded with white to a multiple of 336 (centred, the odd pixel after). tokens =
  (hc * wc + 1) * 144 + 1 + (hc + 1) * 12 for hc x wc crops: 12 x 12 merged features per 336 view, a
  learned newline after each feature row of the crop grid (12 hc) and of the global view (12), and one
  separator between them (`image_embedding_phi3_v.py`, `hd_feature_transform`).
* Pixels: torchvision's resize and pad on the PIL image are Pillow's bilinear resize and
  `ImageOps.expand`; ToTensor + Normalize is `normalize_lut`; the global view is torch's bicubic
  `interpolate` of the normalised image to 336 x 336 (`pixels.interpolate_bicubic`). pixel_values
  (N, num_crops + 1, 3, 336, 336): global view, crops in raster order, zero crops after.
* Text: the processor splits the prompt at `<|image_N|>` and tokenizes each chunk with its own call, so
  each chunk starts with the tokenizer's `<s>`: a `<s>` follows every image (counted in total_tokens). It
  writes image N as num_img_tokens copies of the id -N; mmtok writes the vocabulary's `<|image|>` (id
  32044, as vLLM does) and `finish_text_encoding` turns each run back into -N. `encode_text` marks each
  image with `<|image|>`, in order: it takes one fixed placeholder per modality, not numbered ones.
  (`Processor.encode_text` does not call `finish_text_encoding` yet: apply it to its output.)

Phi-4-multimodal. Reference: transformers 5.23 `Phi4MultimodalImageProcessor` (torchvision backend only:
it cannot run without torchvision) and `Phi4MultimodalProcessor`; the checkpoint
microsoft/Phi-4-multimodal-instruct uses the class defaults: 448 crops, patch 14, dynamic_hd 36,
mean = std = 0.5.

* Plan (`dynamic_preprocess`): ceil(W / 448) x ceil(H / 448) crops when at most dynamic_hd, else the
  closest aspect ratio among grids of at most dynamic_hd crops (InternVL's rule); resized, aspect kept,
  into the canvas (int() truncation), padded white right/bottom; a 32 x 32 mask per crop zeroes the last
  floor(pad / 14) columns / rows when the padding is at least 14 px. tokens = 256 + 1 + cells + rows +
  16 of the mask sampled [::2, ::2] (16 x 16 per crop): the global view's 16 x 16 and its 16 newlines,
  a separator, and the valid crop features with a newline per valid row. A resized side under 10 px is
  refused, as the reference raises.
* Pixels, to a tolerance: the reference resizes a uint8 tensor with torchvision's antialiased bilinear,
  which is torch's fixed-point uint8 kernel on AVX2 CPUs and a float32 kernel rounded to uint8 elsewhere
  (AVX-512, ARM): machine-dependent, and neither is Pillow's. mmtok resizes with Pillow's bilinear; on the
  tests' photos its crops are within 2 levels of 255 of the uint8 kernel and 1 of the float32 one (so
  within 2 / 127.5 after normalisation), and the global view, computed from them as torch computes it,
  within 1.8 levels (2.5 / 127.5 is tested). The padding, the fused normalisation (x - 127.5) / 127.5,
  the masks, the sizes and the token counts follow the reference exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, ResizedTooSmallError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


def _positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidOptionError(f"{name} must be a positive integer, got {value!r}")
    return value


def _load_all(family: VisionFamily, images: list[Any]):
    for image in images:
        rgb = family.load(image)
        yield rgb, family.plan_size((rgb.height, rgb.width), source=io.describe(image))


class _PhiFamily(VisionFamily):
    tokenizer_name = None
    image_token = "<|image|>"

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images")
        return [Special(self.image_token, plan.tokens)]


# --- Phi-3-vision / Phi-3.5-vision ------------------------------------------------------------------


@dataclass(frozen=True)
class Phi3VSpec:
    crop: int = 336  # CLIP ViT-L/14-336
    features_per_crop: int = 144  # preprocessor_config.json num_img_tokens: (336 / 14 / 2)^2
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD

    @property
    def newlines_per_crop(self) -> int:
        return math.isqrt(self.features_per_crop)


def phi3v_hd_size(height: int, width: int, num_crops: int, crop: int = 336):
    """`calc_hd_transform_size`, in (height, width): the resized size, the padded size, the (before,
    after) padding of the short side, and whether the image was handled transposed."""
    transposed = width < height
    long_side, short_side = (height, width) if transposed else (width, height)
    ratio = long_side / short_side
    scale = 1
    while scale * math.ceil(scale / ratio) <= num_crops:
        scale += 1
    scale -= 1
    new_long = int(scale * crop)
    new_short = int(new_long / ratio)
    padded_short = math.ceil(new_short / crop) * crop
    before = int((padded_short - new_short) / 2)
    pad = (before, padded_short - new_short - before)
    if transposed:
        return (new_long, new_short), (new_long, padded_short), pad, True
    return (new_short, new_long), (padded_short, new_long), pad, False


@FAMILIES.register("phi-3.5-vision", aliases=("phi3_v", "phi3.5-vision", "microsoft/Phi-3.5-vision-instruct"))
class Phi3V(_PhiFamily):
    name = "phi-3.5-vision"
    tokenizer_description = "the tokenizer.json of microsoft/Phi-3.5-vision-instruct (<|image|> = 32044)"
    reference = "microsoft/Phi-3.5-vision-instruct remote code (Phi3VImageProcessor, Phi3VProcessor), num_crops 4"
    spec = Phi3VSpec()
    default_num_crops = 4  # Phi-3.5-vision-instruct preprocessor_config.json
    bos_token = "<s>"  # the Phi-3 tokenizer puts <s> first on every call, so on every prompt chunk
    pad_token = "<|endoftext|>"  # the checkpoint's special_tokens_map.json
    special_tokens = ("<s>", "<|image|>", "<|endoftext|>")

    def __init__(self, *, num_crops: int | None = None, **options):
        """num_crops: the most 336 px crops (the model card suggests 4 for multi-frame, 16 for single-frame)."""
        super().__init__(**options)
        self.num_crops = _positive_int("num_crops", self.default_num_crops if num_crops is None else num_crops)
        self.modality_tokens = {"image": self.image_token}

    @property
    def limits(self) -> dict:
        return {"crop_size": self.spec.crop, "num_crops": self.num_crops}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        crop = self.spec.crop
        resized, padded, pad, transposed = phi3v_hd_size(height, width, self.num_crops, crop)
        if min(resized) < 1:  # Pillow cannot resize to a zero side; neither can the reference
            raise ResizedTooSmallError(source or "image", (height, width), resized, 1)
        hc, wc = padded[0] // crop, padded[1] // crop
        n, rows = self.spec.features_per_crop, self.spec.newlines_per_crop
        tokens = (hc * wc + 1) * n + 1 + (hc + 1) * rows
        details = {
            "crop_grid": [hc, wc],
            "hd_size": list(padded),
            "resized_image": list(resized),
            "padding": list(pad),
            "transposed": transposed,
            "crop_tokens": hc * wc * n + hc * rows,
            "global_tokens": n + rows,
        }
        return ImagePlan(
            self.name, (height, width), (crop, crop), None, tokens, self.limits, source,
            total_tokens=tokens + 1, tiles=hc * wc + 1, details=details,
        )  # fmt: skip

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(num_crops + 1, 3, 336, 336) float32 for one RGB image: HD_transform, then crops."""
        from PIL import Image, ImageOps

        spec, crop = self.spec, self.spec.crop
        image = rgb_image.transpose(Image.Transpose.TRANSPOSE) if plan.details["transposed"] else rgb_image
        rh, rw = plan.details["resized_image"]
        target = (rh, rw) if not plan.details["transposed"] else (rw, rh)  # (height, width) while transposed
        if (image.height, image.width) != target:
            image = image.resize(target[::-1], resample=Image.Resampling.BILINEAR, reducing_gap=None)
        before, after = plan.details["padding"]
        if before or after:
            image = ImageOps.expand(image, border=(0, before, 0, after), fill=(255, 255, 255))
        if plan.details["transposed"]:
            image = image.transpose(Image.Transpose.TRANSPOSE)
        lut = pixels.normalize_lut(spec.image_mean, spec.image_std, 1 / 255)
        planes = pixels.normalized_planes(np.asarray(image), lut)
        hc, wc = plan.details["crop_grid"]
        out = np.zeros((self.num_crops + 1, 3, crop, crop), dtype=np.float32)
        out[0] = pixels.interpolate_bicubic(planes, (crop, crop))
        out[1 : 1 + hc * wc] = planes.reshape(3, hc, crop, wc, crop).transpose(1, 3, 0, 2, 4).reshape(-1, 3, crop, crop)
        return out

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """Phi3VImageProcessor's output: pixel_values (N, num_crops + 1, 3, 336, 336), image_sizes (N, 2)
        (the padded HD height, width) and num_img_tokens (N,), int64."""
        plans, rows = [], []
        for rgb, plan in _load_all(self, images):
            rows.append(self.image_features(rgb, plan))
            plans.append(plan)
        crop = self.spec.crop
        empty = np.zeros((0, self.num_crops + 1, 3, crop, crop), np.float32)
        data = {
            "pixel_values": np.stack(rows) if rows else empty,
            "image_sizes": np.array([p.details["hd_size"] for p in plans], dtype=np.int64).reshape(-1, 2),
            "num_img_tokens": np.array([p.tokens for p in plans], dtype=np.int64),
        }
        return data, plans

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        # the <s> that starts the next prompt chunk in the reference
        return super().expand(media, plan) + [Special(self.bos_token)]

    def finish_text_encoding(self, out: dict, images_per_sample: list[int], tokenizer) -> None:
        """Turn `encode_text`'s output into Phi3VProcessor's, in place: num_img_tokens dropped and each
        image's `<|image|>` run written as -N for the sample's N-th image."""
        out.pop("num_img_tokens", None)
        out["input_ids"] = negative_image_ids(out["input_ids"], tokenizer.special_tokens[self.image_token])


def negative_image_ids(input_ids: np.ndarray, image_id: int) -> np.ndarray:
    """`input_ids` with the N-th run of `image_id` in each row replaced by -N (Phi3VProcessor's layout,
    which the remote-code model reads back with `input_ids < 0`)."""
    ids = np.array(input_ids, dtype=np.int64, copy=True)
    for row in ids:
        is_image = row == image_id
        starts = is_image & ~np.concatenate([[False], is_image[:-1]])
        row[is_image] = -np.cumsum(starts)[is_image]
    return ids


@FAMILIES.register("phi-3-vision", aliases=("microsoft/Phi-3-vision-128k-instruct",))
class Phi3Vision(Phi3V):
    name = "phi-3-vision"
    tokenizer_description = "the tokenizer.json of microsoft/Phi-3-vision-128k-instruct (<|image|> = 32044)"
    reference = "microsoft/Phi-3-vision-128k-instruct remote code (Phi3VImageProcessor, Phi3VProcessor), num_crops 16"
    default_num_crops = 16  # Phi-3-vision-128k-instruct preprocessor_config.json


# --- Phi-4-multimodal -------------------------------------------------------------------------------


def closest_aspect_ratio(width: int, height: int, max_crops: int, crop: int) -> tuple[int, int]:
    """`find_closest_aspect_ratio` over the (w_crops, h_crops) grids of 1..max_crops crops, listed as the
    reference lists them (a set sorted by crop count: its ties keep the set's order)."""
    aspect = width / height
    grids = {
        (i, j)
        for n in range(1, max_crops + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if i * j <= max_crops and i * j >= 1
    }
    best_diff, best = float("inf"), (1, 1)
    for grid in sorted(grids, key=lambda x: x[0] * x[1]):
        diff = abs(aspect - grid[0] / grid[1])
        if diff < best_diff:
            best_diff, best = diff, grid
        elif diff == best_diff and width * height > 0.5 * crop * crop * grid[0] * grid[1]:
            best = grid
    return best


@dataclass(frozen=True)
class Phi4Spec:
    crop: int = 448
    patch_size: int = 14
    dynamic_hd: int = 36
    image_mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    image_std: tuple[float, ...] = (0.5, 0.5, 0.5)
    min_side: int = 10  # dynamic_preprocess raises "the aspect ratio is very extreme" below this


@FAMILIES.register(
    "phi-4-multimodal", aliases=("phi4_multimodal", "phi4mm", "phi-4-mm", "microsoft/Phi-4-multimodal-instruct")
)
class Phi4Multimodal(_PhiFamily):
    name = "phi-4-multimodal"
    tokenizer_description = "the tokenizer.json of microsoft/Phi-4-multimodal-instruct (transformers format)"
    reference = "transformers 5.23 Phi4MultimodalProcessor + Phi4MultimodalImageProcessor (pixels to 2/127.5)"
    spec = Phi4Spec()
    pad_token = "<|endoftext|>"  # the checkpoint's pad_token_id 199999
    special_tokens = ("<|image|>", "<|endoftext|>")

    def __init__(self, *, dynamic_hd: int | None = None, **options):
        """dynamic_hd: the most 448 px crops (checkpoint and processor default: 36)."""
        super().__init__(**options)
        self.dynamic_hd = _positive_int("dynamic_hd", self.spec.dynamic_hd if dynamic_hd is None else dynamic_hd)
        self.modality_tokens = {"image": self.image_token}

    @property
    def limits(self) -> dict:
        return {"crop_size": self.spec.crop, "dynamic_hd": self.dynamic_hd}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        crop, patch = self.spec.crop, self.spec.patch_size
        w_crops, h_crops = math.ceil(width / float(crop)), math.ceil(height / float(crop))
        if w_crops * h_crops > self.dynamic_hd:
            w_crops, h_crops = closest_aspect_ratio(width, height, self.dynamic_hd, crop)
        target_w, target_h = crop * w_crops, crop * h_crops
        ratio_w, ratio_h = target_w / width, target_h / height
        if ratio_w < ratio_h:
            new_w, new_h = target_w, int(height * ratio_w)
        else:
            new_w, new_h = int(width * ratio_h), target_h
        pad_w, pad_h = target_w - new_w, target_h - new_h
        if min(new_w, new_h) < self.spec.min_side:
            raise ResizedTooSmallError(source or "image", (height, width), (new_h, new_w), self.spec.min_side)
        mask = crop // patch  # 32 mask cells per crop side
        masked_cols = pad_w // patch if pad_w >= patch else 0
        masked_rows = pad_h // patch if pad_h >= patch else 0
        # the mask sampled at even rows and columns (16 x 16 per crop), counted
        rows = (mask * h_crops - masked_rows + 1) // 2
        cols = (mask * w_crops - masked_cols + 1) // 2
        half = (mask + 1) // 2
        tokens = half * half + 1 + rows * cols + rows + half
        details = {
            "crop_grid": [h_crops, w_crops],
            "hd_size": [target_h, target_w],
            "resized_image": [new_h, new_w],
            "padding": [pad_h, pad_w],
            "masked": [masked_rows, masked_cols],
            "feature_grid": [rows, cols],
        }
        return ImagePlan(
            self.name, (height, width), (crop, crop), None, tokens, self.limits, source,
            tiles=h_crops * w_crops + 1, details=details,
        )  # fmt: skip

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(crops + 1, 3, 448, 448) float32 for one RGB image: the global view, then the crops."""
        from PIL import Image

        spec, crop = self.spec, self.spec.crop
        new_h, new_w = plan.details["resized_image"]
        hd_h, hd_w = plan.details["hd_size"]
        image = rgb_image
        if (image.height, image.width) != (new_h, new_w):
            image = image.resize((new_w, new_h), resample=Image.Resampling.BILINEAR, reducing_gap=None)
        canvas = np.full((hd_h, hd_w, 3), 255, dtype=np.uint8)
        canvas[:new_h, :new_w] = np.asarray(image)
        lut = pixels.normalize_lut_fused(spec.image_mean, spec.image_std, 1 / 255)
        planes = pixels.normalized_planes(canvas, lut)
        hc, wc = plan.details["crop_grid"]
        out = np.empty((hc * wc + 1, 3, crop, crop), dtype=np.float32)
        # torchvision returns an image already at the target size untouched
        out[0] = planes if (hd_h, hd_w) == (crop, crop) else pixels.interpolate_bicubic(planes, (crop, crop))
        out[1:] = planes.reshape(3, hc, crop, wc, crop).transpose(1, 3, 0, 2, 4).reshape(-1, 3, crop, crop)
        return out

    def attention_mask(self, plan: ImagePlan) -> np.ndarray:
        """(crops + 1, 32, 32) float32 from the plan alone: ones for the global view, then each crop's
        patch cells with the masked padding columns and rows zeroed."""
        m = self.spec.crop // self.spec.patch_size
        hc, wc = plan.details["crop_grid"]
        masked_rows, masked_cols = plan.details["masked"]
        full = np.ones((hc * m, wc * m), dtype=np.float32)
        full[full.shape[0] - masked_rows :, :] = 0
        full[:, full.shape[1] - masked_cols :] = 0
        masks = np.ones((hc * wc + 1, m, m), dtype=np.float32)
        masks[1:] = full.reshape(hc, m, wc, m).transpose(0, 2, 1, 3).reshape(-1, m, m)
        return masks

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """Phi4MultimodalImageProcessor's output: image_pixel_values (N, most crops + 1, 3, 448, 448) with
        zero crops after an image's own, image_attention_mask (N, most crops + 1, 32, 32) float32 padded
        with ones, image_sizes (N, 2) int64 (the HD height, width), num_img_tokens (N,) int64."""
        plans, crops, masks = [], [], []
        for rgb, plan in _load_all(self, images):
            values, mask = self.image_features(rgb, plan), self.attention_mask(plan)
            crops.append(values)
            masks.append(mask)
            plans.append(plan)
        crop, m = self.spec.crop, self.spec.crop // self.spec.patch_size
        most = max((c.shape[0] for c in crops), default=1)
        pixel_values = np.zeros((len(crops), most, 3, crop, crop), dtype=np.float32)
        attention = np.ones((len(crops), most, m, m), dtype=np.float32)
        for i, (values, mask) in enumerate(zip(crops, masks)):
            pixel_values[i, : values.shape[0]] = values
            attention[i, : mask.shape[0]] = mask
        data = {
            "image_pixel_values": pixel_values,
            "image_sizes": np.array([p.details["hd_size"] for p in plans], dtype=np.int64).reshape(-1, 2),
            "image_attention_mask": attention,
            "num_img_tokens": np.array([p.tokens for p in plans], dtype=np.int64),
        }
        return data, plans

    def finish_text_encoding(self, out: dict, images_per_sample: list[int], tokenizer) -> None:
        """Turn `encode_text`'s output into Phi4MultimodalProcessor's: it drops num_img_tokens."""
        out.pop("num_img_tokens", None)
