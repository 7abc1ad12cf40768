"""The processor: chat messages with images -> the model's input dict.

Output keys, shapes and dtypes follow transformers' processor for the family (for Qwen2-VL:
input_ids, attention_mask, mm_token_type_ids, pixel_values, image_grid_thw; int64 ids, float32
pixels), as numpy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidOptionError, MessageFormatError
from ..vision.plan import ImagePlan
from .encode import encode_pieces
from .messages import check_messages, media_sources
from .pieces import Media

MM_TYPE_IDS = {"image": 1, "video": 2}  # transformers' create_mm_token_type_ids


class BatchEncoding(dict):
    """A dict of arrays with attribute access (like transformers' BatchFeature), plus what was planned."""

    plans: list[ImagePlan]
    limits: dict

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


class Processor:
    """Turns conversations into model inputs for one family. Build it with `mmtok.get_processor`."""

    def __init__(self, family, tokenizer, *, special_in_text: str = "error", padding_side: str = "right"):
        if padding_side not in ("left", "right"):
            raise InvalidOptionError(f"padding_side must be 'left' or 'right'; got {padding_side!r}")
        self.family = family
        self.tokenizer = tokenizer
        self.special_in_text = special_in_text
        self.padding_side = padding_side

    @property
    def model(self) -> str:
        return self.family.name

    @property
    def limits(self) -> dict:
        return self.family.limits

    def plan(self, image: Any) -> ImagePlan:
        return self.family.plan(image)

    def preprocess_images(self, images: Any) -> BatchEncoding:
        """pixel_values and image_grid_thw only, as the family's image processor returns them."""
        if not isinstance(images, (list, tuple)):
            images = [images]
        data, plans = self.family.preprocess_images(list(images))
        out = BatchEncoding(data)
        out.plans, out.limits = plans, self.limits
        return out

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = False, **template_options) -> str:
        """The template's text before placeholder expansion, as transformers' apply_chat_template(tokenize=False)."""
        from .chatml import pieces_to_text

        pieces = self.family.render(check_messages(messages), add_generation_prompt=add_generation_prompt, **template_options)
        media_text = {"image": self.family.modality_tokens.get("image", ""), "video": self.family.modality_tokens.get("video", "")}
        return pieces_to_text(pieces, media_text)

    def __call__(self, messages: Any, *, add_generation_prompt: bool = False, **template_options) -> BatchEncoding:
        """Encode one conversation, or a list of conversations (padded into one batch)."""
        batch = _as_batch(messages)
        all_images: list[Any] = []
        rendered = []
        for conversation in batch:
            pieces = self.family.render(check_messages(conversation), add_generation_prompt=add_generation_prompt, **template_options)
            rendered.append((pieces, len(all_images)))
            all_images.extend(media_sources(pieces, "image"))
        data, plans = self.family.preprocess_images(all_images) if all_images else ({}, [])

        sequences = []
        for pieces, first in rendered:
            def expand(media: Media, first=first):
                return self.family.expand(media, plans[first + media.index])

            sequences.append(encode_pieces(pieces, self.tokenizer, expand, special_in_text=self.special_in_text))

        out = BatchEncoding(self._pad(sequences))
        out.update(data)
        out.plans, out.limits = plans, self.limits
        return out

    def _pad(self, sequences: list[list[int]]) -> dict[str, np.ndarray]:
        length = max(len(s) for s in sequences)
        pad_id = self.tokenizer.special_tokens.get("<|endoftext|>", 0)
        ids = np.full((len(sequences), length), pad_id, dtype=np.int64)
        mask = np.zeros((len(sequences), length), dtype=np.int64)
        for row, seq in enumerate(sequences):
            span = slice(0, len(seq)) if self.padding_side == "right" else slice(length - len(seq), length)
            ids[row, span] = seq
            mask[row, span] = 1
        types = np.zeros_like(ids)
        specials = self.tokenizer.special_tokens
        for kind, token in self.family.modality_tokens.items():
            if token in specials:
                types[ids == specials[token]] = MM_TYPE_IDS[kind]
        types[mask == 0] = 0
        return {"input_ids": ids, "attention_mask": mask, "mm_token_type_ids": types}


def _as_batch(messages: Any) -> list:
    """One conversation (a list of message dicts) or a batch of them."""
    if isinstance(messages, (list, tuple)) and messages and isinstance(messages[0], (list, tuple)):
        return list(messages)
    if isinstance(messages, (list, tuple)):
        return [messages]
    raise MessageFormatError("messages must be a list of {'role': ..., 'content': ...} dicts (or a list of such lists)")
