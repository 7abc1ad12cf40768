"""LLaVA-1.5 (7B / 13B): CLIP ViT-L/14 at 336 px, 576 `<image>` positions per image.

Reference: transformers 5.23 `LlavaProcessor` (models/llava/processing_llava.py) and
`LlavaImageProcessorPil` (image_processing_pil_llava.py), with the llava-hf/llava-1.5-7b-hf
checkpoint's preprocessor_config.json (CLIPImageProcessor: shortest_edge 336, crop 336, bicubic,
OpenAI CLIP mean/std, no do_pad) and processor_config.json (image_token "<image>", patch_size 14,
num_additional_image_tokens 1, vision_feature_select_strategy "default"); the original LLaVA code
(haotian-liu/LLaVA `llava/mm_utils.py`: `process_images`, `expand2square`) for the "pad" mode.

Modes (`mode=`):
* "crop" (default; what the HF checkpoint's processor does): the CLIP preprocessing, shortest edge to
  336 then a 336 x 336 centre crop (see families.clip).
* "pad": the original LLaVA-1.5 training and evaluation setting (`image_aspect_ratio="pad"`): the image
  is first pasted centred on a square of side max(H, W) filled with the mean colour
  int(mean * 255) = (122, 116, 104) (offset (L - H) // 2 or (L - W) // 2), then resized to 336 x 336
  (the crop takes all of it). LlavaImageProcessorPil does the same with do_pad=True.
Either way 336 / 14 = 24 x 24 patches; LlavaProcessor counts 24 * 24 + 1 (CLS) - 1 ("default" drops
CLS) = 576 tokens for every image.

Sequence: each `<image>` in the prompt becomes 576 x `<image>` (id 32000 in llava-hf checkpoints); the
Llama tokenizer puts `<s>` first. The original repo instead writes one IMAGE_TOKEN_INDEX (-200) per
image and splices the 576 features in inside the model. No chat template is written here (build the
prompt, e.g. "USER: <image>\\nWhat is this? ASSISTANT:", and call processor.encode_text).
"""

from __future__ import annotations

from ...errors import InvalidOptionError
from ..plan import ImagePlan
from . import FAMILIES
from .clip import CenterCropFamily, ClipSpec

MODES = ("crop", "pad")


def expand_to_square(image, side: int, offset: tuple[int, int], background: tuple[int, ...]):
    """`expand2square`: the image pasted at `offset` (top, left) on a `side` x `side` square filled with
    `background` (LlavaImageProcessorPil.pad_to_square gives the same pixels)."""
    from PIL import Image

    if image.size == (side, side):
        return image
    square = Image.new(image.mode, (side, side), background)
    square.paste(image, (offset[1], offset[0]))
    return square


@FAMILIES.register(
    "llava-1.5", aliases=("llava-1.5-7b", "llava-1.5-13b", "llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf")
)
class Llava15(CenterCropFamily):
    name = "llava-1.5"
    tokenizer_description = "the Llama 2 tokenizer.json of llava-hf/llava-1.5-7b-hf (with <image> = 32000)"
    reference = (
        "transformers 5.23 LlavaProcessor + LlavaImageProcessorPil, llava-hf/llava-1.5-7b-hf settings; pad = LLaVA expand2square"
    )
    bos_token = "<s>"
    pad_token = "<pad>"  # llava-hf tokenizers add <pad> (id 32001) and pad batches with it
    special_tokens = ("<s>", "<image>")
    spec = ClipSpec(image_size=336, patch_size=14)

    def __init__(self, *, mode: str = "crop", **options):
        """mode: "crop" (the HF checkpoint's processor, default) or "pad" (original LLaVA-1.5 expand2square)."""
        if mode not in MODES:
            raise InvalidOptionError(f"{self.name} mode must be one of {', '.join(MODES)}; got {mode!r}")
        super().__init__(**options)
        self.mode = mode

    @property
    def limits(self) -> dict:
        return {**super().limits, "mode": self.mode}

    @property
    def background(self) -> tuple[int, ...]:
        """The pad colour: int(x * 255) of the mean, truncated as both references do."""
        return tuple(int(x * 255) for x in self.spec.image_mean)

    def plan_details(self, height: int, width: int) -> dict:
        if self.mode == "crop":
            return {"mode": "crop", **self.crop_geometry(height, width)}
        side = max(height, width)
        # centred on the short axis, the odd pixel after the image: (L - H) // 2 above it
        offset = [(side - height) // 2, (side - width) // 2]
        return {"mode": "pad", "padded": [side, side], "pad_offset": offset, **self.crop_geometry(side, side)}

    def image_features(self, rgb_image, plan: ImagePlan):
        if plan.details["mode"] == "pad":
            rgb_image = expand_to_square(rgb_image, plan.details["padded"][0], plan.details["pad_offset"], self.background)
        return super().image_features(rgb_image, plan)
