"""Dynamic token selection: keep only an image's most informative tokens, under a keep ratio.

After LaVIT's dynamic visual tokenizer (Jin et al., ICLR 2024, arXiv 2309.04669; jy0205/LaVIT
``DynamicVisualTokenizer`` / ``TokenPredictor``; research brief A7), scaled down and made explicit:

* Scores per token position come from a stated proxy:
  - ``"variance"``: the pixel variance inside the token's patch (mean over channels);
  - ``"gradient"``: the patch's mean gradient energy (squared forward differences, x and y);
  - ``"drop_error"``: the tokenizer's own answer — the mean squared change of the reconstruction when
    that one token is replaced by the mask code (one decode per token: an oracle, N times the cost);
  - ``"code_distance"``: the squared distance of the token's code vector from the mask vector (a
    one-pass latent proxy of drop_error: a token that already looks like the fill costs nothing);
  - ``"random"``: a seeded random order, the baseline any proxy must beat;
  - ``"learned"``: a `TokenScorer` (LaVIT's TokenPredictor shape: LayerNorm, Linear, GELU over each
    token's latent, concatenated with the image's mean latent, then an MLP -> one score) trained by
    `train_scorer` to predict log(drop_error) from the latents in one pass.
  The pixel proxies need a 2-D grid of tokens over square patches (the conv tokenizer).
* Selection: the top k = ceil(keep_ratio x N) scores per image (ties: lower position first;
  ``keep_ratio x N`` is rounded to 9 decimals first so 0.3 x 10 is 3, not 3.0000000000000004).
  LaVIT instead samples a keep/drop decision per token (Gumbel-softmax, hard) with a penalty pulling
  the mean kept fraction to a target, so its count varies per image; a fixed k keeps the trade-off
  curve exact and comparable. The tokenizer stays frozen (LaVIT's merger, which folds dropped tokens
  into kept ones by cross-attention, is not reproduced).
* Decoding: dropped positions get the mask vector, by default the usage-weighted mean code vector of
  a set of ids (`mask_vector`), and the tokenizer's decoder runs on the result. With every token kept
  this is exactly `model.decode(ids)`. A frozen decoder never saw a mask vector, so `train_fill`
  learns one and fine-tunes a copy of the decoder with random keep ratios (encoder and codebook
  frozen: the ids stay the same), the pixel-space counterpart of LaVIT training with dropped tokens.

`keep_ratio_curve` reports tokens kept / saved against PSNR and SSIM (metrics.py) per ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import require_torch
from ..errors import InvalidOptionError, UnknownNameError

torch = require_torch()

__all__ = [
    "PROXIES", "kept_count", "select", "pixel_scores", "mask_vector", "decode_kept", "drop_error_scores",
    "TokenScorer", "train_scorer", "train_fill", "token_scores", "Selection", "select_tokens", "keep_ratio_curve",
]

PROXIES = ("variance", "gradient", "code_distance", "drop_error", "random", "learned")


def kept_count(keep_ratio: float, n: int) -> int:
    """ceil(keep_ratio x n) for 0 < keep_ratio <= 1 (at least 1)."""
    if not isinstance(keep_ratio, (int, float)) or not 0 < keep_ratio <= 1:
        raise InvalidOptionError(f"keep_ratio {keep_ratio!r}: pass a fraction in (0, 1], e.g. 0.5 to keep half of the tokens")
    return max(1, math.ceil(round(keep_ratio * n, 9)))


def select(scores, keep_ratio: float):
    """Scores (B, *token_shape) -> bool keep mask of the same shape with kept_count() True per image."""
    scores = torch.as_tensor(scores)
    flat = scores.reshape(len(scores), -1).detach().double().cpu().numpy()
    k = kept_count(keep_ratio, flat.shape[1])
    order = np.argsort(-flat, axis=1, kind="stable")[:, :k]
    keep = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=1)
    return torch.from_numpy(keep).reshape(scores.shape)


def pixel_scores(images, grid: tuple[int, int], proxy: str = "variance"):
    """Pixel proxies per patch: images (B, 3, H, W) in [0, 1] -> scores (B, gh, gw)."""
    import torch.nn.functional as F

    x = torch.as_tensor(images).double()
    gh, gw = grid
    if x.ndim != 4 or x.shape[2] % gh or x.shape[3] % gw:
        raise InvalidOptionError(f"images {tuple(x.shape)}: pass (B, 3, H, W) with H, W multiples of the token grid {grid}")
    ph, pw = x.shape[2] // gh, x.shape[3] // gw
    if proxy == "variance":
        mean = F.avg_pool2d(x, (ph, pw))
        return (F.avg_pool2d(x * x, (ph, pw)) - mean * mean).clamp(min=0).mean(1)
    if proxy == "gradient":
        dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
        dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
        return F.avg_pool2d(dx * dx + dy * dy, (ph, pw)).mean(1)
    raise UnknownNameError("pixel proxy", proxy, ["variance", "gradient"])


def _codes(model, ids):
    return model.quantizer.decode(ids)  # (B, *token_shape, dim)


def mask_vector(model, ids=None):
    """The fill for dropped tokens: the mean code vector of `ids` (usage-weighted), or of the whole
    codebook when ids is None (not for residual VQ)."""
    with torch.no_grad():
        if ids is None:
            vectors = model.quantizer.decode(torch.arange(model.codebook_size))
        else:
            vectors = _codes(model, torch.as_tensor(ids))
        return vectors.reshape(-1, vectors.shape[-1]).mean(0)


def decode_kept(model, ids, keep, fill):
    """Images (B, 3, size, size) in [0, 1] decoded from ids with the dropped positions (keep False)
    set to the vector `fill` (dim,)."""
    ids, keep = torch.as_tensor(ids), torch.as_tensor(keep, dtype=torch.bool)
    with torch.no_grad():
        z = _codes(model, ids)
        if tuple(keep.shape) != tuple(z.shape[:-1]):
            raise InvalidOptionError(f"keep mask {tuple(keep.shape)} does not match the ids' token grid {tuple(z.shape[:-1])}")
        z = torch.where(keep[..., None], z, fill.to(z.dtype).expand_as(z))
        return (model.decode_latents(z) + 1) / 2


def drop_error_scores(model, ids, fill, batch_size: int = 256):
    """Per token: mean squared change of the reconstruction when only that token is dropped (B, *token_shape)."""
    ids = torch.as_tensor(ids)
    shape = tuple(ids.shape[1 : 1 + len(model.token_shape)])
    n = int(np.prod(shape))
    eye = ~torch.eye(n, dtype=torch.bool).reshape(n, *shape)
    out = torch.empty(len(ids), n, dtype=torch.float64)
    everything = torch.ones(1, *shape, dtype=torch.bool)
    with torch.no_grad():
        for b in range(len(ids)):
            for s in range(0, n, batch_size):
                masks = torch.cat([eye[s : s + batch_size], everything])  # the full decode in the same batch:
                rep = ids[b : b + 1].expand(len(masks), *ids.shape[1:])  # CPU kernels may round differently per batch size
                rec = decode_kept(model, rep, masks, fill)
                out[b, s : s + len(masks) - 1] = ((rec[:-1] - rec[-1:]) ** 2).flatten(1).mean(1).double()
    return out.reshape(len(ids), *shape)


class TokenScorer(torch.nn.Module):
    """LaVIT-TokenPredictor-shaped scorer over a tokenizer's latents (B, *token_shape, dim) -> (B, *token_shape)."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        nn = torch.nn
        self.local = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU())
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, latents):
        h = self.local(latents)
        dims = tuple(range(1, h.ndim - 1))
        context = h.mean(dim=dims, keepdim=True).expand_as(h)
        return self.head(torch.cat([h, context], dim=-1)).squeeze(-1)


def _latents(model, x):
    return model.encode_latents(model.check_images(x))


def train_scorer(model, images: np.ndarray, *, steps: int = 300, batch_size: int = 32, lr: float = 3e-3, seed: int = 0, fill=None) -> TokenScorer:
    """A TokenScorer fitted (MSE, Adam) to log(drop_error + 1e-8) of uint8 training crops (N, size, size, 3);
    the tokenizer is frozen. Targets are computed once (N x tokens decodes)."""
    from .data import to_tensor

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.eval()
    x = to_tensor(images)
    with torch.no_grad():
        latents = torch.cat([_latents(model, x[s : s + 256]) for s in range(0, len(x), 256)])
        ids = model.quantizer.encode(latents)
        fill = mask_vector(model, ids) if fill is None else fill
        target = torch.log(drop_error_scores(model, ids, fill).float() + 1e-8)
    scorer = TokenScorer(latents.shape[-1])
    opt = torch.optim.Adam(scorer.parameters(), lr=lr)
    for _ in range(steps):
        pick = torch.randint(0, len(x), (min(batch_size, len(x)),), generator=g)
        loss = torch.nn.functional.mse_loss(scorer(latents[pick]), target[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    scorer.final_loss = float(loss.detach())
    return scorer.eval()


def token_scores(model, x, ids, proxy: str, *, fill=None, scorer: TokenScorer | None = None, seed: int = 0):
    """Scores (B, *token_shape) of images x (B, 3, size, size) in [0, 1] with their ids, by `proxy`."""
    if proxy in ("variance", "gradient"):
        if len(model.token_shape) != 2:
            raise InvalidOptionError(f"the {proxy} proxy scores square patches; the {model.arch} tokenizer's tokens are not patches (use drop_error or learned)")
        return pixel_scores(x, model.token_shape, proxy)
    if proxy in ("drop_error", "code_distance"):
        fill = fill if fill is not None else mask_vector(model, ids)
        if proxy == "drop_error":
            return drop_error_scores(model, ids, fill)
        with torch.no_grad():
            return ((_codes(model, ids) - fill) ** 2).sum(-1)
    if proxy == "random":
        g = torch.Generator().manual_seed(seed)
        return torch.rand(tuple(ids.shape[: 1 + len(model.token_shape)]), generator=g)
    if proxy == "learned":
        if scorer is None:
            raise InvalidOptionError("proxy 'learned' needs scorer=train_scorer(model, training_crops)")
        with torch.no_grad():
            return scorer(_latents(model, x))
    raise UnknownNameError("token selection proxy", proxy, list(PROXIES))


def train_fill(model, images: np.ndarray, *, steps: int = 300, batch_size: int = 64, lr: float = 1e-3, min_keep: float = 0.125,
               proxy: str = "code_distance", full_fraction: float = 0.25, seed: int = 0):
    """A learned mask vector, and a copy of `model` whose decoder is fine-tuned to decode with dropped
    tokens: each step keeps every token (a `full_fraction` of the steps) or a ratio drawn uniformly from
    [min_keep, 1] (top tokens by `proxy`: "code_distance" or "random"), fills the rest with the mask
    vector and minimises the pixel MSE (on [-1, 1], as training does). The
    encoder and the quantizer are frozen, so the ids do not change. Returns (tuned model, mask vector)."""
    import copy

    from .data import to_tensor

    if proxy not in ("code_distance", "random"):
        raise InvalidOptionError(f"train_fill proxy {proxy!r}: pass 'code_distance' or 'random'")
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    tuned = copy.deepcopy(model).eval()
    x_all = to_tensor(np.asarray(images))
    with torch.no_grad():
        ids_all = torch.cat([tuned.encode(x_all[s : s + 256]) for s in range(0, len(x_all), 256)])
        fill = torch.nn.Parameter(mask_vector(tuned, ids_all).clone())
    tuned.zero_grad(set_to_none=True)
    tuned.decode_latents(_codes(tuned, ids_all[:1]).detach()).sum().backward()  # which parameters decode_latents uses
    params = [p for p in tuned.parameters() if p.grad is not None]
    tuned.zero_grad(set_to_none=True)
    opt = torch.optim.Adam([fill, *params], lr=lr)
    for _ in range(steps):
        pick = torch.randint(0, len(x_all), (min(batch_size, len(x_all)),), generator=g)
        x, ids = x_all[pick], ids_all[pick]
        with torch.no_grad():
            z = _codes(tuned, ids)
            scores = ((z - fill) ** 2).sum(-1) if proxy == "code_distance" else torch.rand(z.shape[:-1], generator=g)
            ratio = 1.0 if rng.random() < full_fraction else float(rng.uniform(min_keep, 1.0))
            keep = select(scores, ratio).to(z.device)
        recon = tuned.decode_latents(torch.where(keep[..., None], z, fill.expand_as(z)))
        loss = torch.nn.functional.mse_loss(recon, x * 2 - 1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    tuned.final_loss = float(loss.detach())
    return tuned.eval(), fill.detach()


@dataclass
class Selection:
    """The kept tokens of a batch: `keep` (bool, (B, *token_shape)), `kept_ids` (B, k) and `positions`
    (B, k) (flat raster positions, ascending), `ids` (all), `tokens` (N) and `kept` (k)."""

    ids: object
    keep: object
    kept_ids: object
    positions: object
    tokens: int
    kept: int


def select_tokens(model, images: np.ndarray, keep_ratio: float, proxy: str = "variance", **options) -> Selection:
    """uint8 images (B, size, size, 3) -> the tokens kept under keep_ratio by `proxy` (see token_scores)."""
    from .data import to_tensor

    model.eval()
    x = to_tensor(np.asarray(images))
    with torch.no_grad():
        ids = model.encode(x)
    keep = select(token_scores(model, x, ids, proxy, **options), keep_ratio)
    flat_keep = keep.reshape(len(ids), -1)
    k = int(flat_keep[0].sum())
    positions = flat_keep.nonzero()[:, 1].reshape(len(ids), k)
    kept_ids = ids.reshape(len(ids), -1).gather(1, positions)
    return Selection(ids, keep, kept_ids, positions, flat_keep.shape[1], k)


def keep_ratio_curve(model, images: np.ndarray, ratios, proxy: str = "variance", *, fill=None, **options) -> list[dict]:
    """Per keep ratio: tokens kept and saved, PSNR and SSIM (8-bit reconstructions, as evaluate.py) of
    uint8 images (N, size, size, 3) decoded from the kept tokens only."""
    from .data import to_tensor, to_uint8
    from .metrics import psnr, ssim

    model.eval()
    x = to_tensor(np.asarray(images))
    with torch.no_grad():
        ids = model.encode(x)
    fill = mask_vector(model, ids) if fill is None else fill
    scores = token_scores(model, x, ids, proxy, fill=fill, **options)
    rows = []
    for ratio in ratios:
        keep = select(scores, ratio)
        recon = to_tensor(to_uint8(decode_kept(model, ids, keep, fill)))
        n = model.tokens
        k = kept_count(ratio, n)
        rows.append({
            "proxy": proxy, "keep_ratio": ratio, "tokens": n, "kept": k, "saved": n - k, "saved_fraction": (n - k) / n,
            "psnr": psnr(x, recon), "ssim": ssim(x, recon),
        })
    return rows
