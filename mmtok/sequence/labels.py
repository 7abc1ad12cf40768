"""Training labels for chat conversations, and the max_length check that protects visual tokens.

Label styles (the fine-tuning codebases differ, so the behaviour is named):

* "qwen" (default): Qwen's official fine-tuning code (QwenLM/Qwen2.5-VL `qwen-vl-finetune/qwenvl/data/
  data_qwen.py`, `preprocess_qwen_2_visual`): each message is a ChatML turn; user and system turns are
  ignored whole; in an assistant turn the first 3 tokens (`<|im_start|>`, `assistant`, `\\n`) are
  ignored and the rest is learned: the content, `<|im_end|>` and the `\\n` after it.
* "content-eos": the content and `<|im_end|>` are learned, the trailing `\\n` is not (LLaMA-Factory's
  and TRL's assistant-only convention for ChatML templates).

Everything else (system prompt, user turns with their images and videos, a trailing generation prompt,
padding) is IGNORE_INDEX (-100), the value PyTorch's cross-entropy skips.
"""

from __future__ import annotations

from ..errors import InvalidOptionError, TruncationError

IGNORE_INDEX = -100
LABEL_STYLES = ("qwen", "content-eos", "qwen-vl")
ASSISTANT_HEADER_TOKENS = 3  # <|im_start|> assistant \n


def assistant_labels(ids: list[int], marks: list, *, style: str = "qwen", im_end_id: int | None = None) -> list[int]:
    """Labels for `ids`: the assistant turns per `style`, IGNORE_INDEX elsewhere."""
    if style not in LABEL_STYLES:
        raise InvalidOptionError(f"label_style must be one of {', '.join(LABEL_STYLES)}; got {style!r}")
    labels = [IGNORE_INDEX] * len(ids)
    turns = [(m[1], m[2]) for m in marks if m[0] == "turn"]
    for k, (role, start) in enumerate(turns):
        end = turns[k + 1][1] if k + 1 < len(turns) else len(ids)
        if style == "qwen-vl":
            if role == "generation":
                continue
            # <|im_start|> role \n content <|im_end|> \n: learn im_start and the closing im_end \n
            for i in (start, end - 2, end - 1):
                labels[i] = ids[i]
            if role == "assistant":
                for i in range(start + ASSISTANT_HEADER_TOKENS, end - 2):
                    labels[i] = ids[i]
            continue
        if role != "assistant":
            continue
        stop = end
        if style == "content-eos" and im_end_id is not None:
            # learn through the turn's <|im_end|>, not the newline after it
            tail = ids[start:end]
            if im_end_id in tail:
                stop = start + len(tail) - tail[::-1].index(im_end_id)
        for i in range(start + ASSISTANT_HEADER_TOKENS, stop):
            labels[i] = ids[i]
    return labels


def check_max_length(length: int, max_length: int, marks: list, sample: int) -> None:
    """Raise TruncationError if cutting a sequence of `length` to `max_length` would cut a media span."""
    if length <= max_length:
        return
    for mark in marks:
        if mark[0] == "media":
            _, media, start, end = mark
            if end > max_length:
                raise TruncationError(sample, media.kind, media.index, (start, end), length, max_length)
