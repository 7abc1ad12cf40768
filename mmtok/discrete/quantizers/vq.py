"""Vector quantisation with a learned codebook: VQ-VAE and the fixes that made it train well.

* VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning", arXiv 1711.00937):
  ``q = e_k`` with ``k = argmin_j |z - e_j|^2``, straight-through gradients, and the loss of eq. 3
  without its reconstruction term::

      loss = mean((sg[z] - q)^2) + beta * mean((z - sg[q])^2)     # codebook + beta * commitment

  (means over all elements, as DeepMind Sonnet's ``VectorQuantizer``; beta = 0.25). taming-transformers'
  default ``legacy=True`` puts beta on the codebook term instead; this module follows the paper.
* ``ema=True``: the codebook is not learned by gradient but by exponential moving averages (paper,
  appendix A.1, eqs. 6-8), with Laplace smoothing of the counts as in Sonnet's ``VectorQuantizerEMA``
  (sonnet/src/nets/vqvae.py)::

      N_k <- decay * N_k + (1 - decay) * n_k          n_k = vectors assigned to code k in the batch
      m_k <- decay * m_k + (1 - decay) * sum_{z -> k} z
      N_k' = (N_k + eps) / (sum N + K * eps) * sum N      e_k = m_k / N_k'

  and the loss keeps only ``beta * commitment``. Sonnet 2 also de-biases its averages (Adam-style);
  this module does not (as Sonnet 1's notebook, rosinality's VQ-VAE-2 and vector-quantize-pytorch):
  ``N`` starts at ones and ``m`` at the initial codebook.
* ``kmeans_init=True``: the codebook is set by k-means on the first training batch (SoundStream,
  Zeghidour et al. 2021; see kmeans.py).
* ``dead_code_threshold > 0``: after each training step, codes whose decayed usage count ``N_k`` (the
  EMA above, a window of about 1 / (1 - decay) steps) is below the threshold are replaced by random
  vectors of the current batch (Jukebox, Dhariwal et al. 2020; SoundStream; vector-quantize-pytorch's
  ``threshold_ema_dead_code``); their count is reset to the threshold.
* ``l2_norm=True``: ``z`` and the codes are l2-normalised before the lookup, so the nearest code is the
  one of largest cosine similarity, and the loss is computed on the normalised vectors (ViT-VQGAN,
  Yu et al. 2021, arXiv 2110.04627, Sec. 3.2; TiTok's ``use_l2_norm``).
* ``codebook_dim < dim``: factorised codes: a linear ``project_in`` (dim -> codebook_dim) before the
  lookup and ``project_out`` back after it (ViT-VQGAN, Sec. 3.2: 768 -> 32 dims).

The straight-through output is ``sg[q] + (z - sg[z])``: the value is exactly ``q`` (so ``decode``
reproduces it bit for bit) and the gradient with respect to ``z`` is the identity, as
``z + sg[q - z]``.
"""

from __future__ import annotations

from ...errors import InvalidOptionError
from . import QUANTIZERS
from .base import QuantOut, Quantizer, torch
from .kmeans import kmeans, nearest

F = torch.nn.functional

__all__ = ["VectorQuantizer"]


@QUANTIZERS.register("vq", aliases=("vector-quantizer", "vqvae", "vq-vae"))
class VectorQuantizer(Quantizer):
    """VQ with straight-through gradients; options for EMA codebooks, k-means init, dead-code
    restarts, l2-normalised and factorised codes (see the module docstring for each formula)."""

    def __init__(
        self,
        *,
        codebook_size: int,
        dim: int,
        codebook_dim: int | None = None,
        beta: float = 0.25,
        ema: bool = False,
        decay: float = 0.99,
        eps: float = 1e-5,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
        dead_code_threshold: float = 0.0,
        l2_norm: bool = False,
    ):
        super().__init__(codebook_size, dim)
        if not 0.0 <= decay < 1.0:
            raise InvalidOptionError(f"vq: decay={decay} must lie in [0, 1) (0.99 is the usual value)")
        if beta < 0 or eps <= 0 or dead_code_threshold < 0 or kmeans_iters < 0:
            raise InvalidOptionError(
                f"vq: beta ({beta}), dead_code_threshold ({dead_code_threshold}) and kmeans_iters ({kmeans_iters}) "
                f"must be >= 0 and eps ({eps}) > 0"
            )
        if codebook_dim is not None and int(codebook_dim) < 1:
            raise InvalidOptionError(f"vq: codebook_dim={codebook_dim} must be a positive integer (or None for dim)")
        k = self.codebook_size
        d = self.codebook_dim = int(codebook_dim or dim)
        self.beta, self.ema, self.decay, self.eps = float(beta), bool(ema), float(decay), float(eps)
        self.kmeans_iters, self.dead_code_threshold, self.l2_norm = int(kmeans_iters), float(dead_code_threshold), bool(l2_norm)
        if d != self.dim:
            self.project_in = torch.nn.Linear(self.dim, d)
            self.project_out = torch.nn.Linear(d, self.dim)
        else:
            self.project_in = self.project_out = torch.nn.Identity()

        init = torch.empty(k, d).uniform_(-1.0 / k, 1.0 / k)  # taming-transformers' initialisation
        if self.l2_norm:
            init = F.normalize(init, dim=1)
        if self.ema:
            self.register_buffer("embed", init)
            self.register_buffer("embed_avg", init.clone())
        else:
            self.embed = torch.nn.Parameter(init)
        if self.ema or self.dead_code_threshold > 0:
            self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("initted", torch.tensor(not kmeans_init))

    def extra_repr(self) -> str:
        opts = [f"codebook_size={self.codebook_size}", f"dim={self.dim}", f"codebook_dim={self.codebook_dim}", f"beta={self.beta}"]
        if self.ema:
            opts.append(f"ema=True, decay={self.decay}")
        if self.dead_code_threshold:
            opts.append(f"dead_code_threshold={self.dead_code_threshold}")
        if self.l2_norm:
            opts.append("l2_norm=True")
        return ", ".join(opts)

    @property
    def codebook(self):
        """The code vectors (codebook_size, codebook_dim) the lookup uses (unit norm with ``l2_norm``)."""
        return F.normalize(self.embed, dim=1) if self.l2_norm else self.embed

    # --- interface --------------------------------------------------------------------------------

    def forward(self, z) -> QuantOut:
        self._check_input(z)
        lead = z.shape[:-1]
        x = self._project(z)
        if self.training and not bool(self.initted):
            self._kmeans_init(x.detach())
        codes = self.codebook
        idx = nearest(x.detach(), codes.detach(), cosine=self.l2_norm)
        q = F.embedding(idx, codes)
        commitment = F.mse_loss(x, q.detach())
        if self.ema:
            codebook_loss = torch.zeros((), dtype=commitment.dtype, device=commitment.device)
        else:
            codebook_loss = F.mse_loss(q, x.detach())
        loss = codebook_loss + self.beta * commitment
        z_q = self.project_out(q.detach() + (x - x.detach())).to(z.dtype)
        if self.training:
            self._update(x.detach(), idx)
        stats = self._observe(idx)
        stats.update(commitment=float(commitment.detach()), codebook=float(codebook_loss.detach()))
        return QuantOut(z_q.reshape(*lead, self.dim), idx.reshape(lead), loss, stats)

    @torch.no_grad()
    def encode(self, z):
        self._check_input(z)
        idx = nearest(self._project(z), self.codebook, cosine=self.l2_norm)
        self._observe(idx)
        return idx.reshape(z.shape[:-1])

    def decode(self, indices):
        indices = self._check_indices(indices).to(self.embed.device)
        return self.project_out(F.embedding(indices, self.codebook))

    # --- internals --------------------------------------------------------------------------------

    def _project(self, z):
        # the lookup runs in the codebook's dtype (e.g. float32 under bfloat16 activations)
        x = self.project_in(z.to(self.embed.dtype)).reshape(-1, self.codebook_dim)
        return F.normalize(x, dim=1) if self.l2_norm else x

    @torch.no_grad()
    def _kmeans_init(self, x) -> None:
        x = x.to(self.embed.dtype)
        means, sizes = kmeans(x, self.codebook_size, iters=self.kmeans_iters, spherical=self.l2_norm)
        self.embed.data.copy_(means)
        if hasattr(self, "cluster_size"):
            self.cluster_size.copy_(sizes)
        if self.ema:
            self.embed_avg.copy_(means * sizes[:, None])
        self.initted.fill_(True)

    @torch.no_grad()
    def _update(self, x, idx) -> None:
        """EMA codebook step and dead-code restarts (training mode only)."""
        if not hasattr(self, "cluster_size"):
            return
        x = x.to(self.embed.dtype)
        counts = torch.bincount(idx, minlength=self.codebook_size).to(x.dtype)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        if self.ema:
            sums = torch.zeros_like(self.embed_avg).index_add_(0, idx, x)
            self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            n = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (n + self.codebook_size * self.eps) * n
            new = self.embed_avg / smoothed[:, None]
            self.embed.copy_(F.normalize(new, dim=1) if self.l2_norm else new)
        if self.dead_code_threshold > 0:
            self._restart_dead_codes(x)

    @torch.no_grad()
    def _restart_dead_codes(self, x) -> None:
        dead = (self.cluster_size < self.dead_code_threshold).nonzero()[:, 0]
        if dead.numel() == 0 or x.shape[0] == 0:
            return
        if dead.numel() > x.shape[0]:  # fewer batch vectors than dead codes: restart some now, the rest later
            dead = dead[torch.randperm(dead.numel(), device=dead.device)[: x.shape[0]]]
        rows = x[torch.randperm(x.shape[0], device=x.device)[: dead.numel()]]
        self.embed.data[dead] = rows
        self.cluster_size[dead] = self.dead_code_threshold
        if self.ema:
            self.embed_avg[dead] = rows * self.dead_code_threshold
