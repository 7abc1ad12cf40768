"""Residual vector quantisation: SoundStream (Zeghidour et al. 2021, arXiv 2107.03312, Algorithm 1)
and RQ-VAE (Lee et al. 2022, "Autoregressive Image Generation using Residual Quantization",
arXiv 2203.01901).

Stage 1 quantises ``z``; each further stage quantises what the stages before it left::

    r_1 = z;   q_s = VQ_s(r_s);   r_{s+1} = r_s - q_s;   z_q = q_1 + ... + q_S

so a vector becomes an S-tuple of indices (``indices`` has shape (..., stages)), coarse to fine. Each
stage is a ``VectorQuantizer`` with the options given here (EMA, k-means init, dead-code restarts,
l2 codes, ...); with ``codebook_dim`` one shared projection maps dim -> codebook_dim before the stages
and back after them. ``loss`` is the sum of the stages' VQ losses, each on the residual it quantises
(SoundStream; vector-quantize-pytorch's ``ResidualVQ``): the codes subtracted from the residual are
detached, so each commitment term pulls ``z`` towards its stage's code. The output is straight-through as a whole (``sg[sum q] + (z - sg[z])``, gradient identity, as
RQ-VAE's ``z + sg[z_q - z]``). The quantisation error cannot grow with the stage count when each
stage's codebook holds the zero vector (quantising a residual to 0 leaves it unchanged); in general
it shrinks as long as every stage finds a code closer to its residual than 0.
"""

from __future__ import annotations

from ...errors import InvalidOptionError
from . import QUANTIZERS
from .base import QuantOut, Quantizer, torch
from .vq import VectorQuantizer

__all__ = ["ResidualVQ"]


@QUANTIZERS.register("residual-vq", aliases=("rvq", "residual", "rq"))
class ResidualVQ(Quantizer):
    """``stages`` VQ codebooks of ``codebook_size`` codes each, applied to successive residuals."""

    def __init__(self, *, codebook_size: int, dim: int, stages: int = 4, codebook_dim: int | None = None, **vq_options):
        if int(stages) < 1:
            raise InvalidOptionError(f"residual-vq: stages={stages} must be a positive integer")
        self.stages = int(stages)
        super().__init__(codebook_size, dim)
        d = self.codebook_dim = int(codebook_dim or dim)
        if d != self.dim:
            self.project_in = torch.nn.Linear(self.dim, d)
            self.project_out = torch.nn.Linear(d, self.dim)
        else:
            self.project_in = self.project_out = torch.nn.Identity()
        try:
            self.layers = torch.nn.ModuleList(VectorQuantizer(codebook_size=codebook_size, dim=d, **vq_options) for _ in range(self.stages))
        except TypeError as e:
            raise InvalidOptionError(f"residual-vq: {e}; its stages take the options of 'vq'") from None

    def usage_slots(self) -> int:
        return 0  # each stage counts its own codes

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, dim={self.dim}, codebook_dim={self.codebook_dim}, stages={self.stages}"

    def forward(self, z) -> QuantOut:
        self._check_input(z)
        x = self._project_in(z)
        residual = x  # not detached: each stage's commitment term reaches z
        total = torch.zeros_like(x.detach())
        indices, stage_stats = [], []
        loss = torch.zeros((), dtype=residual.dtype, device=residual.device)
        for layer in self.layers:
            out = layer(residual)
            q = out.z_q.detach()
            total = total + q
            residual = residual - q
            indices.append(out.indices)
            stage_stats.append(out.stats)
            loss = loss + out.loss
        z_q = self.project_out(total + (x - x.detach())).to(z.dtype)
        stats = {
            "perplexity": sum(s["perplexity"] for s in stage_stats) / self.stages,
            "used": sum(s["used"] for s in stage_stats),
            "stages": stage_stats,
        }
        return QuantOut(z_q, torch.stack(indices, -1), loss, stats)

    @torch.no_grad()
    def encode(self, z):
        self._check_input(z)
        residual = self._project_in(z)
        indices = []
        for layer in self.layers:
            idx = layer.encode(residual)
            residual = residual - layer.decode(idx)
            indices.append(idx)
        return torch.stack(indices, -1)

    def decode(self, indices):
        indices = self._check_indices(indices)
        if indices.ndim < 1 or indices.shape[-1] > self.stages:
            raise InvalidOptionError(
                f"residual-vq.decode: indices of shape {tuple(indices.shape)}; pass (..., stages) with at most "
                f"{self.stages} stages (fewer stages decode coarser vectors)"
            )
        total = None
        for s in range(indices.shape[-1]):
            q = self.layers[s].decode(indices[..., s])
            total = q if total is None else total + q
        return self.project_out(total)

    def usage(self) -> dict:
        """Per-stage usage under ``stages``; top level: codes used summed over stages (``used``,
        ``dead``, ``used_fraction`` of stages x codebook_size) and the mean per-stage perplexity."""
        per_stage = [layer.usage() for layer in self.layers]
        used = sum(u["used"] for u in per_stage)
        slots = self.stages * self.codebook_size
        return {
            "codebook_size": self.codebook_size,
            "count": per_stage[0]["count"],
            "used": used,
            "used_fraction": used / slots,
            "perplexity": sum(u["perplexity"] for u in per_stage) / self.stages,
            "dead": slots - used,
            "stages": per_stage,
        }

    def reset_usage(self) -> None:
        for layer in self.layers:
            layer.reset_usage()


