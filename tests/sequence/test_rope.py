"""mmtok.sequence.rope against transformers' own get_rope_index, run on tiny randomly-initialised models.

convention="transformers": the reference is `Qwen2VLModel`, `Qwen2_5_VLModel` and
`Qwen3VLModel.get_rope_index` (transformers 5.23.0), called with torch tensors as the processor would hand
them over: `mm_token_type_ids` from `ProcessorMixin.create_mm_token_type_ids` and `second_per_grid_ts` as
a float32 tensor.

convention="qwen" / "transformers-4.57" (4.x semantics, which 5.23.0's Qwen2-VL models no longer run):
the published worked vector of research qwen.md §4.2 (validated there against transformers 4.57.1), the
rules the 4.x code states (checked by hand on every random batch), the original code's temporal
expression run in torch, and, as a live cross-check, 5.23.0's Qwen2.5-Omni thinker `get_rope_index`,
which still runs the 4.x algorithm (its rope_deltas subtract the real token count, not the padded length,
so only its positions are compared).
"""

from __future__ import annotations

import random
import re
from types import SimpleNamespace

import numpy as np
import pytest

from mmtok.errors import InvalidOptionError, UnknownNameError
from mmtok.sequence.rope import CONVENTIONS, RopeSpec, rope_index
from reference_models import MERGE, tiny_text

torch = pytest.importorskip("torch")

IMG, VID, VSTART, VEND, PAD = 151655, 151656, 151652, 151653, 151643
STYLES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl")


@pytest.fixture(scope="module")
def models():
    """One tiny reference model per style (random weights; get_rope_index only reads the config)."""
    from reference_models import tiny_qwen_models

    return tiny_qwen_models()


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


def ours(style, ids, mask=None, images=None, videos=None, spg=None, convention="transformers", tps=2):
    return rope_index(RopeSpec(style, spatial_merge_size=MERGE, tokens_per_second=tps), np.asarray(ids),
                      image_grid_thw=images or None, video_grid_thw=videos or None,
                      attention_mask=None if mask is None else np.asarray(mask), second_per_grid_ts=spg,
                      convention=convention)


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
    # The original Qwen code's expression as it ran: an int64 arange times a float32 scalar (or a Python
    # float: the same) is a float32 product; 4.57.1 cast second_per_grid_t to int64 first.
    spg32 = torch.tensor([spg])[0]
    original = (torch.arange(t) * spg32 * 2).long().numpy()
    assert np.array_equal(original, (torch.arange(t) * spg * 2).long().numpy())
    truncated = (torch.arange(t) * torch.as_tensor(spg32, dtype=torch.long) * 2).numpy()
    for convention, expected in (("qwen", original), ("transformers-4.57", truncated)):
        got, _ = ours("qwen2.5-vl", ids, None, None, [[t, 2, 2]], [spg], convention=convention)
        np.testing.assert_array_equal(got[0, 0, start:start + t] - start, expected)
    # With tokens_per_second = 2 the original order equals 5.23.0's bit for bit, even at ti = 45 for 0.7,
    # where a float64 product (62.99999999999999) would give 62 instead of 63.
    np.testing.assert_array_equal(original, temporal)
    assert spg != 0.7 or (temporal[45] == 63 and int(45 * 0.7 * 2) == 62)


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
    with pytest.raises(InvalidOptionError, match="convention"):
        rope_index(spec, ids, image_grid_thw=[[1, 2, 6]], convention="float")
    with pytest.raises(InvalidOptionError, match="second_per_grid_ts has 1"):
        rope_index(RopeSpec("qwen2.5-vl"), [VID, 1, VID], video_grid_thw=[[1, 2, 2], [1, 2, 2]],
                   second_per_grid_ts=[1.0])
    with pytest.raises(InvalidOptionError, match="no real tokens"):
        rope_index(spec, [[1, 2]], attention_mask=[[0, 0]])


# --- the 4.x conventions ("qwen", "transformers-4.57") ----------------------------------------------


@pytest.fixture(scope="module")
def omni():
    """get_rope_index of a tiny Qwen2.5-Omni thinker (transformers 5.23.0), per position_id_per_seconds.

    It keeps the 4.x algorithm: blocks found from <|vision_start|> + pad, text resuming at 1 + the block's
    max over all rows, padding 1, video temporal offsets (arange(T) * second_per_grid.float() * pps).long().
    """
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerModel

    cache = {}

    def positions(pps, ids, mask=None, images=None, videos=None, spg=None):
        if pps not in cache:
            cache[pps] = Qwen2_5OmniThinkerModel(Qwen2_5OmniThinkerConfig(
                audio_config=dict(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=16,
                                  output_dim=16, num_mel_bins=8),
                vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                                   fullatt_block_indexes=[0], spatial_merge_size=MERGE),
                text_config=tiny_text(vocab_size=1000, rope_parameters={"rope_type": "default",
                                                                         "mrope_section": [2, 1, 1]}),
                position_id_per_seconds=pps, vision_start_token_id=VSTART))
        videos = videos or []
        with torch.no_grad():
            pos, _ = cache[pps].get_rope_index(
                torch.tensor(ids, dtype=torch.long),
                torch.tensor(images, dtype=torch.long) if images else None,
                torch.tensor(videos, dtype=torch.long) if videos else None,
                None if mask is None else torch.tensor(mask, dtype=torch.long),
                second_per_grids=torch.tensor([1.0] * len(videos) if spg is None else spg, dtype=torch.float32))
        return pos.numpy()

    return positions


def omni_like(omni, style, ids, mask, images, videos, spg, convention="qwen"):
    """The Omni thinker set up as `style`: Qwen3-VL videos split per temporal group, Qwen2-VL/Qwen3-VL
    temporal offsets ti (pps 1, one second per grid), Qwen2.5-VL ti * spg * 2 (4.57: int(spg))."""
    if style == "qwen3-vl":
        videos = [[1, h, w] for t, h, w in videos for _ in range(t)]
    if style != "qwen2.5-vl":
        return omni(1, ids, mask, images, videos, None)
    if spg is not None and convention == "transformers-4.57":
        spg = [float(int(np.float32(v))) for v in spg]
    return omni(2, ids, mask, images, videos, spg)


def check_4x_rules(ids, mask, pos, deltas, grids=True):
    """What the 4.x code says, checked by hand: padding positions are 1; text is the same on the three
    rows and goes up by one per token; a block starts one after the text before it; the token after a
    block sits at 1 + the block's largest position over all three rows; rope_delta = max + 1 - L (the
    max over real tokens, or, in the text-only branch taken without grids, over the padded row)."""
    ids = np.asarray(ids)
    L = ids.shape[1]
    for b in range(ids.shape[0]):
        keep = np.ones(L, bool) if mask is None else np.asarray(mask[b], bool)
        assert (pos[:, b, ~keep] == 1).all()
        toks, p = ids[b][keep], pos[:, b, keep]
        assert deltas[b, 0] == (p.max() if grids else pos[:, b].max()) + 1 - L
        is_pad = np.isin(toks, [IMG, VID])
        run_start = 0
        for j in range(toks.shape[0]):
            if is_pad[j]:
                if j == 0 or not is_pad[j - 1]:
                    run_start = j
                    assert (p[:, j] == (p[0, j - 1] + 1 if j else 0)).all()
                continue
            assert p[0, j] == p[1, j] == p[2, j]
            if j == 0:
                assert p[0, j] == 0
            elif is_pad[j - 1]:
                assert p[0, j] == p[:, run_start:j].max() + 1
            else:
                assert p[0, j] == p[0, j - 1] + 1


QWEN_CASES = [(style, padding, seed) for style in STYLES for padding in ("left", "right", "none") for seed in range(8)]


@pytest.mark.parametrize("style,padding,seed", QWEN_CASES)
def test_qwen_convention_random_batches(omni, style, padding, seed):
    rng = random.Random(f"qwen-{style}-{padding}-{seed}")
    ids, mask, images, videos, spg = build_batch(rng, style, rng.randint(1, 4), padding)
    spg = spg if style == "qwen2.5-vl" and rng.random() < 0.8 else None
    conventions = ("qwen", "transformers-4.57") if style == "qwen2.5-vl" else ("qwen",)
    for convention in conventions:
        pos, deltas = ours(style, ids, mask, images, videos, spg, convention=convention)
        assert pos.dtype == np.int64 and deltas.dtype == np.int64
        check_4x_rules(ids, mask, pos, deltas, grids=bool(images or videos))
        if images or videos:  # the thinker's text-only branch needs a mask; it is checked below
            np.testing.assert_array_equal(pos, omni_like(omni, style, ids, mask, images, videos, spg, convention))


def test_qwen_convention_published_vector():
    """research qwen.md §4.2, validated there against transformers 4.57.1 (`get_rope_index` run)."""
    ids = [[101, 102, 103, VSTART] + [IMG] * 6 + [VEND, 104, 105, VSTART] + [VID] * 12 + [VEND, 106]]
    grids = dict(images=[[1, 4, 6]], videos=[[3, 4, 4]])
    qwen2 = [
        [0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 7, 8, 9, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 15],
        [0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 7, 8, 9, 10, 11, 11, 12, 12, 11, 11, 12, 12, 11, 11, 12, 12, 14, 15],
        [0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 11, 12, 11, 12, 11, 12, 11, 12, 11, 12, 11, 12, 14, 15],
    ]
    for convention in ("qwen", "transformers-4.57"):
        pos, deltas = ours("qwen2-vl", ids, **grids, convention=convention)
        np.testing.assert_array_equal(pos[:, 0], qwen2)
        assert deltas.tolist() == [[-12]]
        # Qwen2.5-VL, second_per_grid_ts [1.0], tokens_per_second 2: "t: ... 10 11 11 11 11 13 13 13 13
        # 15 15 15 15 16 17 (h, w as above, trailing 16 17)", rope_delta -10
        pos, deltas = ours("qwen2.5-vl", ids, **grids, spg=[1.0], convention=convention)
        t_tail = [10] + [11] * 4 + [13] * 4 + [15] * 4 + [16, 17]
        np.testing.assert_array_equal(pos[0, 0], qwen2[0][:13] + t_tail)
        np.testing.assert_array_equal(pos[1:, 0, :26], np.asarray(qwen2)[1:, :26])
        np.testing.assert_array_equal(pos[1:, 0, 26:], [[16, 17], [16, 17]])
        assert deltas.tolist() == [[-10]]
    # second_per_grid_ts [0.5] in 4.57.1 (the truncation bug): the video's t row is all 11, rope_delta -13
    pos, deltas = ours("qwen2.5-vl", ids, **grids, spg=[0.5], convention="transformers-4.57")
    assert (pos[0, 0, 14:26] == 11).all() and deltas.tolist() == [[-13]]
    # Qwen3-VL: the same image, the video as 3 groups `[200, 201] <vs> VID x4 <ve>`, length 37, delta -9.
    # The vector fixes one text token (104) between the image and the first group and one (106) at the end.
    ids3 = [[101, 102, 103, VSTART] + [IMG] * 6 + [VEND, 104]
            + sum(([200, 201, VSTART] + [VID] * 4 + [VEND] for _ in range(3)), []) + [106]]
    qwen3 = [
        [0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 7, 8, 9, 10, 11, 12, 12, 12, 12, 14, 15, 16, 17, 18, 18, 18, 18, 20, 21,
         22, 23, 24, 24, 24, 24, 26, 27],
        [0, 1, 2, 3, 4, 4, 4, 5, 5, 5, 7, 8, 9, 10, 11, 12, 12, 13, 13, 14, 15, 16, 17, 18, 18, 19, 19, 20, 21,
         22, 23, 24, 24, 25, 25, 26, 27],
        [0, 1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 18, 19, 18, 19, 20, 21,
         22, 23, 24, 25, 24, 25, 26, 27],
    ]
    assert len(ids3[0]) == 37
    for convention in CONVENTIONS:  # no padding and one temporal group per block: all three agree here
        pos, deltas = ours("qwen3-vl", ids3, **grids, convention=convention)
        np.testing.assert_array_equal(pos[:, 0], qwen3)
        assert deltas.tolist() == [[-9]]


def test_published_vector_under_transformers_5(models):
    """The same Qwen2-VL sequence under 5.23.0: its video has 3 groups of 2x2, and text after it resumes
    at block start + max(H, W) = 11 + 2, one before 4.x's 1 + max(13) = 14."""
    ids = [[101, 102, 103, VSTART] + [IMG] * 6 + [VEND, 104, 105, VSTART] + [VID] * 12 + [VEND, 106]]
    ref_pos, ref_deltas = reference(models["qwen2-vl"], ids, None, [[1, 4, 6]], [[3, 4, 4]])
    pos, deltas = ours("qwen2-vl", ids, images=[[1, 4, 6]], videos=[[3, 4, 4]])
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_array_equal(deltas, ref_deltas)
    qwen, _ = ours("qwen2-vl", ids, images=[[1, 4, 6]], videos=[[3, 4, 4]], convention="qwen")
    np.testing.assert_array_equal(pos[:, :, :26], qwen[:, :, :26])
    assert pos[:, 0, 26:].tolist() == [[13, 14]] * 3 and qwen[:, 0, 26:].tolist() == [[14, 15]] * 3


@pytest.mark.parametrize("style", ["qwen2-vl", "qwen2.5-vl"])
def test_long_video_conventions_differ(models, omni, style):
    """A video whose temporal extent (9 groups; Qwen2.5: offsets 0..16) exceeds its 2x3 merged grid: 5.23.0
    resumes text 3 after the block start, inside the video's temporal row; 4.x resumes after all of it."""
    videos, spg = [[9, 4, 6]], ([1.0] if style == "qwen2.5-vl" else None)
    ids = [[1, 2, VSTART] + [VID] * 54 + [VEND, 3]]
    hf, hf_deltas = ours(style, ids, videos=videos, spg=spg)
    qwen, qwen_deltas = ours(style, ids, videos=videos, spg=spg, convention="qwen")
    np.testing.assert_array_equal(hf, reference(models[style], ids, None, None, videos, spg)[0])
    np.testing.assert_array_equal(qwen, omni_like(omni, style, ids, None, None, videos, spg))
    np.testing.assert_array_equal(hf[:, :, :57], qwen[:, :, :57])  # the same up to the video's last token
    start, last_t = 3, hf[0, 0, 3:57].max()
    assert last_t == start + (16 if style == "qwen2.5-vl" else 8)
    assert hf[:, 0, 57].tolist() == [start + 3] * 3
    assert set(hf[0, 0, 57:59].tolist()) & set(hf[0, 0, 3:57].tolist())  # text reuses video temporal positions
    assert qwen[:, 0, 57].tolist() == [last_t + 1] * 3
    assert hf_deltas[0, 0] == last_t + 1 - 59 and qwen_deltas[0, 0] == last_t + 3 - 59


def _image_row(rng, images):
    row = _text(rng, 1, 6)
    for _ in range(rng.randint(1, 3)):
        grid = _grid(rng, 1)
        images.append(grid)
        row += [VSTART] + [IMG] * (grid[1] * grid[2] // MERGE**2) + [VEND] + _text(rng, 0, 5)
    return row


@pytest.mark.parametrize("style", STYLES)
def test_conventions_agree_on_unpadded_images(style):
    """Single image rows without padding: text after an image (t = 1) resumes at start + max(H, W) in both
    algorithms, and without padding L is the real token count, so all conventions agree. With padding
    they still agree on real tokens, but pad with 0 vs 1 and subtract n vs L in rope_deltas."""
    rng = random.Random(style)
    for _ in range(15):
        images = []
        row = _image_row(rng, images)
        outs = [ours(style, [row], images=images, convention=c) for c in CONVENTIONS]
        for pos, deltas in outs[1:]:
            np.testing.assert_array_equal(pos, outs[0][0])
            np.testing.assert_array_equal(deltas, outs[0][1])
        ids, mask = [[PAD] * 3 + row], [[0] * 3 + [1] * len(row)]
        (hf, hf_d), (qwen, qwen_d) = (ours(style, ids, mask, images, convention=c) for c in ("transformers", "qwen"))
        np.testing.assert_array_equal(hf[:, :, 3:], qwen[:, :, 3:])
        assert (hf[:, :, :3] == 0).all() and (qwen[:, :, :3] == 1).all() and qwen_d[0, 0] == hf_d[0, 0] - 3
    # the agreement needs t = 1: a 2-frame "image" grid has temporal offsets 0, 1 (Qwen2-VL, 5.x) but 0, 0 in
    # 4.x Qwen2.5-VL (second_per_grid_t = 0 for images)
    ids = [[VSTART] + [IMG] * 2 + [VEND]]
    hf, _ = ours("qwen2.5-vl", ids, images=[[2, 2, 2]])
    qwen, _ = ours("qwen2.5-vl", ids, images=[[2, 2, 2]], convention="qwen")
    assert hf[0, 0, 1:3].tolist() == [1, 2] and qwen[0, 0, 1:3].tolist() == [1, 1]


def test_qwen3_conventions_differ_only_in_padding():
    """Qwen3-VL blocks all have one temporal group, so max over the rows is max(H, W) in both algorithms."""
    for seed in range(10):
        rng = random.Random(f"qwen3-{seed}")
        ids, mask, images, videos, _ = build_batch(rng, "qwen3-vl", rng.randint(1, 3), "left")
        hf, hf_d = ours("qwen3-vl", ids, mask, images, videos)
        qwen, qwen_d = ours("qwen3-vl", ids, mask, images, videos, convention="qwen")
        keep = np.asarray(mask, bool)
        np.testing.assert_array_equal(hf[:, keep], qwen[:, keep])
        assert (hf[:, ~keep] == 0).all() and (qwen[:, ~keep] == 1).all()
        np.testing.assert_array_equal(qwen_d[:, 0], hf_d[:, 0] - (~keep).sum(axis=1))


def test_qwen25_temporal_order_with_tokens_per_second_25(omni):
    """(ti * spg) * tps (the original code, "qwen") and ti * (tps * spg) (5.23.0) are both float32; they
    differ when tps is not a power of 2: tps 25, spg 0.7, ti 6 gives 104 vs 105."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLModel

    model = Qwen2_5_VLModel(Qwen2_5_VLConfig(
        text_config=tiny_text(rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                           fullatt_block_indexes=[0], spatial_merge_size=MERGE, tokens_per_second=25)))
    t = 13
    ids = [[7, VSTART] + [VID] * t + [VEND, 8]]
    hf, _ = ours("qwen2.5-vl", ids, videos=[[t, 2, 2]], spg=[0.7], tps=25)
    qwen, _ = ours("qwen2.5-vl", ids, videos=[[t, 2, 2]], spg=[0.7], tps=25, convention="qwen")
    np.testing.assert_array_equal(hf, reference(model, ids, None, None, [[t, 2, 2]], [0.7])[0])
    np.testing.assert_array_equal(qwen, omni(25, ids, None, None, [[t, 2, 2]], [0.7]))
    assert qwen[0, 0, 2 + 6] - 2 == 104 and hf[0, 0, 2 + 6] - 2 == 105


def test_qwen_convention_text_only():
    """Without grids 4.x takes its text branch: cumsum(mask) - 1, padding 1, delta = max over the padded
    row (padding's 1s included) + 1 - L; with grids, a text-only row's max runs over its real tokens."""
    ids = [[PAD, PAD, PAD, 5], [PAD, 5, 6, 7], [4, 5, 6, 7]]
    mask = torch.tensor([[0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1]])
    expected = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)  # the 4.x statement, run
    for style in STYLES:
        pos, deltas = ours(style, ids, mask.numpy(), convention="qwen")
        np.testing.assert_array_equal(pos, expected.expand(3, -1, -1).numpy())
        assert deltas[:, 0].tolist() == (expected.max(-1).values + 1 - 4).tolist() == [-2, -1, 0]
    # the same batch plus an image row, so that the grid branch runs: the first row's delta is 0 + 1 - 4
    ids_img, mask_img = ids + [[VSTART, IMG, IMG, VEND]], np.vstack([mask.numpy(), [[1, 1, 1, 1]]])
    pos, deltas = ours("qwen2-vl", ids_img, mask_img, images=[[1, 2, 4]], convention="qwen")
    assert deltas[:, 0].tolist() == [-3, -1, 0, 0]  # image row: vs 0, pads 1 and (1, 2), ve 3


def test_qwen_convention_errors():
    spec = RopeSpec("qwen2-vl")
    no_start = [1, IMG, IMG, VEND]  # 5.23.0 reads the pads as an image; 4.x found no block and made them text
    rope_index(spec, no_start, image_grid_thw=[[1, 2, 4]])
    with pytest.raises(InvalidOptionError, match=re.escape("no <|vision_start|> leads")):
        rope_index(spec, no_start, image_grid_thw=[[1, 2, 4]], convention="qwen")
    with pytest.raises(InvalidOptionError, match="needs 2"):
        rope_index(spec, [VSTART, IMG, IMG, IMG, VEND], image_grid_thw=[[1, 2, 4]], convention="qwen")
    with pytest.raises(InvalidOptionError, match="more image runs"):
        rope_index(spec, [VSTART, IMG, IMG, VEND, VSTART, IMG, IMG], image_grid_thw=[[1, 2, 4]], convention="qwen")
    with pytest.raises(InvalidOptionError, match="no real tokens"):
        rope_index(spec, [[1, 2]], attention_mask=[[0, 0]], convention="qwen")
    # a <|vision_start|> cut off at the end of a row is text (4.x raised IndexError on it)
    pos, _ = rope_index(spec, [1, VSTART], convention="qwen", image_grid_thw=[[1, 2, 4]])
    assert pos[:, 0].tolist() == [[0, 1]] * 3
