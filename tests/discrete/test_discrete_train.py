"""Training: loss goes down, checkpoints round-trip, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skimage import data as skdata

from mmtok.discrete.checkpoint import load_model, read_metadata, save_model, train_state_path
from mmtok.discrete.data import CropSet, random_crops, to_tensor
from mmtok.discrete.models import build_model
from mmtok.discrete.train import TrainConfig, augmented, model_config, train
from mmtok.errors import InvalidOptionError

SMALL_CONV = {"channels": 16, "res_channels": 8, "res_blocks": 1, "dim": 8}
SMALL_TITOK = {"width": 32, "depth": 1, "heads": 2, "dim": 8}
VQ = {"codebook_size": 32, "ema": True, "kmeans_init": True, "dead_code_threshold": 1.0}


@pytest.fixture(scope="module")
def crops():
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]
    return CropSet(train=random_crops(photos, 256, 16, seed=0), test=random_crops([skdata.rocket()], 16, 16, seed=1))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def conv_cfg(**kw):
    base = dict(arch="vqvae", size=16, tokens=16, quantizer_options=dict(VQ), model_options=dict(SMALL_CONV), batch_size=16, warmup_steps=2)
    return TrainConfig(**{**base, **kw})


def _mse(model, images):
    model.eval()
    with torch.no_grad():
        x = to_tensor(images)
        return float(((model(x).reconstruction - x) ** 2).mean())


def test_training_reduces_the_reconstruction_error_on_a_fixed_batch(tmp_path):
    fixed = random_crops([skdata.astronaut()], 16, 16, seed=7)
    cfg = conv_cfg(steps=60, batch_size=16, lr=3e-3)
    torch.manual_seed(cfg.seed)
    before = _mse(build_model(model_config(cfg)), fixed)  # train() starts from exactly this initialisation
    result = train(cfg, str(tmp_path / "t.safetensors"), data=CropSet(train=fixed, test=fixed))
    after = _mse(load_model(result.path), fixed)
    assert result.step == 60
    assert after < 0.5 * before


def test_tokens_set_the_downsampling_factor():
    assert model_config(conv_cfg(tokens=16))["factor"] == 4
    assert model_config(conv_cfg(tokens=4))["factor"] == 8
    with pytest.raises(InvalidOptionError, match="--tokens 10"):
        model_config(conv_cfg(tokens=10))
    assert model_config(TrainConfig(arch="titok", tokens=48))["tokens"] == 48


@pytest.mark.parametrize("arch", ["vqvae", "titok"])
def test_checkpoint_save_load_gives_identical_outputs(arch, tmp_path, crops):
    torch.manual_seed(1)
    if arch == "vqvae":
        config = {"arch": "vqvae", "size": 16, "factor": 4, **SMALL_CONV, "quantizer": {"name": "vq", **VQ}}
    else:
        config = {"arch": "titok", "size": 16, "tokens": 8, **SMALL_TITOK, "quantizer": {"name": "fsq", "levels": [5, 4, 3]}}
    model = build_model(config)
    model.train()
    model(to_tensor(crops.train[:32]))  # k-means init + EMA updates move the codebook buffers off their init
    model.eval()
    path = str(tmp_path / "m.safetensors")
    save_model(model, path, step=7)
    loaded = load_model(path)
    x = to_tensor(crops.test)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), model.encode(x))
        assert torch.equal(loaded(x).reconstruction, model(x).reconstruction)
    assert read_metadata(path) == {"config": model.config, "step": 7}
    with open(path, "rb") as f:  # the file is plain safetensors: 8-byte header length + JSON header
        n = int.from_bytes(f.read(8), "little")
        assert f.read(n).startswith(b"{")


@pytest.mark.parametrize(
    "cfg",
    [
        conv_cfg(steps=12, augment=True),
        conv_cfg(steps=10, gan_weight=0.1, gan_start=3),
        TrainConfig(arch="titok", size=16, tokens=8, model_options=dict(SMALL_TITOK), quantizer_options=dict(VQ), batch_size=8, steps=8, warmup_steps=2),
    ],
    ids=["vqvae-ema-kmeans-restarts-augment", "vqgan-hinge", "titok"],
)
def test_resumed_run_equals_uninterrupted_run(cfg, tmp_path, crops):
    whole = train(cfg, str(tmp_path / "whole.safetensors"), data=crops)
    part = str(tmp_path / "part.safetensors")
    first = train(cfg, part, data=crops, stop_after=cfg.steps // 2 - 1)
    assert first.stopped == "stop_after" and first.step == cfg.steps // 2 - 1
    assert read_metadata(part)["step"] == first.step
    second = train(cfg, part, data=crops, resume=True)
    assert second.resumed_from == first.step and second.step == whole.step == cfg.steps
    a, b = load_model(whole.path).state_dict(), load_model(part).state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    from safetensors.torch import load_file

    sa, sb = load_file(train_state_path(whole.path)), load_file(train_state_path(part))
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_refuses_other_options_and_new_runs_refuse_to_overwrite(tmp_path, crops):
    out = str(tmp_path / "r.safetensors")
    train(conv_cfg(steps=2), out, data=crops)
    with pytest.raises(InvalidOptionError, match="exists; pass --resume"):
        train(conv_cfg(steps=4), out, data=crops)
    with pytest.raises(InvalidOptionError, match="tokens"):
        train(conv_cfg(steps=4, tokens=4), out, data=crops, resume=True)
    with pytest.raises(InvalidOptionError, match="budget"):
        train(conv_cfg(), str(tmp_path / "none.safetensors"), data=crops)


def test_foreign_files_are_not_checkpoints(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidOptionError, match="not a safetensors checkpoint"):
        load_model(str(bad))
    with pytest.raises(InvalidOptionError, match="no such checkpoint"):
        load_model(str(tmp_path / "missing.safetensors"))
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InvalidOptionError, match="not an mmtok discrete tokenizer checkpoint"):
        load_model(str(tmp_path / "other.safetensors"))


def test_augmentation_is_seeded_and_rotates_flips_and_recolours_whole_crops(crops):
    from mmtok.discrete.data import colour_jitter, rotate_flip

    batch = crops.train[:64].copy()
    out = augmented(batch, np.random.default_rng(0))
    assert out.shape == batch.shape and out.dtype == np.uint8 and np.array_equal(batch, crops.train[:64])
    assert np.array_equal(out, augmented(batch, np.random.default_rng(0)))  # same seed, same crops
    assert not np.array_equal(out, augmented(batch, np.random.default_rng(1)))
    turned = rotate_flip(batch, np.random.default_rng(0))
    seen = set()
    for original, new in zip(batch, turned):
        matches = [(k, f) for k in range(4) for f in (False, True)
                   if np.array_equal(np.rot90(original, k)[:, ::-1] if f else np.rot90(original, k), new)]
        assert matches, "each crop is its original rotated by k x 90 degrees and maybe mirrored"
        seen.add(matches[0])
    assert len(seen) >= 6
    gray = np.repeat(batch[..., :1], 3, axis=3)
    tinted = colour_jitter(gray, np.random.default_rng(0))
    assert (tinted[..., 0] != tinted[..., 1]).mean() > 0.5  # gray crops come out coloured
    # a colour transform is per crop: pixels equal in the input stay equal in the output
    flat = np.zeros_like(batch) + 128
    assert all(len(np.unique(c.reshape(-1, 3), axis=0)) == 1 for c in colour_jitter(flat, np.random.default_rng(0)))