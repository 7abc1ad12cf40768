"""M-RoPE position ids for Qwen2-VL, Qwen2.5-VL and Qwen3-VL, in numpy, in two named conventions.

`convention="transformers"` (default) follows transformers 5.23.0 `get_rope_index` and
`get_vision_position_ids` in `models/qwen2_vl/modeling_qwen2_vl.py` (`Qwen2VLModel`),
`models/qwen2_5_vl/modeling_qwen2_5_vl.py` (`Qwen2_5_VLModel`) and `models/qwen3_vl/modeling_qwen3_vl.py`
(`Qwen3VLModel`), position by position. `convention="qwen"` is the algorithm the models were trained
with (the original Qwen code, i.e. transformers 4.x) and `"transformers-4.57"` is that plus 4.57.1's
Qwen2.5-VL truncation bug; both live in `rope_qwen.py`, whose docstring lists how they differ.

What 5.23.0 does (it differs from 4.x in several places):

* Each token gets a modality type: 0 text, 1 image, 2 video (the processor's `mm_token_type_ids`; here
  derived from `input_ids` and the spec's pad-token ids unless passed). Padding (attention_mask 0) is
  dropped first; the real tokens are cut into runs of equal type. `<|vision_start|>`/`<|vision_end|>`
  are ordinary text: the 5.x code never looks at token ids, only at the types.
* A text run of n tokens gets positions p, p+1, ..., p+n-1 on all three rows; then p += n.
* Each image or video run consumes the next grid (t, h, w) of its kind, in order across the whole batch
  (the counters are not reset per row), and gets, for T=t, H=h/m, W=w/m in row-major (t, h, w) order:
  temporal p + trunc(ti * interval), height p + hi, width p + wi. Then p += max(h, w) // m. The
  temporal extent is ignored when advancing: text after a video with T > max(H, W) reuses positions the
  video's temporal row already holds (4.x advanced past the largest position of all three rows).
* interval is 1 for images and for Qwen2-VL / Qwen3-VL videos. For Qwen2.5-VL videos it is
  tokens_per_second * second_per_grid_t (tokens_per_second 2 in the checkpoints), or tokens_per_second
  when second_per_grid_ts is not given: `(arange(T) * time_interval).long()` with second_per_grid_ts the
  float32 tensor the processor returns, so the multiply is in float32 and truncates towards zero
  (transformers PR #48669 removed the int cast of second_per_grid_t that 4.5x had).
* Qwen3-VL splits each video grid (t, h, w) into t grids (1, h, w), one per temporal group: its
  sequences write each group as `<timestamp text><|vision_start|><|video_pad|>*(h*w/m^2)<|vision_end|>`,
  so each group is its own run, whose temporal row is p (time is carried by the timestamp text).
  All three conventions split so.
* Padded positions are 0. rope_deltas[b] = max(positions of row b) + 1 - (number of real tokens of
  row b); at decode time the model uses cumsum(attention_mask) - 1 + rope_delta on all three rows.

Inputs the reference rejects or silently misaligns raise InvalidOptionError: a run whose length is not
t*h*w/m^2 of its grid (e.g. two pad runs written back to back, or a block cut by truncation), more runs
than grids, an empty row. Grids left over after the last run are ignored, as the reference does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidOptionError, UnknownNameError

STYLES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")
CONVENTIONS = ("transformers", "qwen", "transformers-4.57")
TEXT, IMAGE, VIDEO = 0, 1, 2


@dataclass(frozen=True)
class RopeSpec:
    """The config values `get_rope_index` reads. Defaults are the Qwen2/2.5/3-VL checkpoints'."""

    style: str  # "qwen2-vl" | "qwen2.5-vl" | "qwen3-vl"
    image_token_id: int = 151655  # <|image_pad|>
    video_token_id: int = 151656  # <|video_pad|>
    spatial_merge_size: int = 2
    tokens_per_second: int = 2  # Qwen2.5-VL only: checkpoint vision_config value (the class default is 4)
    vision_start_token_id: int = 151652  # <|vision_start|>: the "qwen" conventions find blocks by it

    def __post_init__(self):
        if self.style not in STYLES:
            raise UnknownNameError("M-RoPE style", self.style, list(STYLES))
        if int(self.spatial_merge_size) < 1:
            raise InvalidOptionError(f"spatial_merge_size must be at least 1, got {self.spatial_merge_size}")


def mm_token_types(spec: RopeSpec, input_ids) -> np.ndarray:
    """0 for text, 1 for image pads, 2 for video pads: the processor's `mm_token_type_ids`."""
    ids = np.asarray(input_ids)
    return np.where(ids == spec.image_token_id, IMAGE, np.where(ids == spec.video_token_id, VIDEO, TEXT))


def rope_index(
    spec: RopeSpec,
    input_ids,
    *,
    image_grid_thw=None,
    video_grid_thw=None,
    attention_mask=None,
    second_per_grid_ts=None,
    mm_token_type_ids=None,
    convention: str = "transformers",
) -> tuple[np.ndarray, np.ndarray]:
    """position_ids (3, batch, seq_len) int64 and rope_deltas (batch, 1) int64.

    input_ids (and attention_mask / mm_token_type_ids) may be (seq_len,) or (batch, seq_len). Grids are
    (n, 3) in the order their blocks appear across the batch; second_per_grid_ts has one value per video.

    convention: "transformers" (transformers 5.23.0, what the pinned library computes), "qwen" (the
    original Qwen code = transformers 4.x, what the models were trained with) or "transformers-4.57"
    ("qwen" with 4.57.1's int(second_per_grid_t) bug); see this module's and `rope_qwen`'s docstrings.
    Only "transformers" reads mm_token_type_ids; the others find blocks from the token ids, as 4.x did.
    """
    if convention not in CONVENTIONS:
        raise InvalidOptionError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    ids = _rows(input_ids, "input_ids")
    types = mm_token_types(spec, ids) if mm_token_type_ids is None else _rows(mm_token_type_ids, "mm_token_type_ids")
    mask = None if attention_mask is None else _rows(attention_mask, "attention_mask").astype(bool)
    for name, arr in (("mm_token_type_ids", types), ("attention_mask", mask)):
        if arr is not None and arr.shape != ids.shape:
            raise InvalidOptionError(f"{name} has shape {arr.shape}, but input_ids has shape {ids.shape}")

    m = int(spec.spatial_merge_size)
    grids = {IMAGE: _grids(image_grid_thw, "image_grid_thw"), VIDEO: _grids(video_grid_thw, "video_grid_thw")}
    if spec.style == "qwen3-vl":
        # one grid per temporal group: the timestamp text splits a video into t runs
        videos = grids[VIDEO]
        grids[VIDEO] = np.repeat(videos, videos[:, 0], axis=0)
        grids[VIDEO][:, 0] = 1
    steps = _temporal_steps(spec, second_per_grid_ts, convention)
    used = {IMAGE: 0, VIDEO: 0}
    hf5 = convention == "transformers"
    if not hf5:
        from .rope_qwen import qwen_row_positions  # here, not at the top: rope_qwen imports this module
    # 4.x took its text-only branch when neither grid argument was given (None, not merely empty)
    no_grids = image_grid_thw is None and video_grid_thw is None

    batch, seq_len = ids.shape
    position_ids = np.full((3, batch, seq_len), 0 if hf5 else 1, dtype=np.int64)
    deltas = np.zeros((batch, 1), dtype=np.int64)
    for b in range(batch):
        keep = slice(None) if mask is None else mask[b]
        n = seq_len if mask is None else int(np.count_nonzero(mask[b]))
        if n == 0:
            raise InvalidOptionError(f"row {b} of the batch has no real tokens (attention_mask is all 0)")
        if hf5:
            pos = _transformers_row(types[b][keep], grids, used, steps, m, b)
            deltas[b, 0] = pos.max() + 1 - n
        else:
            pos = qwen_row_positions(spec, ids[b][keep], grids, used, steps, m, b)
            top = int(pos.max())
            if no_grids and n < seq_len:  # 4.x's text-only branch maxes over the padded row, padding's 1s too
                top = max(top, 1)
            deltas[b, 0] = top + 1 - seq_len  # 4.x: the padded length, not the real token count
        position_ids[:, b, keep] = pos
    return position_ids, deltas


def _transformers_row(row_types: np.ndarray, grids, used, steps, m: int, row: int) -> np.ndarray:
    """5.23.0: positions (3, n) of one row's real tokens from their modality types."""
    n = row_types.shape[0]
    bounds = np.flatnonzero(row_types[1:] != row_types[:-1]) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [n]))
    pos = np.empty((3, n), dtype=np.int64)
    p = 0
    for kind, s, e in zip(row_types[starts].tolist(), starts.tolist(), ends.tolist()):
        if kind == TEXT:
            pos[:, s:e] = np.arange(p, p + e - s)
            p += e - s
            continue
        if kind not in grids:
            raise InvalidOptionError(
                f"mm_token_type_ids holds {kind}; only 0 (text), 1 (image) and 2 (video) are known"
            )
        index, T, H, W = take_grid(grids, used, kind, e - s, m, row)
        pos[:, s:e] = block_positions(p, steps(kind, index, T), H, W)
        p += max(H, W)  # = max(h, w) // m: the temporal extent is not skipped
    return pos


def take_grid(grids, used, kind: int, run_length: int, m: int, row: int) -> tuple[int, int, int, int]:
    """Consume the next grid of `kind` for a run of `run_length` pad tokens: (index, T, H, W) in LLM tokens."""
    name = "image" if kind == IMAGE else "video"
    index = used[kind]
    if index >= len(grids[kind]):
        raise InvalidOptionError(
            f"row {row} has more {name} runs than the {len(grids[kind])} {name} grid(s) given; "
            f"pass one {name}_grid_thw row per {name}, in order across the batch"
        )
    used[kind] = index + 1
    t, h, w = (int(v) for v in grids[kind][index])
    T, H, W = t, h // m, w // m
    if run_length != T * H * W:
        raise InvalidOptionError(
            f"row {row}: {name} run {index} has {run_length} pad tokens, but its grid {(t, h, w)} needs "
            f"{T * H * W} (t*h*w/{m}^2); each {name} needs its own run of exactly that many pad tokens"
        )
    return index, T, H, W


def block_positions(start: int, t_offsets: np.ndarray, H: int, W: int) -> np.ndarray:
    """(3, T*H*W) positions of one block in row-major (t, h, w) order, as the merged tokens are laid out."""
    shape = (t_offsets.shape[0], H, W)
    return np.stack([
        np.broadcast_to((start + t_offsets)[:, None, None], shape).reshape(-1),
        np.broadcast_to(np.arange(start, start + H)[None, :, None], shape).reshape(-1),
        np.broadcast_to(np.arange(start, start + W)[None, None, :], shape).reshape(-1),
    ])


def _temporal_steps(spec: RopeSpec, second_per_grid_ts, convention: str):
    """steps(kind, index, T) -> temporal offsets (T,) int64 of the T groups of image/video `index`."""
    tps = spec.tokens_per_second
    # without second_per_grid_ts every reference uses 1.0 per video, i.e. a step of tokens_per_second
    spg = None if second_per_grid_ts is None else np.asarray(second_per_grid_ts, dtype=np.float64).reshape(-1)
    if spec.style == "qwen2.5-vl" and spg is not None and (not np.all(np.isfinite(spg)) or np.any(spg < 0)):
        raise InvalidOptionError(f"second_per_grid_ts must be finite and non-negative, got {spg.tolist()}")

    def steps(kind: int, index: int, T: int) -> np.ndarray:
        ti = np.arange(T, dtype=np.int64)
        if spec.style != "qwen2.5-vl":
            return ti
        if kind == IMAGE:  # 5.x: interval 1 (transformers#45325); 4.x: second_per_grid_t = 0
            return ti if convention == "transformers" else np.zeros(T, dtype=np.int64)
        if spg is not None and index >= spg.shape[0]:
            raise InvalidOptionError(
                f"second_per_grid_ts has {spg.shape[0]} value(s), but video {index} needs one; pass one per video"
            )
        # the processor's float32 tensor; torch multiplies an int64 arange by a float32 (or Python float)
        # scalar in float32, and .long() truncates towards zero
        value = np.float32(1.0 if spg is None else spg[index])
        if convention == "transformers":  # arange(T) * (tokens_per_second * second_per_grid_t)
            return (ti.astype(np.float32) * (np.float32(tps) * value)).astype(np.int64)
        if convention == "qwen":  # arange(T) * second_per_grid_t * tokens_per_second, left to right
            return ((ti.astype(np.float32) * value) * np.float32(tps)).astype(np.int64)
        # transformers-4.57: second_per_grid_t cast to int64 first (0.5 -> 0, 1.9 -> 1)
        return ti * int(value) * tps

    return steps


def _rows(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidOptionError(f"{name} must be (seq_len,) or (batch, seq_len), got shape {arr.shape}")
    return arr


def _grids(values, name: str) -> np.ndarray:
    if values is None:
        return np.zeros((0, 3), dtype=np.int64)
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if arr.ndim == 1 and arr.shape[0] == 3:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 1):
        raise InvalidOptionError(f"{name} must be rows of 3 positive integers (t, h, w), got {arr.tolist()!r}")
    return arr.astype(np.int64)
