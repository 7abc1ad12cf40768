"""M-RoPE positions as the Qwen models were trained: the original Qwen code, i.e. transformers 4.x.

`rope_index(..., convention="qwen" | "transformers-4.57")` runs this. It follows `get_rope_index` of
transformers 4.57.1 (`Qwen2VLModel`, `Qwen2_5_VLModel`, `Qwen3VLModel` in `models/qwen2_vl/`,
`models/qwen2_5_vl/`, `models/qwen3_vl/modeling_*.py`), which kept the algorithm the Qwen team shipped
with the models (Qwen2.5-VL: transformers PR #35569; Qwen's fine-tuning code, `qwen-vl-finetune/qwenvl/
data/rope2d.py` `get_rope_index_25`, carries the same function), as written down and checked against
4.57.1 in the project's research notes (qwen.md §4.1, §4.2). transformers 5.23.0 still runs this
algorithm for Qwen2.5-Omni's thinker (`Qwen2_5OmniPreTrainedModelForConditionalGeneration.get_rope_index`,
whose rope_deltas subtract the real token count instead); the tests use its positions as a live cross-check.

How it differs from transformers 5.x (`rope.py`):

* Blocks are found from token ids, not modality types: the number of blocks in a row is the number of
  `<|vision_start|>` tokens directly followed by an image or video pad, and each block is the next pad
  token at or after the end of the previous block (of a kind that still has blocks left), with the run of
  pads that follows it. Everything between two blocks, `<|vision_start|>`/`<|vision_end|>` included, is text.
* Text after a block resumes at 1 + the largest position of the block over all three rows, i.e. at
  start + max(last temporal offset + 1, H, W). 5.x advances by max(H, W) only, so text after a video
  whose temporal extent is longer overlaps the video's temporal row there, never here.
* Padded positions are 1 (5.x: 0). rope_deltas = max + 1 - L with L the padded length of input_ids (5.x:
  the number of real tokens). Without any grid argument (text only) 4.x takes a separate branch whose max
  runs over the padded row, padding's 1s included: a row of one real token and some padding gets 2 - L.
* Qwen2.5-VL temporal offsets: `arange(T) * second_per_grid_t * tokens_per_second` then `.long()`, a
  float32 product in that order (torch multiplies an int64 tensor by a float32 or Python-float scalar in
  float32); images get second_per_grid_t = 0. With tokens_per_second = 2 this equals 5.23.0's
  `arange(T) * (tokens_per_second * second_per_grid_t)` bit for bit (a factor 2 is exact in float).
  "transformers-4.57" reproduces the bug of 4.57.1 (and other late 4.x releases), which cast
  second_per_grid_t to int64 before multiplying (`torch.as_tensor(second_per_grid_t, dtype=range_tensor.dtype)`):
  at fps 4 (second_per_grid_t 0.5) every group of a video sits at one temporal position, and 1.9 acts as 1
  (QwenLM/Qwen3-VL#1282; transformers PR #48669 made 5.x keep the float).
* Qwen2-VL / Qwen3-VL temporal offsets are ti as in 5.x, and Qwen3-VL splits videos into one block per
  temporal group as 5.x does, so for Qwen3-VL the conventions differ only in padding and rope_deltas.

Inputs on which 4.x crashed or silently misaligned (the model scatters vision features onto every pad
token, this algorithm would call some of them text) raise InvalidOptionError: pad tokens that no
`<|vision_start|>` leads, a block whose pad run is not exactly t*h*w/m^2 long, more blocks than grids.
A `<|vision_start|>` ending a row (cut by truncation) is text here; 4.x raised IndexError on it.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidOptionError
from .rope import IMAGE, VIDEO, RopeSpec, block_positions, take_grid


def qwen_row_positions(spec: RopeSpec, tokens: np.ndarray, grids, used, steps, m: int, row: int) -> np.ndarray:
    """Positions (3, n) of one row's real tokens as 4.x `get_rope_index` computes them.

    grids / used / steps are `rope_index`'s: grids are consumed in order across the batch (`used` is not
    reset per row, as in 4.x), steps(kind, index, T) gives a block's temporal offsets.
    """
    n = tokens.shape[0]
    pad_ids = {IMAGE: spec.image_token_id, VIDEO: spec.video_token_id}
    followers = tokens[1:][tokens[:-1] == spec.vision_start_token_id]
    left = {kind: int(np.count_nonzero(followers == pad)) for kind, pad in pad_ids.items()}
    pads = {kind: np.flatnonzero(tokens == pad) for kind, pad in pad_ids.items()}

    pieces = []
    st = nxt = placed = 0  # st: first token not yet placed; nxt: the position the next text token gets
    for _ in range(left[IMAGE] + left[VIDEO]):
        # 4.x: input_tokens.index(pad, st) for each kind with blocks left; the earlier one is the block.
        # Each block ends a maximal run (checked by take_grid), so the found pad always starts a run.
        ed = {kind: int(pads[kind][np.searchsorted(pads[kind], st)]) for kind in (IMAGE, VIDEO) if left[kind]}
        kind = IMAGE if ed.get(IMAGE, n + 1) < ed.get(VIDEO, n + 1) else VIDEO
        left[kind] -= 1
        start = ed[kind]
        index, T, H, W = take_grid(grids, used, kind, _run_length(tokens, start, pad_ids[kind]), m, row)
        pieces.append(_text(nxt, start - st))
        block = block_positions(nxt + start - st, steps(kind, index, T), H, W)
        pieces.append(block)
        nxt = int(block.max()) + 1  # over all three rows: a long video's temporal extent is skipped
        st = start + T * H * W
        placed += T * H * W
    pieces.append(_text(nxt, n - st))

    stray = pads[IMAGE].shape[0] + pads[VIDEO].shape[0] - placed
    if stray:
        raise InvalidOptionError(
            f"row {row} has {stray} image/video pad token(s) that no <|vision_start|> leads; the 'qwen' "
            f"conventions (like transformers 4.x) find each block as <|vision_start|> followed by its pad "
            f"run, so write every image/video as <|vision_start|>pads<|vision_end|>, or use "
            f"convention='transformers'"
        )
    return np.concatenate(pieces, axis=1)


def _text(start: int, length: int) -> np.ndarray:
    """(3, length) positions of a text span: the same on all three rows."""
    return np.broadcast_to(np.arange(start, start + length, dtype=np.int64), (3, length))


def _run_length(tokens: np.ndarray, start: int, pad: int) -> int:
    """Number of consecutive `pad` tokens from `start`."""
    other = np.flatnonzero(tokens[start:] != pad)
    return int(other[0]) if other.size else tokens.shape[0] - start
