"""Qwen-VL's (v1, 2023) text tokenizer ("qwen-vl"): Qwen's BPE, Qwen-VL's special tokens, image spans.

Reference: `tokenization_qwen.py` (`QWenTokenizer`) of the Hugging Face repositories Qwen/Qwen-VL and
Qwen/Qwen-VL-Chat (remote code, not pip-installable; read in the mirror x1ngzai/Qwen-VL-Chat-Int4 at
1cd721a27dd000fc4cf688c6ad58e614da1d600d), with the checkpoints' config.json. The facts used here:

* Vocabulary and regex: those of "qwen2" (mmtok.text.qwen2): qwen.tiktoken's 151,643 ranks, Qwen's
  PAT_STR. NFC, unlike "qwen2": `tokenize` normalises the whole text before tiktoken looks for special
  tokens, so a combining character after a special token's spelling joins its ">" and the control
  token is lost ("<|im_end|>" + U+0338 -> "<|im_end|≯"); Qwen2's tokenizer.json normalises only the
  text between special tokens. The special-token policy then applies to the normalised text.
* Special tokens, numbered on from the last rank in the order `SPECIAL_TOKENS + IMAGE_ST`:
  <|endoftext|> 151643, <|im_start|> 151644, <|im_end|> 151645, <|extra_0|> ... <|extra_204|>
  (151646-151850), <ref> </ref> <box> </box> <quad> </quad> (151851-151856), <img> 151857,
  </img> 151858, <imgpad> 151859. There is no <point> token. config.json's `visual.image_start_id`
  is 151857; the model looks for </img> at +1 and <imgpad> at +2.
* The image span (`tokenize` -> `_replace_closed_tag(..., _encode_imgurl)`): when <img> is encoded as
  a control token, everything up to the next </img> control token is an image's path or URL. Its
  UTF-8 bytes become the ids 0..255 themselves, one id per byte (not BPE: the model reads the URL
  back with `bytes(ids)` and opens the file itself), padded with <imgpad> to IMG_TOKEN_SPAN = 256,
  so an image always takes <img> + 256 + </img>. More than 256 bytes, or an <img> with no </img>
  after it, is an error (ImageSpanError, a ValueError as the reference's). Decoding reverses the span
  (`_decode` / `_decode_imgurl`): the bytes before the first <imgpad> are the URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import ImageSpanError
from . import ENCODINGS
from .base import NONE, SpecialPolicy
from .nfc import to_nfc
from .qwen2 import _REINSTALL, QWEN_N_RANKS, QWEN_PATTERN, QWEN_TIKTOKEN_SHA256, qwen_tiktoken_path
from .tiktoken_files import read_tiktoken_ranks
from .tiktoken_tokenizer import TiktokenTokenizer

IMAGE_START, IMAGE_END, IMAGE_PAD = "<img>", "</img>", "<imgpad>"

#: positions between <img> and </img>: the URL's bytes, then <imgpad> (tokenization_qwen.IMG_TOKEN_SPAN)
IMG_TOKEN_SPAN = 256

#: tokenization_qwen.py's IMAGE_ST, in order
QWEN_VL_IMAGE_TOKENS = ("<ref>", "</ref>", "<box>", "</box>", "<quad>", "</quad>", IMAGE_START, IMAGE_END, IMAGE_PAD)

#: every special token in id order (SPECIAL_TOKENS + IMAGE_ST); the id of each is QWEN_N_RANKS + its index
QWEN_VL_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    *(f"<|extra_{i}|>" for i in range(205)),
    *QWEN_VL_IMAGE_TOKENS,
)


class QwenVLTokenizer(TiktokenTokenizer):
    """Qwen's BPE with Qwen-VL's special tokens; an allowed <img> control token opens an image span."""

    def __init__(self, name: str, *, ranks: dict[bytes, int], registered: bool = False):
        specials = {token: QWEN_N_RANKS + i for i, token in enumerate(QWEN_VL_SPECIAL_TOKENS)}
        super().__init__(
            name, pattern=QWEN_PATTERN, ranks=ranks, special_tokens=specials, nfc=True, registered=registered
        )
        self.image_start_id = specials[IMAGE_START]
        self.image_end_id = specials[IMAGE_END]
        self.image_pad_id = specials[IMAGE_PAD]

    def __reduce__(self):
        if self._registered:
            return super().__reduce__()
        return _rebuild_qwen_vl, (self.name, self._ranks)

    # --- encoding ---------------------------------------------------------------------------------

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialPolicy = NONE,
        disallowed_special: SpecialPolicy = "all",
    ) -> list[int]:
        text = to_nfc(text)  # the whole text first, as `tokenize` does
        ids = super().encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
        # Only an allowed <img> becomes this id (as ordinary text it is BPE), so the scan is the test.
        if self.image_start_id in ids:
            ids = self._encode_image_spans(ids)
        return ids

    def _encode_image_spans(self, ids: list[int]) -> list[int]:
        """Each <img> ... </img> (the next </img>) becomes <img> + the URL's bytes as ids + <imgpad>s + </img>."""
        out: list[int] = []
        pos = 0
        while True:
            try:
                start = ids.index(self.image_start_id, pos)
            except ValueError:
                break
            try:
                end = ids.index(self.image_end_id, start)
            except ValueError:
                raise ImageSpanError(
                    f"{IMAGE_START} has no {IMAGE_END} after it (the reference fails on it too)",
                    f"close it, or do not allow {IMAGE_START} as a control token",
                ) from None
            out += ids[pos:start]
            out += self._image_span(ids[start + 1 : end])
            pos = end + 1
        out += ids[pos:]
        return out

    def _image_span(self, inner: list[int]) -> list[int]:
        special = next((i for i in inner if self.is_special_id(i)), None)
        if special is not None:
            # the reference fails here too (TypeError joining the special token's str with bytes)
            token = self._special_by_id[special]
            where = f"the path between {IMAGE_START} and {IMAGE_END}"
            raise ImageSpanError(f"{where} holds the special token {token!r}", "pass a plain path")
        url = self._encoding.decode_bytes(inner)
        if len(url) > IMG_TOKEN_SPAN:
            raise ImageSpanError(
                f"the path between {IMAGE_START} and {IMAGE_END} is {len(url)} bytes, over the {IMG_TOKEN_SPAN} "
                "it can hold",
                "use a shorter path (a symlink or a copy), or an empty span with the pixels passed separately",
            )
        return [self.image_start_id, *url, *[self.image_pad_id] * (IMG_TOKEN_SPAN - len(url)), self.image_end_id]

    # --- decoding ---------------------------------------------------------------------------------

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        if not isinstance(ids, list):
            ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if self.image_start_id not in ids:
            return super().decode_bytes(ids)
        parts: list[bytes] = []
        pos = 0
        while True:
            try:
                start = ids.index(self.image_start_id, pos)
                end = ids.index(self.image_end_id, start)
            except ValueError:
                # The reference raises on an unclosed <img>; mmtok decodes the rest as it is, so that
                # cut or streamed sequences can still be shown.
                break
            parts.append(super().decode_bytes(ids[pos:start]))
            parts.append(self._decode_image_span(ids[start : end + 1]))
            pos = end + 1
        parts.append(super().decode_bytes(ids[pos:]))
        return b"".join(parts)

    def _decode_image_span(self, span: list[int]) -> bytes:
        """<img> + URL bytes + <imgpad>s + </img> -> b"<img>URL</img>" (`_decode_imgurl`)."""
        inner = span[1:-1]
        if self.image_pad_id in inner:
            inner = inner[: inner.index(self.image_pad_id)]
        # The reference requires a pad (it fails on a 256-byte URL) and byte-valued ids; mmtok decodes a
        # full span too, and a span of other ids (not made by the encoder) as ordinary tokens.
        try:
            url = bytes(inner)  # ids in range(256) only (numpy integers too)
        except (TypeError, ValueError):
            return super().decode_bytes(span)
        return IMAGE_START.encode() + url + IMAGE_END.encode()


def _rebuild_qwen_vl(name: str, ranks: dict[bytes, int]) -> QwenVLTokenizer:
    return QwenVLTokenizer(name, ranks=ranks)


@ENCODINGS.register("qwen-vl", aliases=("qwen_vl",))
def load_qwen_vl(path: str | Path | None = None) -> QwenVLTokenizer:
    """Qwen-VL's tokenizer. `path` replaces the shipped qwen.tiktoken (it must have the same sha256, which
    also fixes the number of ranks)."""
    source = Path(path) if path is not None else qwen_tiktoken_path()
    ranks = read_tiktoken_ranks(source, sha256=QWEN_TIKTOKEN_SHA256, fix=_REINSTALL)
    return QwenVLTokenizer("qwen-vl", ranks=ranks, registered=path is None)
