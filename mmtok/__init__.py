"""mmtok: the multimodal tokenizer for vision-language models.

    import mmtok
    tok = mmtok.get_tokenizer("qwen2")                  # text: encode / decode
    plan = mmtok.plan_image("qwen2-vl", "photo.jpg")      # sizes and token count from the header alone
    proc = mmtok.get_processor("qwen2-vl")                # messages -> input_ids, pixel_values, ...
    batch = proc(messages, add_generation_prompt=True)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["get_tokenizer", "get_processor", "plan_image", "model_names", "tokenizer_names", "errors"]


def get_tokenizer(name_or_path, **options):
    """A text tokenizer by registered name ("qwen2", "cl100k_base", ...) or a local vocabulary file
    (tokenizer.json, vocab.json + merges.txt, SentencePiece .model, .tiktoken; see mmtok.text.get_tokenizer)."""
    from .text import get_tokenizer as _get

    return _get(name_or_path, **options)


def tokenizer_names() -> list[str]:
    from .text import tokenizer_names as _names

    return _names()


def model_names() -> list[str]:
    from .vision.families import model_names as _names

    return _names()


def get_processor(
    model: str,
    *,
    special_in_text: str = "error",
    padding_side: str = "right",
    rope_convention: str = "transformers",
    tokenizer=None,
    **options,
):
    """A processor for `model`; options configure the family (e.g. min_pixels, max_pixels, rgb,
    sampling, video_options). `rope_convention` picks how M-RoPE position ids are computed
    ("transformers": 5.23's get_rope_index; "qwen": Qwen's original code / transformers 4.x;
    "transformers-4.57": 4.57.1 with its second_per_grid_t truncation). `tokenizer` overrides the
    family's text tokenizer: a registered name, a tokenizer.json path or a tokenizer object; families
    whose checkpoints' vocabulary mmtok does not ship need it for token ids."""
    from .errors import CountOnlyError, VocabularyNeededError
    from .sequence.processor import Processor
    from .text.base import TextTokenizer
    from .vision.families import get_family

    family = get_family(model, **options)
    if getattr(family, "count_only", False):
        raise CountOnlyError(family.name)
    if tokenizer is None:
        if family.tokenizer_name is None:
            raise VocabularyNeededError(family.name, getattr(family, "tokenizer_description", "its own"))
        tokenizer = family.tokenizer_name
    return Processor(
        family,
        tokenizer if isinstance(tokenizer, TextTokenizer) else get_tokenizer(tokenizer),
        special_in_text=special_in_text,
        padding_side=padding_side,
        rope_convention=rope_convention,
    )


def plan_image(model: str, image_or_size: Any, **options):
    """The plan of one image (`.size`, `.resized`, `.grid_thw`, `.tokens`, `.limits`) from its size alone.

    `image_or_size` is a (height, width) tuple, a path (read for its header only), bytes, a PIL image
    or an array.
    """
    return _planning_family(model, options).plan(image_or_size)


_PLANNERS: dict = {}


def _planning_family(model: str, options: dict):
    """The family plan_image uses, built once per (model, options): building one costs about as much
    as reading a header, and counting calls plan_image once per file. (Processors get their own.)"""
    if not options:  # the common case, one dict lookup
        family = _PLANNERS.get(model)
        if family is not None:
            return family
    from .vision.families import get_family

    try:
        key = (model, tuple(sorted(options.items()))) if options else model
        hash(key)
    except TypeError:  # unhashable option values (e.g. a dict of video options): no cache
        return get_family(model, **options)
    family = _PLANNERS.get(key)
    if family is None:
        if len(_PLANNERS) > 64:
            _PLANNERS.clear()
        family = _PLANNERS[key] = get_family(model, **options)
    return family


def __getattr__(name: str):
    if name == "errors":
        import importlib

        return importlib.import_module(".errors", __name__)
    raise AttributeError(f"module 'mmtok' has no attribute {name!r}")
