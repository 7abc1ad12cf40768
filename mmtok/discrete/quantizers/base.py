"""The quantizer interface every discrete tokenizer builds on, and its usage statistics.

A quantizer maps channels-last vectors ``z (..., dim)`` to discrete indices and back:

* ``forward(z) -> QuantOut``: ``z_q`` (same shape as ``z``, straight-through: ``z + (q - z).detach()``,
  Bengio et al. 2013 / van den Oord et al. 2017), ``indices`` (``(...,)``, residual VQ ``(..., stages)``),
  ``loss`` (a scalar: the auxiliary loss of the quantizer's paper, stated in each module) and ``stats``
  (``perplexity`` and ``used`` codes of this batch). In training mode it also updates EMA codebooks and
  restarts dead codes.
* ``encode(z) -> indices``; ``decode(indices) -> (..., dim)`` equals forward's ``z_q`` for those
  indices (in eval mode: training-mode forward may move the codebook after the lookup).
* ``usage()``: codes used since ``reset_usage()``, their perplexity and the dead (unused) codes.

Usage statistics follow the perplexity every reference returns (Sonnet ``VectorQuantizer``, taming
``VectorQuantizer2``): ``p = bincount(indices) / n``, ``perplexity = exp(-sum p log p)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import InvalidOptionError
from .. import require_torch

torch = require_torch()
Tensor = torch.Tensor

__all__ = ["QuantOut", "Quantizer", "perplexity"]


@dataclass
class QuantOut:
    """What ``Quantizer.forward`` returns."""

    z_q: Tensor  #: same shape as z; straight-through: z + (q - z).detach()
    indices: Tensor  #: long, (...,) — residual VQ: (..., stages)
    loss: Tensor  #: scalar auxiliary loss (commitment / codebook / entropy, per the quantizer's paper)
    stats: dict = field(default_factory=dict)  #: batch "perplexity" and "used" codes (floats / ints)


def perplexity(counts: Tensor) -> float:
    """exp of the entropy (nats) of the distribution ``counts / counts.sum()``; 0 for no counts."""
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts.double() / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


class Quantizer(torch.nn.Module):
    """Base class: subclasses set ``codebook_size`` and ``dim`` and implement forward, encode and decode.

    Subclasses call ``self._check_input(z)`` first and ``self._observe(indices)`` on the indices they
    produce (it counts usage and returns the batch stats).
    """

    codebook_size: int
    dim: int

    def __init__(self, codebook_size: int, dim: int):
        super().__init__()
        if int(codebook_size) < 1 or int(dim) < 1:
            raise InvalidOptionError(
                f"{type(self).__name__}: codebook_size ({codebook_size}) and dim ({dim}) must be positive integers"
            )
        self.codebook_size = int(codebook_size)
        self.dim = int(dim)
        # counts since reset_usage(); not part of the state dict (it is a statistic, not a parameter)
        self.register_buffer("_usage_counts", torch.zeros(self.usage_slots(), dtype=torch.long), persistent=False)

    # --- interface --------------------------------------------------------------------------------

    def forward(self, z: Tensor) -> QuantOut:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, indices: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def usage(self) -> dict:
        """Codes used since the last reset: ``used``, ``used_fraction``, ``perplexity``, ``dead`` (codes
        never chosen), ``count`` (vectors seen) and ``codebook_size``."""
        counts = self._usage_counts
        used = int((counts > 0).sum())
        return {
            "codebook_size": self.codebook_size,
            "count": int(counts.sum()),
            "used": used,
            "used_fraction": used / self.codebook_size,
            "perplexity": perplexity(counts),
            "dead": self.codebook_size - used,
        }

    def reset_usage(self) -> None:
        self._usage_counts.zero_()

    def extra_repr(self) -> str:
        return f"codebook_size={self.codebook_size}, dim={self.dim}"

    # --- helpers for subclasses -------------------------------------------------------------------

    def usage_slots(self) -> int:
        """Length of the usage-count buffer (residual VQ counts each stage's codebook separately)."""
        return self.codebook_size

    def _project_in(self, z: Tensor) -> Tensor:
        """``self.project_in`` when it is a linear layer (run in its weights' dtype), else ``z``."""
        proj = getattr(self, "project_in", None)
        if isinstance(proj, torch.nn.Linear):
            return proj(z.to(proj.weight.dtype))
        return z

    def _check_input(self, z: Tensor) -> None:
        if not isinstance(z, torch.Tensor):
            from ...errors import UnsupportedInputError

            raise UnsupportedInputError(f"{type(self).__name__} input", z, "a torch.Tensor of shape (..., dim)")
        if z.ndim < 1 or z.shape[-1] != self.dim:
            raise InvalidOptionError(
                f"{type(self).__name__}: input of shape {tuple(z.shape)} has {z.shape[-1] if z.ndim else 0} channels "
                f"in its last axis, but the quantizer takes dim={self.dim}; pass channels-last vectors (..., {self.dim}) "
                "(for an image feature map (B, C, H, W) use z.permute(0, 2, 3, 1))"
            )
        if not z.is_floating_point():
            raise InvalidOptionError(f"{type(self).__name__}: input has dtype {z.dtype}; pass floating-point vectors")

    def _check_indices(self, indices: Tensor, high: int | None = None) -> Tensor:
        if not isinstance(indices, torch.Tensor):
            indices = torch.as_tensor(indices)
        if indices.is_floating_point() or indices.dtype == torch.bool:
            raise InvalidOptionError(f"{type(self).__name__}.decode: indices have dtype {indices.dtype}; pass integer code indices")
        high = self.codebook_size if high is None else high
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= high):
            raise InvalidOptionError(
                f"{type(self).__name__}.decode: indices range over [{int(indices.min())}, {int(indices.max())}], outside "
                f"[0, {high}); decode indices with the quantizer (codebook) that made them"
            )
        return indices.long()

    @torch.no_grad()
    def _observe(self, indices: Tensor, slots: int | None = None) -> dict:
        """Adds ``indices`` (flattened) to the usage counts; returns the batch ``perplexity`` and ``used``."""
        slots = self.usage_slots() if slots is None else slots
        counts = torch.bincount(indices.reshape(-1).to(self._usage_counts.device), minlength=slots)
        self._usage_counts += counts
        return {"perplexity": perplexity(counts), "used": int((counts > 0).sum())}

