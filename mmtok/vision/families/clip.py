"""CLIP ViT image encoders: ViT-B/32 and ViT-L/14 at 224 px, ViT-L/14 at 336 px (LLaVA-1.5's tower).

Reference: transformers 5.23 `CLIPImageProcessorPil` (models/clip/image_processing_pil_clip.py, on
`PilBackend` and image_transforms.py) with the settings of the checkpoints' preprocessor_config.json
(openai/clip-vit-base-patch32, openai/clip-vit-large-patch14: shortest_edge 224, crop 224;
openai/clip-vit-large-patch14-336: 336 and 336; bicubic, x/255, OpenAI CLIP mean/std).

* Plan: the shorter side is resized to S (the longer to int(S * long / short), see
  geometry.shortest_edge_resize), then an S x S centre crop at ((H' - S) // 2, (W' - S) // 2). The ViT
  cuts S x S into (S / P)**2 patches and adds a CLS token: 49 + 1, 256 + 1, 576 + 1 features.
* What `tokens` counts. CLIP is an encoder: no language model of its own reads its features. `tokens`
  is what a LLaVA-style model feeds into its sequence: one position per patch, CLS dropped (LLaVA's
  vision_feature_select_strategy "default"; LlavaProcessor's count (S/P)**2 + 1 - 1): 49, 256, 576.
  `details["vision_sequence"]` is the ViT's own sequence length, CLS included (50, 257, 577).
* Sequence: no CLIP checkpoint has an image placeholder (CLIP's text tokenizer feeds the text tower).
  mmtok writes the LLaVA-style layout: each `<image>` in a prompt becomes `tokens` x `<image>`, as
  LlavaProcessor does with this image processor and patch size; any tokenizer.json that has `<image>`
  as a special token will do (e.g. a LLaVA checkpoint's).
* Pixels: RGB, Pillow bicubic resize to (H', W'), the crop, x/255, mean/std in float32 ->
  pixel_values (N, 3, S, S) float32, bit for bit. Like the reference, a very thin image is first
  resized in full (1 x 10,000 becomes 224 x 2,240,000 before the crop).

OpenAI's own `clip` package (torchvision CenterCrop) rounds the crop offset instead of flooring it,
so for about half the sizes whose margin H' - S or W' - S is odd its crop is one pixel over; mmtok
follows transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special
from .. import geometry, io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


@dataclass(frozen=True)
class ClipSpec:
    """The numbers that fix a CLIP-style image input (resize the short side, centre-crop a square)."""

    image_size: int  # preprocessor_config.json size.shortest_edge = crop_size, = vision_config.image_size
    patch_size: int  # vision_config.patch_size
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    rescale_factor: float = 1 / 255
    image_token: str = "<image>"

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


def refuse_options(name: str, unsupported: dict, what: str) -> None:
    """Options a fixed-size family does not take (the CLI passes budgets to every family it counts for)."""
    given = sorted(k for k, v in unsupported.items() if v is not None)
    if given:
        raise InvalidOptionError(f"{name} takes no {', '.join(given)}: {what}; drop the option")


class CenterCropFamily(VisionFamily):
    """Shortest-edge resize + centre crop, one feature position per patch (CLS dropped), and the
    LLaVA-style `<image>` x tokens layout. LLaVA-1.5 extends it."""

    spec: ClipSpec
    tokenizer_name = None
    tokenizer_description = "any tokenizer.json with '<image>' as a special token (e.g. a LLaVA checkpoint's)"
    special_tokens = ("<image>",)

    def __init__(self, *, rgb: str = "reference", exif_transpose: bool | None = None, **unsupported):
        refuse_options(self.name, unsupported, f"every image becomes {self.spec.image_size} x {self.spec.image_size}")
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        self.modality_tokens = {"image": self.spec.image_token}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"image_size": self.spec.image_size, "patch_size": self.spec.patch_size}

    def _check_size(self, size: tuple[int, int], source: str | None) -> tuple[int, int]:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        return height, width

    def crop_geometry(self, height: int, width: int) -> dict:
        """The resize target and the crop's top-left corner for an image of this size."""
        s = self.spec.image_size
        resize = geometry.shortest_edge_resize(height, width, s)
        # image_transforms.center_crop floors the offsets: (H' - S) // 2
        return {"resize": list(resize), "crop_offset": [(resize[0] - s) // 2, (resize[1] - s) // 2]}

    def plan_details(self, height: int, width: int) -> dict:
        return self.crop_geometry(height, width)

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = self._check_size(size, source)
        spec = self.spec
        details = self.plan_details(height, width)
        details["vision_sequence"] = spec.patches + 1  # the ViT's patches and its CLS token
        return ImagePlan(
            self.name, (height, width), (spec.image_size, spec.image_size), None, spec.patches, self.limits, source,
            details=details,
        )

    # -- pixels ------------------------------------------------------------------------------------

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(3, S, S) float32 for one RGB image: resize as planned, crop, rescale and normalise."""
        spec = self.spec
        s = spec.image_size
        resized = np.asarray(pixels.resize_bicubic(rgb_image, tuple(plan.details["resize"])))
        top, left = plan.details["crop_offset"]
        lut = pixels.normalize_lut(spec.image_mean, spec.image_std, spec.rescale_factor)
        return pixels.normalized_planes(resized[top : top + s, left : left + s], lut)

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        return square_pixel_values(self, images)

    # -- sequence ----------------------------------------------------------------------------------

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (this model has no video input)")
        return [Special(self.spec.image_token, plan.tokens)]


def square_pixel_values(family: VisionFamily, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
    """{"pixel_values": (N, 3, S, S) float32} and the plans, for families with one S x S input per image."""
    plans, planes = [], []
    for image in images:
        rgb = family.load(image)
        plan = family.plan_size((rgb.height, rgb.width), source=io.describe(image))
        planes.append(family.image_features(rgb, plan))
        plans.append(plan)
    s = family.spec.image_size
    pixel_values = np.stack(planes) if planes else np.zeros((0, 3, s, s), np.float32)
    return {"pixel_values": pixel_values}, plans


@FAMILIES.register("clip-vit-b-32", aliases=("clip-vit-base-patch32", "openai/clip-vit-base-patch32", "ViT-B/32"))
class ClipViTB32(CenterCropFamily):
    name = "clip-vit-b-32"
    reference = "transformers 5.23 CLIPImageProcessorPil, openai/clip-vit-base-patch32 settings; LLaVA-style <image> layout"
    spec = ClipSpec(image_size=224, patch_size=32)


@FAMILIES.register("clip-vit-l-14", aliases=("clip-vit-large-patch14", "openai/clip-vit-large-patch14", "ViT-L/14"))
class ClipViTL14(CenterCropFamily):
    name = "clip-vit-l-14"
    reference = "transformers 5.23 CLIPImageProcessorPil, openai/clip-vit-large-patch14 settings; LLaVA-style <image> layout"
    spec = ClipSpec(image_size=224, patch_size=14)


@FAMILIES.register(
    "clip-vit-l-14-336", aliases=("clip-vit-large-patch14-336", "openai/clip-vit-large-patch14-336", "ViT-L/14@336px")
)
class ClipViTL14336(CenterCropFamily):
    name = "clip-vit-l-14-336"
    reference = "transformers 5.23 CLIPImageProcessorPil, openai/clip-vit-large-patch14-336 settings; LLaVA-style <image> layout"
    spec = ClipSpec(image_size=336, patch_size=14)
