"""ChatML, as Qwen2-VL's and Qwen2.5-VL's chat template writes it, rendered into pieces.

Reproduces the published `chat_template.json` of Qwen/Qwen2-VL-7B-Instruct (Jinja) in Python:

    {% if loop.first and message['role'] != 'system' %}<|im_start|>system
    You are a helpful assistant.<|im_end|>
    {% endif %}<|im_start|>{{ role }}\n ... <|im_end|>\n ... {% if add_generation_prompt %}<|im_start|>assistant\n

An image item becomes `<|vision_start|><|image_pad|><|vision_end|>` (preceded by "Picture n: " with
add_vision_id), a video item the same with `<|video_pad|>`; no newline is written between a vision
block and the text after it. The test suite renders the Jinja template itself with transformers and
compares.
"""

from __future__ import annotations

from .messages import is_image_item
from .pieces import Media, Piece, Special, Text, Turn

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."


def render_chatml(
    messages: list[dict],
    *,
    add_generation_prompt: bool = False,
    add_vision_id: bool = False,
    default_system: str | None = DEFAULT_SYSTEM_PROMPT,
    style: str = "qwen2",
) -> list[Piece]:
    """`style="qwen2"`: Qwen2-VL/Qwen2.5-VL's template, every role written alike. `style="qwen3"`:
    Qwen3-VL's template: only a first system message is written, and only as text; other system
    messages are dropped; vision blocks are written in user turns only (assistant turns keep text)."""
    pieces: list[Piece] = []
    start, end = Special("<|im_start|>"), Special("<|im_end|>")
    images = videos = 0
    for i, message in enumerate(messages):
        role = message["role"]
        if i == 0 and role != "system" and default_system is not None:
            pieces += [Turn("system"), start, Text(f"system\n{default_system}"), end, Text("\n")]
        text_only = False
        if style == "qwen3":
            if role == "system" and i > 0:
                continue
            text_only = role != "user"
        pieces += [Turn(role), start, Text(f"{role}\n")]
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(Text(content, user=True))
        else:
            for j, item in enumerate(content or ()):
                where = f"message {i}, item {j}"
                if text_only:
                    if "text" in item:
                        pieces.append(Text(item["text"], user=True))
                elif is_image_item(item):
                    images += 1
                    if add_vision_id:
                        pieces.append(Text(f"Picture {images}: "))
                    pieces.append(Media("image", images - 1, item, where))
                elif item.get("type") == "video" or "video" in item:
                    videos += 1
                    if add_vision_id:
                        pieces.append(Text(f"Video {videos}: "))
                    pieces.append(Media("video", videos - 1, item, where))
                elif "text" in item:
                    pieces.append(Text(item["text"], user=True))
        pieces += [end, Text("\n")]
    if add_generation_prompt:
        pieces += [Turn("generation"), start, Text("assistant\n")]
    return pieces


def pieces_to_text(pieces: list[Piece], media_text: dict[str, str]) -> str:
    """The template's string, with each media slot written as `media_text[kind]`."""
    out = []
    for piece in pieces:
        if isinstance(piece, Special):
            out.append(piece.token * piece.count)
        elif isinstance(piece, Text):
            out.append(piece.text)
        elif isinstance(piece, Media):
            out.append(media_text[piece.kind])
    return "".join(out)
