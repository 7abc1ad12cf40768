"""Gemma 3: every image (and every pan-and-scan crop) is 896 x 896 and 256 soft tokens.

Reference: transformers 5.23 `models/gemma3/` (`Gemma3ImageProcessorPil`, `Gemma3Processor`) with the
google/gemma-3-4b-it checkpoint's preprocessor_config.json (size 896 x 896, resample BILINEAR,
mean = std = 0.5, image_seq_length 256) and the processor's defaults for the pan-and-scan options
that the checkpoint leaves null (off; min crop 256, at most 4 crops, activated from aspect ratio 1.2).

* Plan. No pixel budget: the image is resized to 896 x 896, aspect ratio not kept. SigLIP's 64 x 64
  patches are average-pooled 4 x 4 into 256 soft tokens. With `pan_and_scan=True`, an image whose
  aspect ratio reaches `pan_and_scan_min_ratio` is also cut along its long side into n equal crops
  (n = the rounded aspect ratio, at most long side / min_crop_size, clamped to [2, max_crops]; no
  crops if a crop would be under min_crop_size), each another 896 x 896 image: tiles = 1 + n.
* Pixels. RGB, Pillow bilinear to 896 x 896 (crops are cut from the original image first; the last
  crop may be narrower), x/255, mean = std = 0.5: pixel_values (images + crops, 3, 896, 896).
* Sequence. The prompt marks an image with `<start_of_image>`; the processor replaces it with
  "\\n\\n<start_of_image>" + `<image_soft_token>` x 256 + "<end_of_image>\\n\\n", and with crops with
  "Here is the original image {that} and here are some crops to help you see better {that} {that}...".
  tokens = 256 per image or crop (the soft tokens); total_tokens adds `<start_of_image>` and
  `<end_of_image>` and counts each "\\n\\n" as one token (Gemma's vocabulary has it; next to other
  newlines in the prompt it may merge further). The pan-and-scan sentences are text whose length
  depends on the tokenizer mmtok does not ship: not counted.

The reference returns the soft-token mask as `token_type_ids`; mmtok's processor names it
`mm_token_type_ids` (same values).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special, Text
from .. import pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily

BOI, EOI, SOFT = "<start_of_image>", "<end_of_image>", "<image_soft_token>"
IMAGE_SIZE = 896  # preprocessor_config.json size
IMAGE_SEQ_LENGTH = 256  # processor_config.json image_seq_length (= Gemma3Config.mm_tokens_per_image)
CROPS_INTRO = "Here is the original image "
CROPS_MIDDLE = " and here are some crops to help you see better "


def pan_and_scan_crops(
    height: int, width: int, *, min_crop_size: int, max_crops: int, min_ratio: float
) -> list[tuple[int, int, int, int]]:
    """The crop boxes (top, left, bottom, right) of `Gemma3ImageProcessorPil.pan_and_scan`, clipped to
    the image as its array slicing clips them; [] when pan and scan does not apply."""
    if width >= height:
        if width / height < min_ratio:
            return []
        # "Half round up rounding", then crops of at least min_crop_size, then clamped to [2, max_crops]
        across = min(int(math.floor(width / min_crop_size)), int(math.floor(width / height + 0.5)))
        across, down = min(max_crops, max(2, across)), 1
    else:
        if height / width < min_ratio:
            return []
        down = min(int(math.floor(height / min_crop_size)), int(math.floor(height / width + 0.5)))
        down, across = min(max_crops, max(2, down)), 1
    crop_w, crop_h = int(math.ceil(width / across)), int(math.ceil(height / down))
    if min(crop_w, crop_h) < min_crop_size:
        return []
    return [
        (top, left, min(top + crop_h, height), min(left + crop_w, width))
        for top, left in itertools.product(range(0, crop_h * down, crop_h), range(0, crop_w * across, crop_w))
    ]


@FAMILIES.register(
    "gemma3",
    aliases=(
        "gemma-3", "google/gemma-3-4b-it", "google/gemma-3-12b-it", "google/gemma-3-27b-it",
        "google/gemma-3-4b-pt", "google/gemma-3-12b-pt", "google/gemma-3-27b-pt",
    ),
)  # fmt: skip
class Gemma3(VisionFamily):
    name = "gemma3"
    tokenizer_name = None
    tokenizer_description = "the Gemma 3 tokenizer.json of google/gemma-3-4b-it"
    reference = "transformers 5.23 Gemma3Processor + Gemma3ImageProcessorPil, google/gemma-3-4b-it settings"
    bos_token = "<bos>"  # the Gemma tokenizer prepends it
    special_tokens = (BOI, EOI, SOFT)
    modality_tokens = {"image": SOFT}

    def __init__(
        self,
        *,
        pan_and_scan: bool = False,
        pan_and_scan_min_crop_size: int = 256,
        pan_and_scan_max_num_crops: int = 4,
        pan_and_scan_min_ratio_to_activate: float = 1.2,
        rgb: str = "reference",
        exif_transpose: bool | None = None,
        **unsupported,
    ):
        """The pan-and-scan options of Gemma3Processor (do_pan_and_scan and its three settings)."""
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise InvalidOptionError(
                f"{self.name} takes no {', '.join(given)}: it resizes every image to 896 x 896; "
                "its options are pan_and_scan and pan_and_scan_min_crop_size / _max_num_crops / _min_ratio_to_activate"
            )
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        if not isinstance(pan_and_scan, bool):
            raise InvalidOptionError(f"pan_and_scan must be True or False; got {pan_and_scan!r}")
        counts = {"pan_and_scan_min_crop_size": pan_and_scan_min_crop_size, "pan_and_scan_max_num_crops": pan_and_scan_max_num_crops}
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidOptionError(f"{name} must be a positive integer; got {value!r}")
        ratio = pan_and_scan_min_ratio_to_activate
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio <= 0:
            raise InvalidOptionError(f"pan_and_scan_min_ratio_to_activate must be a positive number; got {ratio!r}")
        self.pan_and_scan = pan_and_scan
        self.min_crop_size = pan_and_scan_min_crop_size
        self.max_crops = pan_and_scan_max_num_crops
        self.min_ratio = pan_and_scan_min_ratio_to_activate

    @property
    def limits(self) -> dict:
        limits = {"image_size": IMAGE_SIZE, "pan_and_scan": self.pan_and_scan}
        if self.pan_and_scan:
            limits.update(min_crop_size=self.min_crop_size, max_num_crops=self.max_crops, min_ratio=self.min_ratio)
        return limits

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        crops = []
        if self.pan_and_scan:
            crops = pan_and_scan_crops(
                height, width, min_crop_size=self.min_crop_size, max_crops=self.max_crops, min_ratio=self.min_ratio
            )
        tiles = 1 + len(crops)
        tokens = IMAGE_SEQ_LENGTH * tiles
        details = {"crops": [list(box) for box in crops]} if self.pan_and_scan else {}
        # per image or crop: <start_of_image>, <end_of_image> and the two "\n\n"
        return ImagePlan(
            self.name, (height, width), (IMAGE_SIZE, IMAGE_SIZE), None, tokens, self.limits, source,
            total_tokens=tokens + 4 * tiles, tiles=tiles, details=details,
        )

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(1 + crops, 3, 896, 896) float32: the whole image, then its crops."""
        from PIL import Image

        crops = plan.details.get("crops", ())
        views = [rgb_image] + [rgb_image.crop((left, top, right, bottom)) for top, left, bottom, right in crops]
        lut = pixels.normalize_lut((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255)
        out = np.empty((len(views), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        for i, view in enumerate(views):
            resized = view.resize((IMAGE_SIZE, IMAGE_SIZE), resample=Image.Resampling.BILINEAR, reducing_gap=None)
            out[i] = pixels.normalized_planes(np.asarray(resized), lut)
        return out

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        plans, blocks = self.planned_features(images)
        values = np.concatenate(blocks) if blocks else np.zeros((0, 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)
        return {"pixel_values": values}, plans

    def template_text(self, kind: str) -> str:
        return BOI  # the chat template writes <start_of_image> for an image item

    def text_placeholder(self, kind: str) -> str:
        return BOI if kind == "image" else ""

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (mmtok has no Gemma 3 video layout)")
        image = [Text("\n\n"), Special(BOI), Special(SOFT, IMAGE_SEQ_LENGTH), Special(EOI), Text("\n\n")]
        crops = plan.tiles - 1
        if not crops:
            return image
        pieces = [Text(CROPS_INTRO), *image, Text(CROPS_MIDDLE), *image]
        for _ in range(crops - 1):
            pieces += [Text(" "), *image]
        return pieces
