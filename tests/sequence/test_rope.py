"""mmtok.sequence.rope against transformers' own get_rope_index, run on tiny randomly-initialised models.

The reference is `Qwen2VLModel`, `Qwen2_5_VLModel` and `Qwen3VLModel.get_rope_index` (transformers
5.23.0), called with torch tensors as the processor would hand them over: `mm_token_type_ids` from
`ProcessorMixin.create_mm_token_type_ids` and `second_per_grid_ts` as a float32 tensor.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from mmtok.errors import InvalidOptionError, UnknownNameError
from mmtok.sequence.rope import RopeSpec, rope_index

torch = pytest.importorskip("torch")

IMG, VID, VSTART, VEND, PAD = 151655, 151656, 151652, 151653, 151643
MERGE = 2
STYLES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")


def _tiny_text(**extra):
    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, vocab_size=152064)
    return {**text, **extra}


@pytest.fixture(scope="module")
def models():
    """One tiny reference model per style (random weights; get_rope_index only reads the config)."""
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLModel, Qwen2VLConfig, Qwen2VLModel, Qwen3VLConfig,
                              Qwen3VLModel)

    mrope = {"type": "mrope", "mrope_section": [2, 1, 1]}
    return {
        "qwen2-vl": Qwen2VLModel(Qwen2VLConfig(
            text_config=_tiny_text(rope_scaling=mrope),
            vision_config=dict(depth=1, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=1,
                               spatial_merge_size=MERGE))),
        "qwen2.5-vl": Qwen2_5_VLModel(Qwen2_5_VLConfig(
            text_config=_tiny_text(rope_scaling=mrope),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                               fullatt_block_indexes=[0], spatial_merge_size=MERGE, tokens_per_second=2))),
        "qwen3-vl": Qwen3VLModel(Qwen3VLConfig(
            text_config=_tiny_text(head_dim=8, rope_scaling={"rope_type": "default", "mrope_section": [2, 1, 1],
                                                             "mrope_interleaved": True}),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                               deepstack_visual_indexes=[0], num_position_embeddings=16,
                               spatial_merge_size=MERGE))),
    }


def _mm_token_type_ids(rows):
    """The processor's own derivation of the modality types from token ids."""
    from transformers.processing_utils import ProcessorMixin

    ids = SimpleNamespace(image_token_ids=[IMG], video_token_ids=[VID], audio_token_ids=[None])
    return ProcessorMixin.create_mm_token_type_ids(ids, [list(r) for r in rows])


def reference(model, ids, mask=None, images=None, videos=None, spg=None):
    kwargs = dict(
        input_ids=torch.tensor(ids, dtype=torch.long),
        mm_token_type_ids=torch.tensor(_mm_token_type_ids(ids), dtype=torch.int),
        image_grid_thw=None if not images else torch.tensor(images, dtype=torch.long),
        video_grid_thw=None if not videos else torch.tensor(videos, dtype=torch.long),
        attention_mask=None if mask is None else torch.tensor(mask, dtype=torch.long),
    )
    if spg is not None:
        kwargs["second_per_grid_ts"] = torch.tensor(spg)  # float32, as BatchFeature(return_tensors="pt") gives
    with torch.no_grad():
        pos, deltas = model.get_rope_index(**kwargs)
    return pos.numpy(), deltas.numpy()


def ours(style, ids, mask=None, images=None, videos=None, spg=None, temporal="reference"):
    return rope_index(RopeSpec(style, spatial_merge_size=MERGE), np.asarray(ids), image_grid_thw=images or None,
                      video_grid_thw=videos or None, attention_mask=None if mask is None else np.asarray(mask),
                      second_per_grid_ts=spg, temporal=temporal)


# --- sequences ------------------------------------------------------------------------------------


def _text(rng, lo=0, hi=6):
    return [rng.randrange(0, 151000) for _ in range(rng.randint(lo, hi))]


def _grid(rng, t_max):
    # merged sides 1..5 (odd ones included); the vision grid is in patches, i.e. merged * MERGE
    return [rng.randint(1, t_max), MERGE * rng.randint(1, 5), MERGE * rng.randint(1, 5)]


def build_row(rng, style, images, videos, spg, n_media):
    """Random text with images and videos laid out as the processor expands them; appends the grids."""
    row = _text(rng, 1, 6)
    for _ in range(n_media):
        if rng.random() < 0.5:
            grid = _grid(rng, 1)
            images.append(grid)
            row += [VSTART] + [IMG] * (grid[0] * grid[1] * grid[2] // MERGE**2) + [VEND]
        else:
            grid = _grid(rng, 5)
            videos.append(grid)
            spg.append(rng.choice([1.0, 0.5, 2 / 3, 1.5, 0.7, 1.9867, 0.25]))
            per_group = grid[1] * grid[2] // MERGE**2
            if style == "qwen3-vl":  # <t seconds> <vs> pads <ve>, per temporal group
                for _ in range(grid[0]):
                    row += _text(rng, 1, 4) + [VSTART] + [VID] * per_group + [VEND]
            else:
                row += [VSTART] + [VID] * (grid[0] * per_group) + [VEND]
        row += _text(rng, 0, 5)
    return row


def build_batch(rng, style, batch, padding):
    images, videos, spg = [], [], []
    rows = [build_row(rng, style, images, videos, spg, rng.randint(0, 4)) for _ in range(batch)]
    width = max(map(len, rows))
    ids, mask = [], []
    for row in rows:
        fill = width - len(row)
        if padding == "left":
            ids.append([PAD] * fill + row)
            mask.append([0] * fill + [1] * len(row))
        else:
            ids.append(row + [PAD] * fill)
            mask.append([1] * len(row) + [0] * fill)
    if padding == "none":  # no attention mask: the padding is ordinary text to the reference
        mask = None
    return ids, mask, images, videos, spg


CASES = [(style, padding, seed) for style in STYLES for padding in ("left", "right", "none") for seed in range(20)]


@pytest.mark.parametrize("style,padding,seed", CASES)
def test_random_batches_match_reference(models, style, padding, seed):
    rng = random.Random(f"{style}-{padding}-{seed}")
    ids, mask, images, videos, spg = build_batch(rng, style, rng.randint(1, 4), padding)
    spg = spg if style == "qwen2.5-vl" and rng.random() < 0.8 else None
    ref_pos, ref_deltas = reference(models[style], ids, mask, images, videos, spg)
    pos, deltas = ours(style, ids, mask, images, videos, spg)
    assert pos.dtype == np.int64 and deltas.dtype == np.int64
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_array_equal(deltas, ref_deltas)


@pytest.mark.parametrize("style", STYLES)
def test_long_video_and_large_image(models, style):
    """A video with more temporal groups than rows/columns: text after it overlaps its temporal row."""
    images, videos = [[1, 2 * 23, 2 * 31]], [[9, 4, 6]]
    groups = [[200, 201, VSTART] + [VID] * 6 + [VEND] for _ in range(9)]
    video = sum(groups, []) if style == "qwen3-vl" else [VSTART] + [VID] * 54 + [VEND]
    ids = [[1, 2, VSTART] + [IMG] * (23 * 31) + [VEND] + video + [3, 4]]
    spg = [0.5] if style == "qwen2.5-vl" else None
    ref = reference(models[style], ids, None, images, videos, spg)
    got = ours(style, ids, None, images, videos, spg)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


@pytest.mark.parametrize("spg", [1.0, 0.5, 2 / 3, 1.5, 0.7])
def test_qwen25_temporal_step(models, spg):
    """5.23.0 keeps the step in floating point: 0.5 s per group (fps 4) is not truncated to 0."""
    t = 46
    ids = [[7, VSTART] + [VID] * t + [VEND, 8]]
    ref_pos, _ = reference(models["qwen2.5-vl"], ids, None, None, [[t, 2, 2]], [spg])
    pos, _ = ours("qwen2.5-vl", ids, None, None, [[t, 2, 2]], [spg])
    np.testing.assert_array_equal(pos, ref_pos)
    start = 2
    temporal = ref_pos[0, 0, start:start + t] - start
    assert temporal[1] == int(1 * spg * 2)  # 4.5x's int(second_per_grid_t) gave 0 here for 0.5 and 2/3
    exact, _ = ours("qwen2.5-vl", ids, None, None, [[t, 2, 2]], [spg], temporal="exact")
    expected_exact = [int(i * spg * 2) for i in range(t)]
    np.testing.assert_array_equal(exact[0, 0, start:start + t] - start, expected_exact)
    differs = np.flatnonzero(temporal != np.asarray(expected_exact))
    if spg == 0.7:  # 45 * 0.7 * 2: float32 (reference) gives 63, float64 (exact) 62.99999999999999 -> 62
        assert differs.tolist() == [45] and temporal[45] == 63 and expected_exact[45] == 62
    else:
        assert differs.size == 0


def test_one_dimensional_input_and_text_only(models):
    ids = [5, 6, VSTART, IMG, IMG, VEND, 9]
    pos, deltas = ours("qwen2-vl", ids, images=[[1, 2, 4]])
    ref_pos, ref_deltas = reference(models["qwen2-vl"], [ids], None, [[1, 2, 4]])
    assert pos.shape == (3, 1, 7) and deltas.shape == (1, 1)
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_array_equal(deltas, ref_deltas)
    text = [[1, 2, 3, 4], [PAD, PAD, 5, 6]]
    mask = [[1, 1, 1, 1], [0, 0, 1, 1]]
    for style in STYLES:
        ref = reference(models[style], text, mask)
        got = ours(style, text, mask)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(UnknownNameError, match="qwen2.5-vl"):
        RopeSpec("qwen4-vl")
    spec = RopeSpec("qwen2-vl")
    ids = [1, VSTART, IMG, IMG, IMG, VEND]
    with pytest.raises(InvalidOptionError, match="needs 2"):
        rope_index(spec, ids, image_grid_thw=[[1, 2, 4]])
    with pytest.raises(InvalidOptionError, match="more image runs"):
        rope_index(spec, ids)
    with pytest.raises(InvalidOptionError, match="temporal"):
        rope_index(spec, ids, image_grid_thw=[[1, 2, 6]], temporal="float")
    with pytest.raises(InvalidOptionError, match="second_per_grid_ts has 1"):
        rope_index(RopeSpec("qwen2.5-vl"), [VID, 1, VID], video_grid_thw=[[1, 2, 2], [1, 2, 2]],
                   second_per_grid_ts=[1.0])
    with pytest.raises(InvalidOptionError, match="no real tokens"):
        rope_index(spec, [[1, 2]], attention_mask=[[0, 0]])
