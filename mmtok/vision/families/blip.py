"""BLIP (ViT at 384 px) and BLIP-2 (EVA ViT-g at 224 px, 32 Q-Former queries).

Reference: transformers 5.23 `BlipImageProcessorPil` (models/blip/image_processing_pil_blip.py),
`BlipProcessor` (processing_blip.py), `Blip2Processor` (models/blip_2/processing_blip_2.py), the
configs' defaults (`BlipVisionConfig`: image_size 384, patch_size 16; `Blip2VisionConfig`: 224, 14;
`Blip2Config.num_query_tokens` 32) and the checkpoints' preprocessor_config.json
(Salesforce/blip-image-captioning-base: BlipImageProcessor, 384 x 384; Salesforce/blip2-opt-2.7b:
224 x 224; both bicubic, x/255, OpenAI CLIP mean/std, no crop).

Pixels (both): RGB, Pillow bicubic resize straight to S x S (aspect ratio not kept), x/255, mean/std
in float32 -> pixel_values (N, 3, S, S) float32, bit for bit.

* "blip" (image captioning / VQA / retrieval checkpoints). The ViT cuts 384 x 384 into 24 x 24 patches
  of 16 px and adds CLS: 577 features, all of which BLIP's BERT text decoder cross-attends to.
  BlipProcessor writes no image token: the text is tokenized alone ([CLS] text [SEP]). `tokens` is
  therefore not a placeholder count of BLIP's own: it is the 577 vision features its text side attends
  to (`details["cross_attention"]`), and mmtok's sequence layout is the LLaVA-style convention of the
  CLIP encoders: each `<image>` in a prompt becomes 577 x `<image>`. A tokenizer.json with `<image>`
  as a special token is needed for that layout (BLIP's BERT vocabulary has none); BlipProcessor's ids
  are the text's alone.
* "blip2" (Salesforce/blip2-opt-*, blip2-flan-t5-*). 224 / 14 = 16 x 16 patches + CLS = 257 features
  go into the Q-Former, whose 32 learned queries become the 32 positions the language model receives.
  Blip2Processor (with num_query_tokens set, as the current checkpoints' processor_config.json has it)
  puts `<image>` x 32 in front of every text sample, before the tokenizer's BOS: for text T the ids are
  32 x <image>, BOS, T. mmtok's prompt form is "<image>" + T: the placeholder becomes the 32 query
  tokens followed by `bos` (default "</s>", the OPT tokenizer's BOS; pass bos=None for the Flan-T5
  checkpoints, whose tokenizer writes no BOS). Write the placeholder first: the reference always puts
  the queries first. Differences: Blip2Processor adds 32 tokens per text sample whatever the number of
  images (mmtok: per placeholder), and the T5 tokenizer's trailing `</s>` is not written by
  encode_text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmptyImageError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .clip import refuse_options, square_pixel_values
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


@dataclass(frozen=True)
class BlipSpec:
    """The numbers that fix a BLIP-style image input (a direct resize to S x S)."""

    image_size: int  # preprocessor_config.json size (height = width) = vision_config.image_size
    patch_size: int  # vision_config.patch_size
    num_query_tokens: int | None = None  # BLIP-2's Q-Former queries; None: the ViT's features are used
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255
    image_token: str = "<image>"

    @property
    def vision_sequence(self) -> int:
        """The ViT's output length: its patches and the CLS token."""
        return (self.image_size // self.patch_size) ** 2 + 1


class BlipFamily(VisionFamily):
    """A direct resize to S x S, a count fixed by the model (not by the image), the `<image>` x tokens layout."""

    spec: BlipSpec
    tokenizer_name = None

    def __init__(self, *, rgb: str = "reference", exif_transpose: bool | None = None, **unsupported):
        refuse_options(self.name, unsupported, f"every image is resized to {self.spec.image_size} x {self.spec.image_size}")
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        self.modality_tokens = {"image": self.spec.image_token}

    @property
    def limits(self) -> dict:
        return {"image_size": self.spec.image_size, "patch_size": self.spec.patch_size}

    def features(self) -> tuple[int, dict]:
        """`tokens` and the plan's details; the same for every image size."""
        raise NotImplementedError

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        s = self.spec.image_size
        tokens, details = self.features()
        return ImagePlan(self.name, (height, width), (s, s), None, tokens, self.limits, source, details=details)

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(3, S, S) float32 for one RGB image."""
        spec = self.spec
        resized = pixels.resize_bicubic(rgb_image, plan.resized)
        lut = pixels.normalize_lut(spec.image_mean, spec.image_std, spec.rescale_factor)
        return pixels.normalized_planes(np.asarray(resized), lut)

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        return square_pixel_values(self, images)

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (this model has no video input)")
        return [Special(self.spec.image_token, plan.tokens)]


@FAMILIES.register(
    "blip",
    aliases=(
        "Salesforce/blip-image-captioning-base",
        "Salesforce/blip-image-captioning-large",
        "Salesforce/blip-vqa-base",
        "Salesforce/blip-itm-base-coco",
    ),
)
class Blip(BlipFamily):
    name = "blip"
    tokenizer_description = "any tokenizer.json with '<image>' as a special token (BLIP's BERT vocabulary has none)"
    reference = "transformers 5.23 BlipProcessor + BlipImageProcessorPil (384 px); LLaVA-style <image> layout"
    special_tokens = ("<image>",)
    spec = BlipSpec(image_size=384, patch_size=16)

    def features(self) -> tuple[int, dict]:
        features = self.spec.vision_sequence
        return features, {"cross_attention": features, "vision_sequence": features}


@FAMILIES.register(
    "blip2",
    aliases=(
        "blip-2",
        "Salesforce/blip2-opt-2.7b",
        "Salesforce/blip2-opt-6.7b",
        "Salesforce/blip2-opt-2.7b-coco",
        "Salesforce/blip2-flan-t5-xl",
        "Salesforce/blip2-flan-t5-xxl",
    ),
)
class Blip2(BlipFamily):
    name = "blip2"
    tokenizer_description = "the OPT tokenizer.json of Salesforce/blip2-opt-2.7b (with <image> = 50265), or Flan-T5's (bos=None)"
    reference = "transformers 5.23 Blip2Processor + BlipImageProcessorPil (224 px), 32 Q-Former queries"
    special_tokens = ("<image>", "</s>")
    spec = BlipSpec(image_size=224, patch_size=14, num_query_tokens=32)

    def __init__(self, *, bos: str | None = "</s>", **options):
        """bos: the text tokenizer's BOS, which Blip2Processor puts after the query tokens ("</s>" for the
        OPT checkpoints; None for Flan-T5)."""
        super().__init__(**options)
        self.bos = bos
        self.special_tokens = (self.spec.image_token,) + ((bos,) if bos else ())

    @property
    def limits(self) -> dict:
        return {**super().limits, "num_query_tokens": self.spec.num_query_tokens, "bos": self.bos}

    def features(self) -> tuple[int, dict]:
        queries = self.spec.num_query_tokens
        return queries, {"vision_sequence": self.spec.vision_sequence, "query_tokens": queries}

    def expand_in_text(self, media: Media, plan: ImagePlan) -> list[Piece]:
        # Blip2Processor: the query tokens come before the text's BOS, so the BOS is written here
        # (the family has no bos_token, which encode_text would put before the queries)
        return self.expand(media, plan) + ([Special(self.bos)] if self.bos else [])
