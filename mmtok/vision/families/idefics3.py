"""Idefics3 and SmolVLM: longest-edge resize, square tiles with row/column markers, a global image.

Reference: transformers 5.23 `models/idefics3/` (`Idefics3ImageProcessorPil`, `Idefics3Processor`) and
`models/smolvlm/` (`SmolVLMImageProcessorPil`, `SmolVLMProcessor`: the same image code and the same
image text), with each checkpoint's preprocessor_config.json / processor_config.json (see `VARIANTS`).

* Plan. The image is resized so that its longest edge is `longest_edge` (up or down; the other side
  `int()`-truncated and made even), capped at 4096; then resized again so both sides are multiples of
  the tile size M (`resize_for_vision_encoder`: the long side ceiled, the other side recomputed from
  the aspect ratio with int() and ceiled). If either side exceeds M it is cut into rows x cols tiles of
  M x M, plus a global image (the twice-resized image resized to M x M); otherwise it is one M x M
  image (rows = cols = 0). `do_image_splitting=False`: resized to longest_edge, then to M x M.
  Each tile and the global image bring `image_seq_len` positions (SigLIP patches after pixel shuffle).
* Pixels. RGB, Pillow LANCZOS for every resize, x/255, mean = std = 0.5; pixel_values
  (1, tiles, 3, M, M) float32 and pixel_attention_mask (1, tiles, M, M) int64 (all ones: every
  tile is M x M, so the reference's padding never pads).
* Sequence. Each `<image>` in the prompt becomes, when split, for each row r and column c
  `<fake_token_around_image>` + `<row_r_col_c>` + `<image>` x N, a "\\n" after each row, then
  "\\n" + `<fake_token_around_image>` + `<global-img>` + `<image>` x N + `<fake_token_around_image>`;
  unsplit, only the global part without the "\\n". The processor writes `<row_r_col_c>` and
  `<global-img>` as text: they are single added tokens in the SmolVLM-256M/500M and SmolVLM2
  tokenizers (`<global-img>` 49152, `<row_1_col_1>`..`<row_6_col_6>` 49153..49188), but plain text in
  Idefics3-8B-Llama3's and SmolVLM-Instruct's (their added_tokens.json holds only
  `<fake_token_around_image>`, `<image>`, `<end_of_utterance>`). mmtok writes them as text too, so
  the tokenizer given decides, as in the reference.
* total_tokens = tokens + the `<fake_token_around_image>` tokens + one token per run of newlines (a
  row's "\\n"; the last row's "\\n" and the global image's "\\n" form one "\\n\\n", a single token in
  the Llama 3 and SmolLM2 vocabularies, as transformers' `_get_num_multimodal_tokens` assumes) + the
  row/column and global markers where the checkpoint holds them as added tokens. Where they are text
  (idefics3, smolvlm), their BPE length depends on a tokenizer mmtok does not ship, so they are not
  counted; `details["text_markers"]` says how many there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import AspectRatioError, EmptyImageError, InvalidOptionError, UnsupportedInputError
from ...sequence.pieces import Media, Piece, Special, Text
from .. import pixels
from ..plan import ImagePlan
from . import FAMILIES
from .base import VisionFamily

MAX_IMAGE_SIZE = 4096  # image_processing_idefics3.MAX_IMAGE_SIZE: the longest edge is capped there
FAKE = "<fake_token_around_image>"
IMAGE = "<image>"
GLOBAL = "<global-img>"
MARKER_GRID = 6  # <row_1_col_1> .. <row_6_col_6> are the added marker tokens of the SmolVLM2 vocabulary


def row_col_marker(row: int, col: int) -> str:
    """The tile marker the processor writes (1-based)."""
    return f"<row_{row}_col_{col}>"


@dataclass(frozen=True)
class Idefics3Spec:
    """One checkpoint's settings."""

    checkpoint: str
    longest_edge: int  # preprocessor_config.json size.longest_edge
    tile_size: int  # preprocessor_config.json max_image_size.longest_edge
    image_seq_len: int  # processor_config.json image_seq_len
    marker_tokens: bool  # <global-img> and <row_r_col_c> are added tokens of the checkpoint's tokenizer
    bos_token: str | None  # what the tokenizer prepends when called on text
    processor: str  # the transformers processor class the checkpoint names
    tokenizer: str


VARIANTS = {
    # HuggingFaceM4/Idefics3-8B-Llama3: size 1456 = 4 * 364, max_image_size 364, image_seq_len 169
    # (SigLIP 364 / 14 = 26, 26^2 / 2^2), Llama 3 tokenizer (<|begin_of_text|> first).
    "idefics3": Idefics3Spec(
        "HuggingFaceM4/Idefics3-8B-Llama3", 1456, 364, 169, False, "<|begin_of_text|>", "Idefics3Processor",
        "the Llama 3 tokenizer.json of HuggingFaceM4/Idefics3-8B-Llama3",
    ),
    # HuggingFaceTB/SmolVLM-Instruct (2.2B): 1536 = 4 * 384, 384, 81 (27^2 / 3^2); SmolLM2 tokenizer, no BOS.
    "smolvlm": Idefics3Spec(
        "HuggingFaceTB/SmolVLM-Instruct", 1536, 384, 81, False, None, "Idefics3Processor",
        "the tokenizer.json of HuggingFaceTB/SmolVLM-Instruct",
    ),
    # HuggingFaceTB/SmolVLM-256M-Instruct / -500M-Instruct (Idefics3Processor) and SmolVLM2-256M/500M-Video-Instruct
    # (SmolVLMProcessor, same image text): 2048 = 4 * 512, 512, 64 (patch 16: 32^2 / 4^2).
    "smolvlm-256m": Idefics3Spec(
        "HuggingFaceTB/SmolVLM-256M-Instruct", 2048, 512, 64, True, None, "Idefics3Processor",
        "the tokenizer.json of HuggingFaceTB/SmolVLM-256M-Instruct (or the 500M / SmolVLM2 ones)",
    ),
    # HuggingFaceTB/SmolVLM2-2.2B-Instruct: processor_config image_seq_len 81, SmolVLMProcessor; the SigLIP-384
    # tiles of SmolVLM-Instruct (1536 / 384).
    "smolvlm2": Idefics3Spec(
        "HuggingFaceTB/SmolVLM2-2.2B-Instruct", 1536, 384, 81, True, None, "SmolVLMProcessor",
        "the tokenizer.json of HuggingFaceTB/SmolVLM2-2.2B-Instruct",
    ),
}


def rescale_to_longest_edge(height: int, width: int, longest_edge: int) -> tuple[int, int]:
    """`_resize_output_size_rescale_to_max_len` then `_resize_output_size_scale_below_upper_bound`
    (transformers 5.23 image_processing_pil_idefics3.py), operation for operation: the float division
    by the aspect ratio and the int() truncation decide the short side."""
    aspect_ratio = width / height
    if width >= height:
        width = longest_edge
        height = int(width / aspect_ratio)
        height += height % 2  # made even
    else:
        height = longest_edge
        width = int(height * aspect_ratio)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    aspect_ratio = width / height
    if width >= height and width > MAX_IMAGE_SIZE:
        width = MAX_IMAGE_SIZE
        height = int(width / aspect_ratio)
    elif height > width and height > MAX_IMAGE_SIZE:
        height = MAX_IMAGE_SIZE
        width = int(height * aspect_ratio)
    return max(height, 1), max(width, 1)


def tile_multiple(height: int, width: int, tile: int) -> tuple[int, int]:
    """`resize_for_vision_encoder`'s target: the long side ceiled to a multiple of `tile`, the other
    recomputed from the aspect ratio (int()) and ceiled."""
    aspect_ratio = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect_ratio) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect_ratio) / tile) * tile
    return height, width


class Idefics3Family(VisionFamily):
    """Idefics3-style tiling; the checkpoint's numbers come from `spec` (one of VARIANTS)."""

    spec: Idefics3Spec
    modality_tokens = {"image": IMAGE}

    def __init__(
        self,
        *,
        longest_edge: int | None = None,
        do_image_splitting: bool = True,
        rgb: str = "reference",
        exif_transpose: bool | None = None,
        **unsupported,
    ):
        """longest_edge: the processor's size["longest_edge"] (the model cards suggest N * tile size);
        do_image_splitting: False gives one tile-sized image per input (image_processor option)."""
        given = sorted(k for k, v in unsupported.items() if v is not None)
        if given:
            raise InvalidOptionError(
                f"{self.name} takes no {', '.join(given)}; its options are longest_edge and do_image_splitting"
            )
        super().__init__(rgb=rgb, exif_transpose=exif_transpose)
        self.longest_edge = self.spec.longest_edge if longest_edge is None else longest_edge
        if not isinstance(self.longest_edge, int) or isinstance(self.longest_edge, bool) or self.longest_edge <= 0:
            raise InvalidOptionError(f"longest_edge must be a positive number of pixels; got {longest_edge!r}")
        if not isinstance(do_image_splitting, bool):
            raise InvalidOptionError(f"do_image_splitting must be True or False; got {do_image_splitting!r}")
        self.do_image_splitting = do_image_splitting
        self.bos_token = self.spec.bos_token
        self.tokenizer_description = self.spec.tokenizer
        grid = range(1, MARKER_GRID + 1)
        markers = [GLOBAL] + [row_col_marker(r, c) for r in grid for c in grid]
        self.special_tokens = (FAKE, IMAGE, *(markers if self.spec.marker_tokens else ()))

    @property
    def limits(self) -> dict:
        return {
            "longest_edge": self.longest_edge,
            "tile_size": self.spec.tile_size,
            "image_seq_len": self.spec.image_seq_len,
            "do_image_splitting": self.do_image_splitting,
        }

    # -- plan --------------------------------------------------------------------------------------

    def plan_size(self, size: tuple[int, int], source: str | None = None) -> ImagePlan:
        height, width = size
        if height <= 0 or width <= 0:
            raise EmptyImageError(source or "image", (height, width))
        spec, tile = self.spec, self.spec.tile_size
        first = rescale_to_longest_edge(height, width, self.longest_edge)
        rows = cols = 0
        if self.do_image_splitting:
            second = tile_multiple(*first, tile)
            if min(second) <= 0:  # the reference would resize to a zero side
                raise AspectRatioError(source or "image", (height, width), self.longest_edge)
            if second[0] > tile or second[1] > tile:
                rows, cols = second[0] // tile, second[1] // tile
        else:
            second = (tile, tile)
        tiles = rows * cols + 1
        tokens = spec.image_seq_len * tiles
        fakes = rows * cols + 2
        newlines = rows  # rows - 1 single "\n" and one "\n\n"
        markers = rows * cols + 1  # <row_r_col_c> for each tile, <global-img>
        # added tokens of the checkpoint's tokenizer, if any: markers past <row_6_col_6> are text there too
        counted = min(rows, MARKER_GRID) * min(cols, MARKER_GRID) + 1 if spec.marker_tokens else 0
        details = {
            "rows": rows,
            "cols": cols,
            "longest_edge_size": list(first),
            "tiled_size": list(second),
            "text_markers": markers - counted,
        }
        return ImagePlan(
            self.name, (height, width), (tile, tile), None, tokens, self.limits, source,
            total_tokens=tokens + fakes + newlines + counted, tiles=tiles, details=details,
        )

    # -- pixels ------------------------------------------------------------------------------------

    def image_features(self, rgb_image, plan: ImagePlan) -> np.ndarray:
        """(tiles, 3, M, M) float32: the row-major tiles, then the global image."""
        from PIL import Image

        lanczos = Image.Resampling.LANCZOS
        tile = self.spec.tile_size
        first = rgb_image.resize(tuple(plan.details["longest_edge_size"][::-1]), resample=lanczos, reducing_gap=None)
        second = first.resize(tuple(plan.details["tiled_size"][::-1]), resample=lanczos, reducing_gap=None)
        lut = pixels.normalize_lut((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255)
        planes = pixels.normalized_planes(np.asarray(second), lut)
        rows, cols = plan.details["rows"], plan.details["cols"]
        out = np.empty((plan.tiles, 3, tile, tile), dtype=np.float32)
        if rows:
            # (3, rows*M, cols*M) -> (rows, cols, 3, M, M): plain crops of the twice-resized image
            out[:-1] = planes.reshape(3, rows, tile, cols, tile).transpose(1, 3, 0, 2, 4).reshape(-1, 3, tile, tile)
            global_view = second.resize((tile, tile), resample=lanczos, reducing_gap=None)
            out[-1] = pixels.normalized_planes(np.asarray(global_view), lut)
        else:
            out[0] = planes
        return out

    def preprocess_images(self, images: list[Any]) -> tuple[dict[str, np.ndarray], list[ImagePlan]]:
        """pixel_values (1, tiles of all images, 3, M, M) and pixel_attention_mask (1, tiles, M, M): the
        image processor's output for a list of images (one batch sample)."""
        plans, blocks = self.planned_features(images)
        tile = self.spec.tile_size
        values = np.concatenate(blocks) if blocks else np.zeros((0, 3, tile, tile), np.float32)
        mask = np.ones((1, values.shape[0], tile, tile), dtype=np.int64)
        return {"pixel_values": values[None], "pixel_attention_mask": mask}, plans

    # -- sequence ----------------------------------------------------------------------------------

    def expand(self, media: Media, plan: ImagePlan) -> list[Piece]:
        if media.kind != "image":
            raise UnsupportedInputError(
                f"{self.name} {media.kind}", media, "images (mmtok has no video layout for this family)"
            )
        n = self.spec.image_seq_len
        rows, cols = plan.details["rows"], plan.details["cols"]
        pieces: list[Piece] = []
        for r in range(1, rows + 1):
            for c in range(1, cols + 1):
                pieces += [Special(FAKE), Text(row_col_marker(r, c)), Special(IMAGE, n)]
            pieces.append(Text("\n"))
        if rows:
            pieces.append(Text("\n"))
        return pieces + [Special(FAKE), Text(GLOBAL), Special(IMAGE, n), Special(FAKE)]


@FAMILIES.register("idefics3", aliases=("HuggingFaceM4/Idefics3-8B-Llama3",))
class Idefics3(Idefics3Family):
    name = "idefics3"
    tokenizer_name = None
    reference = "transformers 5.23 Idefics3Processor + Idefics3ImageProcessorPil, HuggingFaceM4/Idefics3-8B-Llama3 settings"
    spec = VARIANTS["idefics3"]


@FAMILIES.register(
    "smolvlm", aliases=("HuggingFaceTB/SmolVLM-Instruct", "HuggingFaceTB/SmolVLM-Base", "HuggingFaceTB/SmolVLM-Synthetic")
)
class SmolVLM(Idefics3Family):
    name = "smolvlm"
    tokenizer_name = None
    reference = "transformers 5.23 Idefics3Processor + Idefics3ImageProcessorPil, HuggingFaceTB/SmolVLM-Instruct settings"
    spec = VARIANTS["smolvlm"]


@FAMILIES.register(
    "smolvlm-256m",
    aliases=(
        "smolvlm-500m", "smolvlm2-256m", "smolvlm2-500m",
        "HuggingFaceTB/SmolVLM-256M-Instruct", "HuggingFaceTB/SmolVLM-256M-Base",
        "HuggingFaceTB/SmolVLM-500M-Instruct", "HuggingFaceTB/SmolVLM-500M-Base",
        "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "HuggingFaceTB/SmolVLM2-500M-Video-Instruct",
    ),
)  # fmt: skip
class SmolVLM256M(Idefics3Family):
    name = "smolvlm-256m"
    tokenizer_name = None
    reference = (
        "transformers 5.23 Idefics3Processor / SmolVLMProcessor + their ImageProcessorPil, "
        "HuggingFaceTB/SmolVLM-256M-Instruct settings (also 500M, SmolVLM2-256M/500M)"
    )
    spec = VARIANTS["smolvlm-256m"]


@FAMILIES.register("smolvlm2", aliases=("HuggingFaceTB/SmolVLM2-2.2B-Instruct", "HuggingFaceTB/SmolVLM2-2.2B-Base"))
class SmolVLM2(Idefics3Family):
    name = "smolvlm2"
    tokenizer_name = None
    reference = (
        "transformers 5.23 SmolVLMProcessor + SmolVLMImageProcessorPil, HuggingFaceTB/SmolVLM2-2.2B-Instruct settings"
    )
    spec = VARIANTS["smolvlm2"]
