"""Discrete image ids inside a language model's token sequence, as unified generation models put them.

A codebook of K codes gets a reserved id range appended after a text tokenizer's largest id, between
image start/end marker tokens, so that text and images share one id sequence and round-trip:
text + image -> ids -> (text, id grid) -> pixels (with the image tokenizer checkpoint).

Layouts (pick by name; the markers' spellings can be changed with `markers=`):

* ``"chameleon"`` (default; alias ``"flat"``): ``<|image start|> c_1 ... c_N <|image end|>``, the codes
  in raster order. Chameleon (Team 2024; transformers ``ChameleonProcessor``: ``<racm3:break>``,
  1024 codes, ``<eoss>``), Janus (transformers ``JanusProcessor``: boi token, the image's tokens, eoi
  token) and LaVIT (codes offset after its ``[IMG]``/``[/IMG]`` ids, research brief A7) use this span. It works for a 2-D
  grid and a TiTok 1-D sequence alike; the grid shape is not written in the sequence, so the layout
  needs `token_shape` to rebuild a grid (else it returns the flat ids).
* ``"emu3"``: ``<|image start|> H*W <|image token|> row_1 <|image eol|> ... row_H <|image eol|>
  <|image eof|> <|image end|>`` — Emu3 (baaivision/Emu3 ``emu3/mllm/processing_emu3.py``
  ``Emu3Processor.__call__`` / ``to_imgstr``; transformers ``Emu3Processor.replace_image_token``):
  the size prefix "H*W" is plain text (the base tokenizer's ids), every row ends with an end-of-line
  token, and the frame with an end-of-frame token, so a generator knows the shape as it goes.
  (Emu3's tokenizer reuses reserved tokens, e.g. eof = ``<|extra_201|>`` per transformers'
  Emu3Processor; mmtok's default spellings are readable names.) A 1-D sequence is one row.

Ids: the marker tokens and one named token per code (Emu3's spelling ``<|visual token 000123|>``)
are added with mmtok.text.added_tokens.add_special_tokens, so they are appended after the base
tokenizer's max id (markers first, then the codes, as LaVIT offsets its codes after its markers),
never collide with an existing id, and a tokenizer.json written with `out=` gives transformers the
same ids. Code c has id ``code_offset + c``. Loading that tokenizer.json again as the base keeps
every id (the spellings already exist). The model's embedding matrix needs the new rows (see
added_tokens.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from ..errors import ImageTokenSpanError, InvalidOptionError, UnknownNameError

__all__ = ["LAYOUTS", "DEFAULT_MARKERS", "ImageTokenLayout", "encode_interleaved", "decode_interleaved"]

#: a malformed image span (a subclass of InvalidOptionError)
SpanError = ImageTokenSpanError

LAYOUTS = ("chameleon", "emu3")
ALIASES = {"flat": "chameleon", "janus": "chameleon", "lavit": "chameleon"}
DEFAULT_MARKERS = {
    "start": "<|image start|>",
    "end": "<|image end|>",
    "token": "<|image token|>",  # emu3 only: between the size prefix and the rows
    "eol": "<|image eol|>",  # emu3 only
    "eof": "<|image eof|>",  # emu3 only
}
CODE_TEMPLATE = "<|visual token {:06d}|>"
_MARKERS_USED = {"chameleon": ("start", "end"), "emu3": ("start", "end", "token", "eol", "eof")}
_SIZE = re.compile(r"^(\d+)\*(\d+)$")


def _layout_name(layout: str) -> str:
    key = str(layout).lower()
    key = ALIASES.get(key, key)
    if key not in LAYOUTS:
        raise UnknownNameError("image token layout", layout, list(LAYOUTS))
    return key


class ImageTokenLayout:
    """A text tokenizer extended with image markers and a reserved range of `codebook_size` code ids.

    `tokenizer`: an mmtok TextTokenizer, a registered name ("qwen2") or a vocabulary path. `out`: write
    the extended tokenizer as a tokenizer.json (tiktoken bases: only if their ids are contiguous).
    Attributes: `tokenizer` (the extended one), `base`, `marker_ids`, `code_offset`, `codebook_size`.
    """

    def __init__(
        self,
        tokenizer,
        codebook_size: int,
        *,
        layout: str = "chameleon",
        token_shape: Sequence[int] | None = None,
        markers: dict[str, str] | None = None,
        code_template: str = CODE_TEMPLATE,
        out: str | os.PathLike | None = None,
    ):
        from ..text import get_tokenizer
        from ..text.added_tokens import add_special_tokens, max_id

        if not isinstance(codebook_size, (int, np.integer)) or int(codebook_size) < 1:
            raise InvalidOptionError(f"codebook_size {codebook_size!r}: pass the image tokenizer's number of codes (e.g. 256)")
        self.layout = _layout_name(layout)
        self.codebook_size = int(codebook_size)
        self.token_shape = tuple(int(s) for s in token_shape) if token_shape is not None else None
        unknown = set(markers or {}) - set(DEFAULT_MARKERS)
        if unknown:
            raise InvalidOptionError(f"markers {sorted(unknown)}: the marker names are {', '.join(DEFAULT_MARKERS)}")
        self.markers = {k: v for k, v in {**DEFAULT_MARKERS, **(markers or {})}.items() if k in _MARKERS_USED[self.layout]}
        base = tokenizer if not isinstance(tokenizer, (str, os.PathLike)) else get_tokenizer(tokenizer)
        self.base, self.code_template = base, code_template
        codes = [code_template.format(c) for c in range(self.codebook_size)]
        if len(set(codes)) != len(codes) or set(codes) & set(self.markers.values()):
            raise InvalidOptionError(f"code_template {code_template!r} must give a distinct spelling per code, e.g. '<|visual token {{:06d}}|>'")
        added = add_special_tokens(base, [*self.markers.values(), *codes], out=out)
        self.tokenizer = added.tokenizer
        self.path = added.path
        self.marker_ids = {k: added.ids[v] for k, v in self.markers.items()}
        self.code_offset = added.ids[codes[0]]
        if [added.ids[s] for s in codes] != list(range(self.code_offset, self.code_offset + self.codebook_size)):
            raise InvalidOptionError(
                f"{base.name}: the code tokens {codes[0]}... already exist at ids that are not one contiguous range; "
                "pass a different code_template"
            )
        self.base_max_id = max_id(base)
        self._marker_by_id = {i: k for k, i in self.marker_ids.items()}

    # --- ids ------------------------------------------------------------------------------------
    @property
    def code_range(self) -> range:
        """The reserved ids of the codes: code c is id code_offset + c."""
        return range(self.code_offset, self.code_offset + self.codebook_size)

    def is_code_id(self, token_id: int) -> bool:
        return self.code_offset <= token_id < self.code_offset + self.codebook_size

    def to_dict(self) -> dict:
        return {
            "layout": self.layout,
            "tokenizer": self.tokenizer.name,
            "base_max_id": self.base_max_id,
            "markers": {self.markers[k]: i for k, i in self.marker_ids.items()},
            "code_ids": [self.code_range.start, self.code_range.stop - 1],
            "codebook_size": self.codebook_size,
            "token_shape": list(self.token_shape) if self.token_shape else None,
            "path": str(self.path) if self.path else None,
        }

    def _grid(self, ids) -> np.ndarray:
        try:
            grid = np.asarray(ids.detach().cpu().numpy() if hasattr(ids, "detach") else ids)
        except (TypeError, ValueError):
            grid = None
        if grid is None or grid.dtype == object or grid.ndim not in (1, 2) or grid.size == 0 or not np.issubdtype(grid.dtype, np.integer):
            raise InvalidOptionError(
                "image ids: pass a non-empty 1-D sequence or 2-D grid of integer codes (one image's output of encode); "
                f"got {type(ids).__name__}" + (f" of shape {grid.shape} and dtype {grid.dtype}" if grid is not None else "")
            )
        if grid.min() < 0 or grid.max() >= self.codebook_size:
            bad = int(grid.min()) if grid.min() < 0 else int(grid.max())
            raise InvalidOptionError(f"image id {bad} is outside the codebook 0..{self.codebook_size - 1}; encode with the matching checkpoint")
        return grid.astype(np.int64)

    def image_to_ids(self, ids_grid) -> list[int]:
        """One image's code ids (1-D or 2-D) -> its span of text ids, markers included."""
        grid = self._grid(ids_grid)
        m = self.marker_ids
        if self.layout == "chameleon":
            return [m["start"], *(grid.reshape(-1) + self.code_offset).tolist(), m["end"]]
        rows = grid.reshape(1, -1) if grid.ndim == 1 else grid
        out = [m["start"], *self.base.encode_ordinary(f"{rows.shape[0]}*{rows.shape[1]}"), m["token"]]
        for row in rows:
            out += [*(row + self.code_offset).tolist(), m["eol"]]
        return out + [m["eof"], m["end"]]

    def span_length(self, token_shape: Sequence[int]) -> int:
        """How many sequence ids one image of this token shape takes (markers included)."""
        shape = tuple(int(s) for s in token_shape)
        n = int(np.prod(shape))
        if self.layout == "chameleon":
            return n + 2
        h, w = (1, shape[0]) if len(shape) == 1 else shape
        return 1 + len(self.base.encode_ordinary(f"{h}*{w}")) + 1 + h * (w + 1) + 2

    def ids_to_image(self, text_ids: Sequence[int]) -> np.ndarray:
        """The code grid of the first image span in `text_ids` (a whole sequence or just the span)."""
        for part in self.split(text_ids):
            if isinstance(part, np.ndarray):
                return part
        raise SpanError(f"no image span in the {len(text_ids)} ids: no {self.markers['start']} (id {self.marker_ids['start']}) found")

    # --- sequences -------------------------------------------------------------------------------
    def split(self, text_ids: Sequence[int]) -> list:
        """Ids -> a list of parts: lists of text ids and code grids (np.int64 arrays), in order."""
        ids = [int(i) for i in text_ids]
        parts: list = []
        text: list[int] = []
        start, end = self.marker_ids["start"], self.marker_ids["end"]
        i = 0
        while i < len(ids):
            t = ids[i]
            if t == start:
                try:
                    j = ids.index(end, i + 1)
                except ValueError:
                    raise SpanError(f"the image span opened at position {i} is never closed with {self.markers['end']} (id {end})") from None
                if text:
                    parts.append(text)
                    text = []
                parts.append(self._parse_span(ids[i + 1 : j], i))
                i = j + 1
                continue
            if t in self._marker_by_id or self.is_code_id(t):
                what = self.markers[self._marker_by_id[t]] if t in self._marker_by_id else f"image code {t - self.code_offset}"
                raise SpanError(f"id {t} ({what}) at position {i} is outside an image span; image ids belong between {self.markers['start']} and {self.markers['end']}")
            text.append(t)
            i += 1
        if text:
            parts.append(text)
        return parts

    def _codes(self, ids: list[int], where: int) -> np.ndarray:
        for k, t in enumerate(ids):
            if not self.is_code_id(t):
                what = self.markers[self._marker_by_id[t]] if t in self._marker_by_id else "a text token"
                raise SpanError(f"id {t} ({what}) at position {where + k} inside an image span; only code ids {self.code_range.start}..{self.code_range.stop - 1} belong there")
        return np.asarray(ids, dtype=np.int64) - self.code_offset

    def _parse_span(self, body: list[int], at: int) -> np.ndarray:
        if not body:
            raise SpanError(f"the image span at position {at} is empty; it needs the image's code ids")
        if self.layout == "chameleon":
            codes = self._codes(body, at + 1)
            if self.token_shape is None:
                return codes
            if codes.size != int(np.prod(self.token_shape)):
                raise SpanError(f"the image span at position {at} holds {codes.size} codes, not {int(np.prod(self.token_shape))} (token_shape {self.token_shape})")
            return codes.reshape(self.token_shape)
        m = self.marker_ids
        if m["token"] not in body:
            raise SpanError(f"the emu3 image span at position {at} has no {self.markers['token']} after its size prefix")
        k = body.index(m["token"])
        size = self.base.decode(body[:k]) if all(not self.is_code_id(t) and t not in self._marker_by_id for t in body[:k]) else ""
        match = _SIZE.match(size)
        if not match:
            raise SpanError(f"the emu3 image span at position {at} has the size prefix {size!r}, not 'H*W'")
        h, w = int(match.group(1)), int(match.group(2))
        rest = body[k + 1 :]
        if rest[-1:] != [m["eof"]]:
            raise SpanError(f"the emu3 image span at position {at} does not end with {self.markers['eof']} before {self.markers['end']}")
        rows, row = [], []
        for t in rest[:-1]:
            if t == m["eol"]:
                rows.append(row)
                row = []
            else:
                row.append(t)
        if row:
            raise SpanError(f"the last row of the emu3 image span at position {at} has no {self.markers['eol']}")
        if len(rows) != h or any(len(r) != w for r in rows):
            raise SpanError(f"the emu3 image span at position {at} says {h}*{w} but holds rows of lengths {[len(r) for r in rows]}")
        grid = self._codes([t for r in rows for t in r], at + k + 2).reshape(h, w)
        if self.token_shape is not None and len(self.token_shape) == 1:
            return grid.reshape(-1)
        return grid

    def encode(self, parts: Sequence, *, allowed_special=()) -> list[int]:
        """Text strings and code grids, in order -> one id sequence. `allowed_special` ("all" or
        spellings) lets the text hold other special tokens (e.g. region tokens <r0>); text that spells
        an image marker or code token always raises SpecialTokenError: those come only from images."""
        own = set(self.markers.values())
        if allowed_special == "all":
            allowed = {t for t in self.tokenizer.special_tokens if t not in own and not self._is_code_spelling(t)}
        elif isinstance(allowed_special, str):
            raise InvalidOptionError(f"allowed_special={allowed_special!r}: pass 'all' or a collection of spellings, e.g. {{'<r0>'}}")
        else:
            allowed = {t for t in allowed_special if t not in own and not self._is_code_spelling(t)}
        out: list[int] = []
        for part in parts:
            out += self.tokenizer.encode(part, allowed_special=allowed) if isinstance(part, str) else self.image_to_ids(part)
        return out

    def _code_spelling(self, code: int) -> str:
        return self.code_template.format(code)

    def _is_code_spelling(self, token: str) -> bool:
        token_id = self.tokenizer.special_tokens.get(token)
        return token_id is not None and self.is_code_id(token_id)

    def decode(self, text_ids: Sequence[int]) -> list:
        """Ids -> text strings (decoded with the tokenizer) and code grids, in order."""
        return [self.tokenizer.decode(p) if isinstance(p, list) else p for p in self.split(text_ids)]


def _model(ckpt):
    if isinstance(ckpt, (str, os.PathLike)):
        from .checkpoint import load_model

        return load_model(str(ckpt))
    return ckpt.eval()


def encode_interleaved(parts: Sequence, layout: ImageTokenLayout, ckpt) -> list[int]:
    """Text strings and images (uint8 (H, W, 3) arrays; centre-cropped and resized to the
    checkpoint's size as `mmtok discrete encode` does) -> one id sequence."""
    from . import require_torch
    from .data import square, to_tensor

    torch = require_torch()
    model = _model(ckpt)
    if model.codebook_size != layout.codebook_size:
        raise InvalidOptionError(f"the checkpoint has {model.codebook_size} codes but the layout reserves {layout.codebook_size}; build the layout with codebook_size={model.codebook_size}")
    out: list = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        image = np.asarray(part)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise InvalidOptionError(f"image of shape {image.shape} and dtype {image.dtype}: pass uint8 RGB arrays (H, W, 3)")
        with torch.no_grad():
            out.append(model.encode(to_tensor(square(image, model.size)[None]))[0])
    return layout.encode(out)


def decode_interleaved(text_ids: Sequence[int], layout: ImageTokenLayout, ckpt) -> list:
    """Ids -> text strings and decoded images (uint8 (size, size, 3)), in order."""
    from .api import decode_ids

    model = _model(ckpt)
    return [p if isinstance(p, str) else decode_ids(p, model) for p in layout.decode(text_ids)]
