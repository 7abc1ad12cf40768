"""Dynamic token selection (mmtok.discrete.dynamic): identities only, no quality thresholds.

Checked: keeping every token reproduces model.decode exactly; k = ceil(keep_ratio x N) tokens are kept
(computed exactly with fractions); the kept tokens are the top-k scores; the pixel proxies rank a flat
patch below a textured one on a constructed image (hand-derivable: a flat patch has zero variance and
zero gradient); the mask vector is the count-weighted mean of the codebook rows. The tokenizer is
trained for 40 steps on real photo crops (about a second) so that its ids differ between patches.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skimage import data as skdata

from mmtok.discrete.checkpoint import load_model
from mmtok.discrete.data import CropSet, random_crops, to_tensor
from mmtok.discrete.dynamic import (
    decode_kept, drop_error_scores, keep_ratio_curve, kept_count, mask_vector, pixel_scores, select, select_tokens,
    token_scores, train_fill, train_scorer,
)
from mmtok.discrete.models import build_model
from mmtok.discrete.train import TrainConfig, train
from mmtok.errors import InvalidOptionError

SMALL = {"channels": 16, "res_channels": 8, "res_blocks": 1, "dim": 8}


@pytest.fixture(scope="module")
def crops():
    return random_crops([skdata.astronaut(), skdata.coffee(), skdata.chelsea()], 6, 32, seed=11)


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    train_crops = random_crops([skdata.astronaut(), skdata.coffee()], 256, 32, seed=0)
    cfg = TrainConfig(steps=40, batch_size=32, warmup_steps=5, quantizer_options={"codebook_size": 64}, model_options=SMALL)
    path = str(tmp_path_factory.mktemp("dyn") / "conv.safetensors")
    train(cfg, path, data=CropSet(train=train_crops, test=train_crops[:4]), threads=1)
    return load_model(path)


@pytest.fixture(scope="module")
def titok():
    torch.manual_seed(0)
    return build_model({"arch": "titok", "size": 32, "width": 32, "depth": 1, "heads": 2, "dim": 8, "tokens": 16,
                        "quantizer": {"name": "vq", "codebook_size": 64}}).eval()


@pytest.mark.parametrize("which", ["conv", "titok"])
def test_keeping_every_token_reproduces_the_full_reconstruction(which, conv, titok, crops):
    model = conv if which == "conv" else titok
    x = to_tensor(crops)
    with torch.no_grad():
        ids = model.encode(x)
        full = model.decode(ids)
    fill = mask_vector(model, ids)
    scores = drop_error_scores(model, ids, fill) if which == "titok" else pixel_scores(x, model.token_shape)
    keep = select(scores, 1.0)
    assert bool(keep.all())
    assert torch.equal(decode_kept(model, ids, keep, fill), full)
    rows = keep_ratio_curve(model, crops, [1.0], "drop_error")
    assert rows[0]["kept"] == model.tokens and rows[0]["saved"] == 0


@pytest.mark.parametrize("ratio", [1 / 64, 0.1, 0.25, 0.3, 0.5, 0.7, 0.75, 0.99, 1.0])
def test_kept_count_is_the_ceiling_of_ratio_times_n(ratio, conv, crops):
    n = conv.tokens
    want = math.ceil(Fraction(str(ratio)) * n) if ratio != 1 / 64 else 1
    assert kept_count(ratio, n) == want
    sel = select_tokens(conv, crops, ratio, "gradient")
    assert sel.kept == want and sel.tokens == n
    assert sel.keep.reshape(len(crops), -1).sum(1).tolist() == [want] * len(crops)
    assert kept_count(0.3, 10) == 3  # 0.3 * 10 is 3.0000000000000004 in floating point


def test_selection_keeps_the_top_scores_and_their_ids(conv, crops):
    x = to_tensor(crops)
    scores = pixel_scores(x, conv.token_shape, "variance").reshape(len(crops), -1)
    sel = select_tokens(conv, crops, 0.25, "variance")
    keep = sel.keep.reshape(len(crops), -1)
    for b in range(len(crops)):
        assert scores[b][keep[b]].min() >= scores[b][~keep[b]].max()
        assert torch.equal(sel.positions[b], keep[b].nonzero().flatten())
        assert torch.equal(sel.kept_ids[b], sel.ids.reshape(len(crops), -1)[b][sel.positions[b]])


@pytest.mark.parametrize("proxy", ["variance", "gradient"])
def test_proxy_ranks_a_flat_patch_below_a_textured_one(proxy):
    image = np.full((32, 32, 3), 128, dtype=np.uint8)
    image[:, 16:] = (np.indices((32, 16)).sum(0) % 2 * 255)[:, :, None]  # right half: a 1-px checkerboard
    scores = pixel_scores(to_tensor(image[None]), (8, 8), proxy)[0]
    flat, textured = scores[:, :3], scores[:, 5:]  # columns 0-2 are gray; 4 borders the checkerboard (gradient)
    assert float(flat.max()) == 0.0 and float(textured.min()) > 0.0
    keep = select(scores[None], 0.5)[0]
    assert bool(keep[:, 4:].all()) and not bool(keep[:, :4].any())


def test_mask_vector_is_the_count_weighted_mean_code(conv, crops):
    with torch.no_grad():
        ids = conv.encode(to_tensor(crops))
        book = conv.quantizer.decode(torch.arange(conv.codebook_size))
    counts = torch.bincount(ids.flatten(), minlength=conv.codebook_size).to(book.dtype)
    assert torch.allclose(mask_vector(conv, ids), (counts[:, None] * book).sum(0) / counts.sum(), atol=1e-6)
    assert torch.allclose(mask_vector(conv), book.mean(0), atol=1e-6)


def test_drop_error_is_zero_where_the_code_equals_the_fill(conv, crops):
    with torch.no_grad():
        ids = conv.encode(to_tensor(crops))
    b = max(range(len(crops)), key=lambda i: len(ids[i].unique()))
    ids = ids[b : b + 1]
    assert len(ids.unique()) > 1  # the crop uses several codes
    fill = conv.quantizer.decode(ids[0, 0, 0])  # dropping token (0, 0) changes nothing: its code is the fill
    scores = drop_error_scores(conv, ids, fill)
    assert scores[0, 0, 0].item() <= 1e-12  # zero up to float rounding; other tokens change it by ~1e-3
    assert float(scores[ids == ids[0, 0, 0]].max()) <= 1e-12 < float(scores.max())
    distance = token_scores(conv, None, ids, "code_distance", fill=fill)  # ||code - fill||^2: zero exactly there
    assert torch.equal(distance == 0, ids == ids[0, 0, 0])


def test_learned_scorer_selects_the_requested_count(conv, crops):
    scorer = train_scorer(conv, crops, steps=10, batch_size=4)
    sel = select_tokens(conv, crops, 0.5, "learned", scorer=scorer)
    assert sel.kept == 32 and sel.kept_ids.shape == (len(crops), 32)


def test_bad_options_raise_typed_errors(conv, titok, crops):
    for ratio in (0, -0.5, 1.5, "half"):
        with pytest.raises(InvalidOptionError):
            kept_count(ratio, 64)
    with pytest.raises(InvalidOptionError):
        select_tokens(conv, crops, 0.5, "learned")  # no scorer
    with pytest.raises(InvalidOptionError):
        select_tokens(titok, crops, 0.5, "variance")  # 1-D tokens are not patches


def test_train_fill_tunes_a_copy_and_keeps_the_ids(conv, crops):
    before = {k: v.clone() for k, v in conv.state_dict().items()}
    tuned, fill = train_fill(conv, crops, steps=3, batch_size=4)
    assert all(torch.equal(before[k], v) for k, v in conv.state_dict().items())  # the original is untouched
    x = to_tensor(crops)
    with torch.no_grad():
        assert torch.equal(tuned.encode(x), conv.encode(x))  # encoder and codebook frozen: same ids
        changed = [k for k, v in tuned.state_dict().items() if not torch.equal(before[k], v)]
    assert changed and all(k.startswith("decoder.") for k in changed)
    assert fill.shape == (conv.quantizer.dim,)
