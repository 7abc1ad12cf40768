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

    def __init__(
        self, family, tokenizer, *, special_in_text: str = "error", padding_side: str = "right", rope_convention: str = "transformers"
    ):
        from .rope import CONVENTIONS

        if padding_side not in ("left", "right"):
            raise InvalidOptionError(f"padding_side must be 'left' or 'right'; got {padding_side!r}")
        if rope_convention not in CONVENTIONS:
            raise InvalidOptionError(f"rope_convention must be one of {', '.join(CONVENTIONS)}; got {rope_convention!r}")
        self.rope_convention = rope_convention
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

    def preprocess_images(self, images: Any, *, workers: int | None = 1, jpeg_draft: bool = False) -> BatchEncoding:
        """pixel_values and image_grid_thw only, as the family's image processor returns them.

        workers: threads the images are spread over (0 or None: every core); the output is the same
        for any number. A bad image raises its error with `.index` (its position) and `.failures`
        (every bad image). jpeg_draft=True: faster, not bit-identical decoding of large JPEGs (Qwen
        families; see vision.fast_decode). See mmtok.parallel."""
        from ..parallel import preprocess_images

        if not isinstance(images, (list, tuple)):
            images = [images]
        data, plans = preprocess_images(self.family, list(images), workers=workers, jpeg_draft=jpeg_draft)
        out = BatchEncoding(data)
        out.plans, out.limits = plans, self.limits
        return out

    def apply_chat_template(self, messages: list[dict], *, add_generation_prompt: bool = False, **template_options) -> str:
        """The template's text before placeholder expansion, as transformers' apply_chat_template(tokenize=False)."""
        from .chatml import pieces_to_text

        pieces = self.family.render(check_messages(messages), add_generation_prompt=add_generation_prompt, **template_options)
        media_text = {kind: self.family.template_text(kind) for kind in ("image", "video")}
        return pieces_to_text(pieces, media_text)

    def __call__(
        self,
        messages: Any,
        *,
        add_generation_prompt: bool = False,
        labels: bool = False,
        label_style: str | None = None,
        max_length: int | None = None,
        **template_options,
    ) -> BatchEncoding:
        """Encode one conversation, or a list of conversations (padded into one batch).

        labels=True adds "labels" (assistant turns learned, the rest -100; see sequence.labels for
        `label_style`, whose default is the family's: "qwen-vl" for Qwen-VL, "qwen" otherwise). max_length truncates on the right, but never through an image's or a video's
        tokens: that raises TruncationError naming the sample and the numbers.
        """
        rendered, sources, video_sources = self._render(messages, add_generation_prompt, template_options)
        data, plans = self.family.preprocess_images(sources) if sources else ({}, [])
        video_data, video_plans = self.family.preprocess_videos(video_sources) if video_sources else ({}, [])
        out = BatchEncoding(
            self._encode(rendered, plans, video_plans, labels=labels, label_style=label_style, max_length=max_length)
        )
        out.update(data)
        out.update(video_data)
        out.plans, out.video_plans, out.limits = plans, video_plans, self.limits
        self._add_positions(out)
        return out

    def _add_positions(self, out: BatchEncoding) -> None:
        """position_ids (3, batch, seq_len) and rope_deltas (batch, 1) for M-RoPE families, as the
        model's get_rope_index computes them (see sequence.rope)."""
        spec = getattr(self.family, "rope_spec", None)
        if spec is None:
            return
        from .rope import rope_index

        out["position_ids"], out["rope_deltas"] = rope_index(
            spec,
            out["input_ids"],
            image_grid_thw=out.get("image_grid_thw"),
            video_grid_thw=out.get("video_grid_thw"),
            attention_mask=out["attention_mask"],
            second_per_grid_ts=out.get("second_per_grid_ts"),
            mm_token_type_ids=out["mm_token_type_ids"],
            convention=self.rope_convention,
        )

    def encode_text(self, text: str | list[str], images: Any = None, videos: Any = None) -> BatchEncoding:
        """The reference processor's `processor(text=..., images=...)`: each placeholder of the family
        (e.g. "<image>", `family.text_placeholder`) in `text` is expanded for the next image, in order
        across the batch; no chat template is applied. Special-token spellings in `text` are control
        tokens here, as in the reference (the prompt is the caller's, not a user's)."""
        import re

        from .pieces import Special, Text

        texts = [text] if isinstance(text, str) else list(text)
        images = [] if images is None else (list(images) if isinstance(images, (list, tuple)) else [images])
        videos = [] if videos is None else (list(videos) if isinstance(videos, (list, tuple)) else [videos])
        marks = {kind: self.family.text_placeholder(kind) for kind in ("image", "video")}
        marks = {k: v for k, v in marks.items() if v}
        pattern = re.compile("|".join(re.escape(v) for v in sorted(marks.values(), key=len, reverse=True)))
        kinds = {v: k for k, v in marks.items()}
        rendered, counters = [], {"image": 0, "video": 0}
        sources = {"image": images, "video": videos}
        texts = [self.family.prepare_prompt(t) for t in texts]
        per_sample = []
        for sample in texts:
            pieces: list = [Special(self.family.bos_token)] if self.family.bos_token else []
            first = (counters["image"], counters["video"])
            last = 0
            for found in pattern.finditer(sample):
                if found.start() > last:
                    pieces.append(Text(sample[last : found.start()]))
                kind = kinds[found.group(0)]
                index = counters[kind] - first[0 if kind == "image" else 1]
                if counters[kind] >= len(sources[kind]):
                    raise MessageFormatError(
                        f"the text holds more {found.group(0)} placeholders than the {len(sources[kind])} {kind}(s) given"
                    )
                pieces.append(Media(kind, index, {kind: sources[kind][counters[kind]]}, f"{kind} {counters[kind]}"))
                counters[kind] += 1
                last = found.end()
            if last < len(sample):
                pieces.append(Text(sample[last:]))
            if self.family.eos_token:
                pieces.append(Special(self.family.eos_token))
            rendered.append((pieces, first))
            per_sample.append(counters["image"] - first[0])
        for kind in ("image", "video"):
            if counters[kind] != len(sources[kind]):
                raise MessageFormatError(
                    f"{len(sources[kind])} {kind}(s) given but the text holds {counters[kind]} "
                    f"{marks.get(kind, kind)!r} placeholder(s); write one placeholder per {kind}"
                )
        data, plans = self.family.preprocess_images(images) if images else ({}, [])
        video_data, video_plans = self.family.preprocess_videos(videos) if videos else ({}, [])
        sequences = []
        for pieces, (first, first_video) in rendered:
            def expand(media: Media, first=first, first_video=first_video):
                if media.kind == "video":
                    return self.family.expand_in_text(media, video_plans[first_video + media.index])
                return self.family.expand_in_text(media, plans[first + media.index])

            sequences.append(encode_pieces(pieces, self.tokenizer, expand, special_in_text="special"))
        out = BatchEncoding(self._pad(sequences))
        out.update(data)
        out.update(video_data)
        out.plans, out.video_plans, out.limits = plans, video_plans, self.limits
        self._add_positions(out)
        self.family.finish_text_encoding(out, per_sample, self.tokenizer)
        return out

    def sequence_lengths(self, messages: Any, *, add_generation_prompt: bool = False, **template_options) -> list[int]:
        """The token count of each conversation, visual tokens included, from image headers alone (no
        pixel is decoded): what `len(input_ids)` will be, known before any truncation."""
        rendered, sources, video_sources = self._render(messages, add_generation_prompt, template_options)
        plans = [self.family.plan(source) for source in sources]
        video_plans = [self.family.plan_video(source) for source in video_sources]
        return [len(ids) for ids, _ in self._sequences(rendered, plans, video_plans)]

    def _render(self, messages: Any, add_generation_prompt: bool, template_options: dict):
        rendered, sources, video_sources = [], [], []
        for conversation in _as_batch(messages):
            pieces = self.family.render(check_messages(conversation), add_generation_prompt=add_generation_prompt, **template_options)
            rendered.append((pieces, (len(sources), len(video_sources))))
            sources.extend(media_sources(pieces, "image"))
            video_sources.extend(media_sources(pieces, "video"))
        return rendered, sources, video_sources

    def _sequences(self, rendered, plans, video_plans=()):
        for pieces, (first, first_video) in rendered:
            def expand(media: Media, first=first, first_video=first_video):
                if media.kind == "video":
                    return self.family.expand(media, video_plans[first_video + media.index])
                return self.family.expand(media, plans[first + media.index])

            marks: list = []
            ids = encode_pieces(pieces, self.tokenizer, expand, special_in_text=self.special_in_text, marks=marks)
            yield ids, marks

    def _encode(self, rendered, plans, video_plans, *, labels: bool, label_style: str, max_length: int | None) -> dict:
        from .labels import assistant_labels, check_max_length

        label_style = label_style or getattr(self.family, "label_style", "qwen")
        sequences, label_rows = [], []
        im_end = self.tokenizer.special_tokens.get("<|im_end|>")
        for sample, (ids, marks) in enumerate(self._sequences(rendered, plans, video_plans)):
            if max_length is not None:
                check_max_length(len(ids), max_length, marks, sample)
            if labels:
                label_rows.append(assistant_labels(ids, marks, style=label_style, im_end_id=im_end)[:max_length])
            sequences.append(ids[:max_length])
        out = self._pad(sequences)
        if labels:
            from .labels import IGNORE_INDEX

            padded = np.full_like(out["input_ids"], IGNORE_INDEX)
            for row, lab in enumerate(label_rows):
                span = slice(0, len(lab)) if self.padding_side == "right" else slice(padded.shape[1] - len(lab), padded.shape[1])
                padded[row, span] = lab
            out["labels"] = padded
        return out

    def _pad(self, sequences: list[list[int]]) -> dict[str, np.ndarray]:
        length = max(len(s) for s in sequences)
        specials = self.tokenizer.special_tokens
        pad_token = getattr(self.family, "pad_token", None)
        if pad_token and pad_token in specials:
            pad_id = specials[pad_token]
        else:
            pad_id = specials.get("<|endoftext|>", 0)
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
