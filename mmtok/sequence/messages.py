"""Chat messages in the Hugging Face content-list form, checked and normalised.

    [{"role": "user", "content": [{"type": "image", "image": "photo.jpg"},
                                  {"type": "text", "text": "Describe it."}]}]

Content may also be a plain string. An image item carries its source under "image" (as Qwen's
cookbooks and qwen-vl-utils write it), or "url", "path", "base64" (transformers'
`apply_chat_template`), or "image_url" (a string or OpenAI's {"url": ...}).
"""

from __future__ import annotations

from typing import Any

from ..errors import MessageFormatError

IMAGE_KEYS = ("image", "url", "path", "base64", "image_url")


def is_image_item(item: dict) -> bool:
    # The Qwen2-VL template's own test: type "image", or an "image" / "image_url" key.
    return item.get("type") in ("image", "image_url") or "image" in item or "image_url" in item


def image_source(item: dict, where: str) -> Any:
    for key in IMAGE_KEYS:
        if key in item:
            value = item[key]
            if key == "image_url" and isinstance(value, dict):
                value = value.get("url")
            if value is not None:
                return value
    raise MessageFormatError(f"{where}: an image item needs its image under one of the keys {', '.join(IMAGE_KEYS)}")


def check_messages(messages: Any) -> list[dict]:
    """Validate one conversation; returns it unchanged. Errors name the message and the fix."""
    if isinstance(messages, dict):
        raise MessageFormatError("messages must be a list of {'role': ..., 'content': ...} dicts, got one dict; wrap it in a list")
    if not isinstance(messages, (list, tuple)) or not messages:
        raise MessageFormatError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for i, message in enumerate(messages):
        where = f"message {i}"
        if not isinstance(message, dict) or "role" not in message:
            raise MessageFormatError(f"{where}: each message must be a dict with a 'role' and a 'content'")
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, (list, tuple)):
            raise MessageFormatError(f"{where}: content must be a string or a list of items like {{'type': 'text', 'text': ...}}")
        for j, item in enumerate(content):
            if not isinstance(item, dict):
                raise MessageFormatError(f"{where}, item {j}: content items must be dicts, got {type(item).__name__}")
    return list(messages)


def media_sources(pieces: list, kind: str) -> list[Any]:
    """The sources of the media slots of `kind` in `pieces`, in the order the template wrote them."""
    out = []
    for piece in pieces:
        if getattr(piece, "kind", None) == kind and hasattr(piece, "item"):
            out.append(image_source(piece.item, piece.where) if kind == "image" else video_source(piece.item, piece.where))
    return out


def video_source(item: dict, where: str) -> Any:
    for key in ("video", "url", "path"):
        if item.get(key) is not None:
            return item[key]
    raise MessageFormatError(f"{where}: a video item needs its video (a file, or a list of frames) under 'video', 'url' or 'path'")
