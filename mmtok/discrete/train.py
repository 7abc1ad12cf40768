"""Training loop of the discrete image tokenizers: Adam on reconstruction + quantizer loss (+ optional
VQGAN hinge loss), within a time budget (--minutes) and/or a step budget (--steps).

Recipe: the CPU benchmark of the research brief (discrete.md A11: 32 x 32 crops, batch 64, Adam 2e-3,
f = 4, K = 256, EMA + k-means init + dead-code restarts), changed where 1-minute A/B runs on the
shared 2-core machine favoured it: a short linear warm-up and a cosine decay of the learning rate over
the budget (steps, or the fraction of the time budget used), batch 32 at 3e-3 (more, noisier steps)
and 16-dim codes (conv default; 32 in the brief).
Loss = MSE(x, x_hat) on images scaled to [-1, 1] (VQ-VAE, van den Oord et al. 2017) + the quantizer's
own auxiliary loss (commitment / codebook / entropy) + with `gan_weight > 0`, `gan_weight x
(-mean D(x_hat))` against a PatchGAN trained with the hinge loss (VQGAN, Esser et al. 2021), from
step `gan_start`.

With `augment` (on by default), training crops get a random colour transform (hue rotation,
saturation, per-channel gains, contrast, brightness) and one of the 8 rotations / mirrorings of the
square (data.augmented): the held-out photos have colours the training photos lack. With the extra
skimage images and 1/2-scale crops (data.py) it lifted held-out PSNR from 24.0 to 26.3 dB in the
2-minute benchmark (the earlier augmentation, a random RGB channel order + flip, cost 1.2 dB at 1
minute). Batches (and their augmentation) are drawn from a generator seeded with (seed, step), so a
run resumed from a checkpoint (model file + training-state side file, see checkpoint.py) sees the
same batches, optimizer state and RNG
state as an uninterrupted one: with one thread the weights come out identical.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import require_torch
from ..errors import InvalidOptionError
from .data import augmented  # noqa: F401  (re-exported: the training augmentation)

__all__ = ["TrainConfig", "TrainResult", "model_config", "train"]


@dataclass
class TrainConfig:
    arch: str = "vqvae"
    size: int = 32
    tokens: int = 64  #: vqvae: ids per image, a square (size / factor)^2; titok: K
    quantizer: str = "vq"
    quantizer_options: dict = field(default_factory=lambda: {"codebook_size": 256})
    model_options: dict = field(default_factory=dict)  #: e.g. channels, dim, width, depth
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50
    min_lr_fraction: float = 0.05  #: the cosine decay ends at lr x this
    minutes: float | None = None
    steps: int | None = None
    seed: int = 0
    gan_weight: float = 0.0
    gan_start: int = 0
    augment: bool = True  #: colour jitter (hue, saturation, gains, contrast, brightness) + rotations / flips
    source: str = "photos"  #: "photos" or a folder of images
    n_train: int = 20000
    checkpoint_seconds: float = 60.0

    def check(self) -> None:
        if self.minutes is None and self.steps is None:
            raise InvalidOptionError("training needs a budget: pass --minutes N and/or --steps N")
        if (self.minutes is not None and self.minutes <= 0) or (self.steps is not None and self.steps <= 0):
            raise InvalidOptionError(f"--minutes ({self.minutes}) and --steps ({self.steps}) must be positive")
        if self.batch_size < 1 or self.lr <= 0:
            raise InvalidOptionError(f"--batch-size ({self.batch_size}) and --lr ({self.lr}) must be positive")


@dataclass
class TrainResult:
    path: str
    step: int
    elapsed: float
    loss: float
    reconstruction_loss: float
    resumed_from: int = 0
    stopped: str = "budget"  #: "budget" (steps or minutes used up) or "stop_after"


def model_config(cfg: TrainConfig) -> dict:
    """The model config a TrainConfig asks for (tokens -> downsampling factor for the conv model)."""
    from .models import canonical_arch

    arch = canonical_arch(cfg.arch)
    quantizer = {"name": cfg.quantizer, **cfg.quantizer_options}
    config = {"arch": arch, "size": int(cfg.size), **cfg.model_options, "quantizer": quantizer}
    if arch == "vqvae":
        side = math.isqrt(int(cfg.tokens))
        factor = cfg.size // side if side else 0
        if side * side != cfg.tokens or side * factor != cfg.size or factor < 2 or factor & (factor - 1):
            raise InvalidOptionError(
                f"--tokens {cfg.tokens} at --size {cfg.size}: the conv tokenizer makes a (size / f) x (size / f) grid "
                f"with f a power of 2; pass e.g. --tokens {(cfg.size // 4) ** 2} (f = 4) or {(cfg.size // 8) ** 2} (f = 8)"
            )
        config["factor"] = factor
    else:
        config["tokens"] = int(cfg.tokens)
    return config


def learning_rate(cfg: TrainConfig, step: int, elapsed: float) -> float:
    """Linear warm-up, then cosine decay over the step budget (or the time budget if no step budget)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.steps is not None:
        done = step / cfg.steps
    else:
        done = elapsed / (60.0 * cfg.minutes)
    done = min(max(done, 0.0), 1.0)
    low = cfg.lr * cfg.min_lr_fraction
    return low + (cfg.lr - low) * 0.5 * (1 + math.cos(math.pi * done))


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, cfg: TrainConfig, enabled: bool | None = None):
        self.cfg = cfg
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0

    def update(self, step: int, elapsed: float, loss: float, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.5 and not force):
            return
        self.last = now
        fractions = []
        if self.cfg.steps:
            fractions.append(step / self.cfg.steps)
        if self.cfg.minutes:
            fractions.append(elapsed / (60 * self.cfg.minutes))
        done = min(1.0, max(fractions))
        bar = "#" * int(30 * done)
        psnr = 10 * math.log10(4 / loss) if loss > 0 else float("inf")  # loss is the MSE in [-1, 1]
        sys.stderr.write(f"\r[{bar:<30}] {100 * done:3.0f}%  step {step:,}  mse {loss:.4f} (~{psnr:.1f} dB)  {elapsed:.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _hinge_d_loss(real_logits, fake_logits):
    torch = require_torch()
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


def train(
    cfg: TrainConfig,
    out: str,
    *,
    data=None,
    resume: bool = False,
    stop_after: int | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    log=None,
    build=None,
) -> TrainResult:
    """Trains (or, with `resume`, continues) a tokenizer and writes its checkpoint to `out`.

    `data`: a CropSet (default: load_crops(cfg.source, ...)). `stop_after`: stop (with a checkpoint)
    after this many steps of this call, as an interruption would. `log(message)` receives notes.
    `build(model_config) -> model` replaces build_model (e.g. to try a quantizer from another library)."""
    torch = require_torch()
    import torch.nn.functional as F

    from .checkpoint import load_train_state, save_model, save_train_state, train_state_path
    from .data import load_crops, to_tensor
    from .models import build_model

    cfg.check()
    if threads:
        torch.set_num_threads(int(threads))
    log = log or (lambda message: None)
    torch.manual_seed(cfg.seed)
    model = (build or build_model)(model_config(cfg))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    disc = disc_opt = None
    if cfg.gan_weight > 0:
        from .models.conv import PatchDiscriminator

        disc = PatchDiscriminator()
        disc_opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9))
    step, elapsed_before = 0, 0.0
    if resume and os.path.isfile(out):
        import json

        from safetensors.torch import load_file

        from .checkpoint import read_metadata, read_train_metadata

        side = read_train_metadata(out)
        saved = json.loads(side["train_config"])
        if int(side["step"]) != read_metadata(out)["step"]:  # interrupted between writing the two files
            raise InvalidOptionError(
                f"{out} (step {read_metadata(out)['step']:,}) and its training state (step {int(side['step']):,}) disagree; "
                "the run was stopped while saving: start a new run"
            )
        for key in ("arch", "size", "tokens", "quantizer", "quantizer_options", "model_options", "seed", "source", "gan_weight"):
            if saved.get(key) != asdict(cfg).get(key):
                raise InvalidOptionError(
                    f"{out}: cannot resume with {key}={asdict(cfg).get(key)!r}: the run was started with {saved.get(key)!r}; "
                    "pass the same options, or a new --out"
                )
        model.load_state_dict(load_file(out))
        state = load_train_state(out, optimizer=optimizer, discriminator=disc, disc_optimizer=disc_opt)
        step, elapsed_before = state["step"], state["elapsed"]
        log(f"resuming {out} at step {step:,} ({elapsed_before:.0f}s trained)")
    elif os.path.isfile(out) and not resume:
        raise InvalidOptionError(f"{out} exists; pass --resume to continue that run, or another --out (or delete it)")
    resumed_from = step
    data = data if data is not None else load_crops(cfg.source, cfg.size, cfg.n_train, 1, cfg.seed)
    train_images = data.train
    bar = Progress(cfg, progress)

    def checkpoint() -> None:
        save_model(model, out, step)
        save_train_state(out, step=step, elapsed=elapsed, train_config=asdict(cfg), optimizer=optimizer, discriminator=disc, disc_optimizer=disc_opt)

    def budget_left() -> bool:
        if cfg.steps is not None and step >= cfg.steps:
            return False
        return cfg.minutes is None or elapsed < 60.0 * cfg.minutes

    start = time.monotonic()
    elapsed = elapsed_before
    last_save, loss_value, rec_value, stopped = start, float("nan"), float("nan"), "budget"
    model.train()
    try:
        while budget_left():
            if stop_after is not None and step - resumed_from >= stop_after:
                stopped = "stop_after"
                break
            rng = np.random.default_rng([cfg.seed, step])
            batch = train_images[rng.integers(0, len(train_images), cfg.batch_size)]
            x = to_tensor(augmented(batch, rng) if cfg.augment else batch)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(cfg, step, elapsed)
            result = model(x)
            rec = F.mse_loss(result.reconstruction * 2 - 1, x * 2 - 1)
            loss = rec + result.quantizer_loss
            use_gan = disc is not None and step >= cfg.gan_start
            if use_gan:
                loss = loss + cfg.gan_weight * (-disc(result.reconstruction).mean())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if use_gan:
                disc_opt.zero_grad(set_to_none=True)
                d_loss = _hinge_d_loss(disc(x), disc(result.reconstruction.detach()))
                d_loss.backward()
                disc_opt.step()
            step += 1
            loss_value, rec_value = loss.item(), rec.item()
            if not math.isfinite(loss_value):
                raise InvalidOptionError(f"training diverged at step {step:,} (loss {loss_value}); lower --lr")
            now = time.monotonic()
            elapsed = elapsed_before + now - start
            bar.update(step, elapsed, rec_value)
            if now - last_save >= cfg.checkpoint_seconds:
                checkpoint()
                last_save = now
    except KeyboardInterrupt:
        bar.close()
        checkpoint()
        log(f"interrupted at step {step:,}; checkpoint saved to {out} (and {train_state_path(out)}); continue with --resume")
        raise
    bar.update(step, elapsed, rec_value, force=True)
    bar.close()
    checkpoint()
    return TrainResult(out, step, elapsed, loss_value, rec_value, resumed_from, stopped)
