"""What every model family provides: a plan from sizes, pixels from a plan, and its sequence layout."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .. import io
from ..plan import ImagePlan
from ...sequence.pieces import Media, Piece


class VisionFamily(ABC):
    """One model family, configured with its options. Subclasses register themselves in FAMILIES."""

    #: registry name, e.g. "qwen2-vl"
    name: str
    #: registry name of the text tokenizer the family's checkpoints use; None when mmtok does not ship
    #: it (then get_processor needs tokenizer=path, and `tokenizer_description` names what to pass)
    tokenizer_name: str | None
    tokenizer_description: str = "its own"
    #: True for models known only by a provider's token formula: plans, no pixels, no processor
    count_only: bool = False
    #: a token the reference tokenizer puts first when called on text (add_special_tokens=True), e.g. "<s>"
    bos_token: str | None = None
    #: a token it puts last (e.g. T5's "</s>", BERT's "[SEP]")
    eos_token: str | None = None
    #: the token batches are padded with (None: <|endoftext|> if the tokenizer has it, else id 0)
    pad_token: str | None = None
    #: special tokens the family writes (placeholders, markers); tests build small tokenizers holding them
    special_tokens: tuple[str, ...] = ()
    #: where the behaviour comes from (shown by outputs and docs)
    reference: str

    def __init__(self, *, rgb: str = "reference", exif_transpose: bool | None = None):
        if rgb not in io.RGB_MODES:
            from ...errors import InvalidOptionError

            raise InvalidOptionError(f"rgb must be one of {', '.join(io.RGB_MODES)}; got {rgb!r}")
        self.rgb = rgb
        self.exif_transpose = exif_transpose

    # -- plan: sizes only ---------------------------------------------------------------------------

    @property
    @abstractmethod
    def limits(self) -> dict:
        """The pixel budget in force, reported by every output."""

    @abstractmethod
    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        """The plan for an image of `size` (height, width)."""

    def plan(self, image: Any) -> ImagePlan:
        """Plan for an image input or a (height, width) size; a path is read for its header only."""
        size = io.image_size(image, exif_transpose=self.exif_transpose)
        return self.plan_size(size, source=io.describe(image))

    # -- pixels --------------------------------------------------------------------------------------

    def load(self, image: Any):
        """The RGB PIL image the reference would resize."""
        return io.load_rgb(image, rgb=self.rgb, exif_transpose=self.exif_transpose)

    def planned_features(self, images: list[Any]) -> tuple[list[ImagePlan], list]:
        """Each image decoded, planned from its decoded size, and turned into its features, in order:
        the loop every family's preprocess_images starts with."""
        plans, features = [], []
        for image in images:
            rgb = self.load(image)
            plan = self.plan_size((rgb.height, rgb.width), source=io.describe(image))
            features.append(self.image_features(rgb, plan))
            plans.append(plan)
        return plans, features

    @abstractmethod
    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """The model input rows for one decoded RGB image, following `plan`."""

    @abstractmethod
    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """The image processor's output dict for `images`, and the plan of each image."""

    def plan_video(self, video: Any):
        """The plan of one video; families without video support refuse it."""
        from ...errors import UnsupportedInputError

        raise UnsupportedInputError(f"{self.name} video", video, "images: this model family takes no videos")

    def preprocess_videos(self, videos: list[Any]) -> tuple[dict[str, np.ndarray], list]:
        if videos:
            self.plan_video(videos[0])
        return {}, []

    # -- sequence ------------------------------------------------------------------------------------

    def render(self, messages: list[dict], *, add_generation_prompt: bool, **template_options) -> list[Piece]:
        """The chat template, with a Media slot where each image goes. Families whose checkpoints'
        template mmtok does not reproduce refuse messages; their prompts go through encode_text."""
        from ...errors import MessageFormatError

        raise MessageFormatError(
            f"{self.name}: mmtok does not write this model's chat template; build the prompt with "
            f"{self.text_placeholder('image')!r} where each image goes and call processor.encode_text(prompt, images)"
        )

    @abstractmethod
    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        """What one media slot becomes in the token sequence."""

    #: special tokens whose positions carry each modality (for mm_token_type_ids)
    modality_tokens: dict[str, str] = {}

    def template_text(self, kind: str) -> str:
        """What the chat template writes for one media slot, before expansion."""
        return self.modality_tokens.get(kind, "")

    def text_placeholder(self, kind: str) -> str:
        """What marks a media slot in a prompt given to `processor.encode_text` (the reference
        processor's `processor(text=..., images=...)`), e.g. "<image>"."""
        return self.modality_tokens.get(kind, "")

    def prepare_prompt(self, text: str) -> str:
        """A prompt as the reference processor rewrites it before tokenizing (e.g. Mllama puts
        <|begin_of_text|> after leading images); by default unchanged."""
        return text

    def finish_text_encoding(self, out: dict, images_per_sample: list[int], tokenizer) -> None:
        """Bring encode_text's output to the reference processor's form, in place (e.g. regroup image
        arrays per sample, add a cross-attention mask); by default nothing."""

    def expand_in_text(self, media: Media, plan) -> list[Piece]:
        """What one placeholder of `text_placeholder` becomes; by default what a template slot becomes."""
        return self.expand(media, plan)
