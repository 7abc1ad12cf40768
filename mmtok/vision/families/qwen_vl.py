"""Qwen-VL and Qwen-VL-Chat (v1, 2023): every image is 448 x 448 and 256 tokens.

Reference: the remote code of the Hugging Face repositories Qwen/Qwen-VL and Qwen/Qwen-VL-Chat
(`visual.py`, `tokenization_qwen.py`, `qwen_generation_utils.py`, `modeling_qwen.py`; read in the
mirror x1ngzai/Qwen-VL-Chat-Int4 @ 1cd721a2), its config.json ("visual": image_size 448, patch_size 14,
image_start_id 151857), QwenLM/Qwen-VL `finetune.py`, and vLLM's reimplementation
(vllm-project/vllm `vllm/model_executor/models/qwen_vl.py`).

* Plan: any image is resized to 448 x 448 (aspect ratio not kept; no pixel budget). The ViT sees
  32 x 32 patches of 14 px; its resampler cross-attends 256 learned queries (`VisionTransformer`'s
  n_queries, which config.json leaves at 256), so 256 features fill the 256 positions between <img>
  and </img>. The plan's grid is that patch grid, (1, 32, 32); pixel_values has one (3, 448, 448)
  entry per image, so `patches` (rows of pixel_values) is 1.
* Pixels (`VisionTransformer.encode` / `image_transform`): `Image.open(path).convert("RGB")` (no EXIF
  transpose, alpha dropped, not composited), torchvision Resize((448, 448), BICUBIC), which on a PIL
  image is Pillow's bicubic resize, ToTensor (float32 x / 255) and Normalize with the CLIP mean/std in
  float32 -> pixel_values (N, 3, 448, 448) float32. image_grid_thw (N, 3) is reported for parity with
  the other families; the model takes no grid.
* Sequence: Qwen-VL-Chat's ChatML (`make_context`; finetune.py writes training data alike) with the
  default system prompt "You are a helpful assistant.". The role, the "\\n" after it and the content
  are encoded separately (BPE never merges across them). A content list is written as
  `tokenizer.from_list_format` does, numbering pictures per message: an image item becomes
  "Picture {n}: <img>...</img>\\n", a box item "<ref>text</ref><box>(x1,y1),(x2,y2)</box>". Message
  text may carry Qwen-VL's own markup, as its data does: <ref>, <box>, <quad> (and their closing tags)
  are control tokens (make_context allows exactly `IMAGE_ST` in content), and "<img>path</img>" is an
  image.
* The image span. The reference tokenizer writes the image's path as bytes in the span (one id per
  byte, padded with <imgpad> to 256) and the HF model opens the file named there. mmtok's processor
  hands over pixel_values instead, so it writes the span as vLLM does for every input (path, PIL image
  or array alike): <img> + 256 x <imgpad> + </img>, the reference tokenizer's encoding of an empty
  "<img></img>"; `mm_token_type_ids` marks the 256 pads. `QwenVL.url_input_ids` gives the reference
  layout with the paths written in, for the HF remote-code model.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import EmptyImageError, InvalidOptionError, MessageFormatError, UnsupportedInputError
from ...sequence.chatml import DEFAULT_SYSTEM_PROMPT
from ...sequence.messages import is_image_item
from ...sequence.pieces import Media, Piece, Special, Text, Turn
from .. import io, pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily
from .qwen2_vl import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD


@dataclass(frozen=True)
class QwenVLSpec:
    """The numbers and tags that fix a Qwen-VL image input."""

    image_size: int = 448  # config.json visual.image_size
    patch_size: int = 14  # config.json visual.patch_size
    n_queries: int = 256  # visual.py VisionTransformer(n_queries=256): the resampler's output, one per position
    image_mean: tuple[float, ...] = OPENAI_CLIP_MEAN
    image_std: tuple[float, ...] = OPENAI_CLIP_STD
    image_start: str = "<img>"
    image_end: str = "</img>"
    image_pad: str = "<imgpad>"


@dataclass(frozen=True)
class QwenVLImagePlan(ImagePlan):
    """A Qwen-VL plan: pixel_values holds one whole (3, 448, 448) image per entry, not patch rows."""

    @property
    def patches(self) -> int:
        return 1


# Writes no token but ends the text chunk before it, so BPE does not merge across it: make_context
# encodes the role, the "\n" after it and the content with three separate tokenizer calls.
_BREAK = Special("<|im_start|>", 0)

# Qwen-VL's markup in message text: an image span, or one of the other IMAGE_ST tags.
_MARKUP = re.compile(r"<img>(.*?)</img>|(</?(?:ref|box|quad|img)>|<imgpad>)", re.DOTALL)


@FAMILIES.register("qwen-vl", aliases=("qwen_vl", "Qwen/Qwen-VL", "Qwen/Qwen-VL-Chat"))
class QwenVL(VisionFamily):
    name = "qwen-vl"
    label_style = "qwen-vl"  # finetune.py (see sequence.labels)
    tokenizer_name = "qwen-vl"
    reference = "Qwen/Qwen-VL-Chat remote code (visual.py, tokenization_qwen.py, make_context), image span as in vLLM"
    spec = QwenVLSpec()

    def __init__(self, *, rgb: str = "reference", exif_transpose: bool | None = None, **unsupported):
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise InvalidOptionError(
                f"{self.name} takes no {', '.join(given)}: it resizes every image to 448 x 448 and has no video input; "
                "drop the option"
            )
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        if self.exif_transpose is None:
            self.exif_transpose = False  # visual.py opens the file and converts it, nothing else
        self.modality_tokens = {"image": self.spec.image_pad}

    # -- plan --------------------------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"image_size": self.spec.image_size}

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> QwenVLImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        spec = self.spec
        grid = spec.image_size // spec.patch_size
        resized = (spec.image_size, spec.image_size)
        grid_thw = (1, grid, grid)
        # + <img> and </img>
        return QwenVLImagePlan(
            self.name, (height, width), resized, grid_thw, spec.n_queries, self.limits, source, total_tokens=spec.n_queries + 2
        )

    # -- pixels ------------------------------------------------------------------------------------

    def load(self, image: Any):
        # "reference": a plain convert("RGB") for every kind of input, as visual.py does for its paths.
        rgb = "convert" if self.rgb == "reference" else self.rgb
        return io.load_rgb(image, rgb=rgb, exif_transpose=self.exif_transpose)

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(3, 448, 448) float32 for one RGB image."""
        resized = pixels.resize_bicubic(rgb_image, plan.resized)
        # ToTensor's float32 x / 255 has the same bits as the float64 x * (1/255) cast to float32 for all
        # 256 levels, and Normalize is (x - mean) / std in float32: normalize_lut's table exactly.
        lut = pixels.normalize_lut(self.spec.image_mean, self.spec.image_std, 1 / 255)
        return pixels.normalized_planes(np.asarray(resized), lut)

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        plans, planes = self.planned_features(images)
        size = self.spec.image_size
        pixel_values = np.stack(planes) if planes else np.zeros((0, 3, size, size), np.float32)
        grid = np.array([p.grid_thw for p in plans], dtype=np.int64).reshape(-1, 3)
        return {"pixel_values": pixel_values, "image_grid_thw": grid}, plans

    # -- sequence ----------------------------------------------------------------------------------

    def render(
        self, messages: list[dict], *, add_generation_prompt: bool, default_system: str | None = DEFAULT_SYSTEM_PROMPT
    ) -> list[Piece]:
        """make_context's ChatML; `default_system` is written when the first message is not a system one."""
        pieces: list[Piece] = []
        images = itertools.count()  # the conversation's image counter (Media indices)
        for i, message in enumerate(messages):
            role = message["role"]
            if i == 0 and role != "system" and default_system is not None:
                pieces += self._turn("system", [Text(default_system)])
            pieces += self._turn(role, self._content(message.get("content"), f"message {i}", images))
        if add_generation_prompt:
            pieces += [Turn("generation"), Special("<|im_start|>"), Text("assistant"), _BREAK, Text("\n")]
        return pieces

    @staticmethod
    def _turn(role: str, content: list[Piece]) -> list[Piece]:
        start, end = Special("<|im_start|>"), Special("<|im_end|>")
        return [Turn(role), start, Text(role), _BREAK, Text("\n"), _BREAK, *content, end, Text("\n")]

    def _content(self, content, where: str, images) -> list[Piece]:
        """A message's content as tokenizer.from_list_format writes it (pictures numbered per message)."""
        if content is None:
            return []
        if isinstance(content, str):
            return self._markup(content, where, images)
        out: list[Piece] = []
        pictures = 0
        for j, item in enumerate(content):
            here = f"{where}, item {j}"
            if is_image_item(item):
                pictures += 1
                out += [Text(f"Picture {pictures}: "), Media("image", next(images), item, here), Text("\n")]
            elif item.get("type") == "video" or "video" in item:
                raise MessageFormatError(f"{here}: {self.name} takes no videos; pass images, or frames as image items")
            elif "text" in item:
                out += self._markup(item["text"], here, images)
            elif "box" in item:
                if "ref" in item:
                    out += [Special("<ref>"), Text(item["ref"], user=True), Special("</ref>")]
                for box in item["box"]:
                    out += [Special("<box>"), Text("(%d,%d),(%d,%d)" % tuple(box[:4])), Special("</box>")]
            else:
                raise MessageFormatError(
                    f"{here}: not an image, text or box item (keys {sorted(item)}); "
                    "write {'type': 'text', 'text': ...}, {'type': 'image', 'image': ...} or {'box': [...], 'ref': ...}"
                )
        return out

    def _markup(self, text: str, where: str, images) -> list[Piece]:
        """Message text with Qwen-VL's markup: tags become control tokens, "<img>path</img>" an image."""
        out: list[Piece] = []
        pos = 0
        for found in _MARKUP.finditer(text):
            if found.start() > pos:
                out.append(Text(text[pos : found.start()], user=True))
            if found.group(1) is not None:
                out.append(Media("image", next(images), {"type": "image", "image": found.group(1)}, where))
            elif found.group(2) == self.spec.image_start:
                start, end = self.spec.image_start, self.spec.image_end
                raise MessageFormatError(
                    f"{where}: {start} has no {end} after it (the reference fails on it too); "
                    f"write the image as {start}path{end} or as an image item"
                )
            else:
                out.append(Special(found.group(2)))
            pos = found.end()
        if pos < len(text):
            out.append(Text(text[pos:], user=True))
        return out

    def template_text(self, kind: str) -> str:
        # the span with its path dropped, as vLLM rewrites prompts before tokenizing them
        return self.spec.image_start + self.spec.image_end

    def text_placeholder(self, kind: str) -> str:
        # encode_text: an emptied span "<img></img>" per image (vLLM's prompt form); no videos
        return self.template_text(kind) if kind == "image" else ""

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(f"{self.name} {media.kind}", media, "images (Qwen-VL has no video input)")
        spec = self.spec
        return [Special(spec.image_start), Special(spec.image_pad, plan.tokens), Special(spec.image_end)]

    def url_input_ids(
        self, messages: list[dict], *, add_generation_prompt: bool = False, special_in_text: str = "error"
    ) -> list[int]:
        """The ids Qwen-VL's own code makes for one conversation (make_context, finetune.py): each image
        span holds its path's bytes, which the HF remote-code model reads back to open the file.

        Every image must be a path or URL string of at most 256 bytes (the HF model itself needs at most
        254: it reads the span up to its second-to-last position and looks for an <imgpad> there)."""
        from ...sequence.encode import encode_pieces
        from ...sequence.messages import check_messages, image_source
        from ...text import get_tokenizer

        spec = self.spec

        def expand(media: Media) -> list[Piece]:
            source = image_source(media.item, media.where)
            if not isinstance(source, (str, os.PathLike)):
                raise UnsupportedInputError(
                    f"{media.where}: {self.name} image span", source, "a path or URL (the model reads it from the ids)"
                )
            return [Text(spec.image_start + os.fspath(source) + spec.image_end)]

        pieces = self.render(check_messages(messages), add_generation_prompt=add_generation_prompt)
        tokenizer = _ImageSpanTokenizer(get_tokenizer(self.tokenizer_name), (spec.image_start, spec.image_end))
        return encode_pieces(pieces, tokenizer, expand, special_in_text=special_in_text)


class _ImageSpanTokenizer:
    """The qwen-vl tokenizer with <img> and </img> always allowed as control tokens, as make_context
    encodes content, so that its image-span rule writes each "<img>path</img>" as the path's bytes.
    (Message text never holds these tags here: render turned them into image slots.)"""

    def __init__(self, tokenizer, tags: tuple[str, str]):
        self._tokenizer = tokenizer
        self._tags = frozenset(tags)
        self.special_tokens = tokenizer.special_tokens

    def encode(self, text: str, *, allowed_special=frozenset(), disallowed_special="all") -> list[int]:
        if allowed_special != "all":
            allowed_special = frozenset(allowed_special) | self._tags
        return self._tokenizer.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
