"""Lookup-free quantisation (LFQ): MAGVIT-v2, Yu et al. 2023, "Language Model Beats Diffusion --
Tokenizer is Key to Visual Generation", arXiv 2310.05737, Sec. 3.1; the loss follows
vector-quantize-pytorch's ``LFQ``.

Each of the d = log2(codebook_size) channels is quantised to its sign, ``q_i = +1 if z_i > 0 else -1``
(straight-through), so the implicit codebook is {-1, 1}^d and no lookup is needed. The index is the
bits ``1[z_i > 0]`` read as a binary number: the paper's ``sum_i 2^(i-1) 1[z_i > 0]`` (first channel
least significant, ``bit_order="little"``, the default) or first channel most significant
(``bit_order="big"``, vector-quantize-pytorch's order).

Loss (training mode only; 0 in eval mode, as the reference): the paper's entropy penalty plus an
optional commitment term::

    p(k | z) = softmax_k(-inv_temperature * |z - c_k|^2)     over all 2^d codes c_k
    entropy = mean_z H[p(. | z)] - diversity_gamma * H[mean_z p(. | z)]     (per-sample - codebook entropy)
    loss = entropy_weight * entropy + commitment_weight * mean((z - sg[q])^2)

(H in nats, log clamped at 1e-5 as the reference). The softmax spans all 2^d codes: keep d small
(<= 14 or so) when training on CPU. ``dim`` != d adds linear projections dim -> d -> dim.
"""

from __future__ import annotations

import math

from ...errors import InvalidOptionError
from . import QUANTIZERS
from .base import QuantOut, Quantizer, torch

F = torch.nn.functional

__all__ = ["LFQ", "entropy"]


def entropy(p, eps: float = 1e-5):
    """Entropy in nats of the distributions in the last axis (log clamped at eps, as the reference)."""
    return -(p * p.clamp(min=eps).log()).sum(-1)


@QUANTIZERS.register("lfq", aliases=("lookup-free",))
class LFQ(Quantizer):
    """LFQ with ``codebook_size`` = 2^bits codes (or ``bits``); ``dim`` defaults to bits."""

    def __init__(
        self,
        *,
        codebook_size: int | None = None,
        bits: int | None = None,
        dim: int | None = None,
        entropy_weight: float = 0.1,
        commitment_weight: float = 0.25,
        diversity_gamma: float = 1.0,
        inv_temperature: float = 100.0,
        bit_order: str = "little",
    ):
        if bits is None:
            if codebook_size is None:
                if dim is None:
                    raise InvalidOptionError("lfq: pass codebook_size (a power of 2), bits or dim")
                bits = dim
            else:
                bits = int(math.log2(codebook_size)) if codebook_size > 0 else 0
                if codebook_size < 2 or 2**bits != codebook_size:
                    raise InvalidOptionError(
                        f"lfq: codebook_size={codebook_size} must be a power of 2 >= 2 (one bit per channel); "
                        f"e.g. {2 ** max(1, math.ceil(math.log2(max(codebook_size, 2))))}"
                    )
        bits = int(bits)
        if not 1 <= bits <= 62 or (codebook_size is not None and codebook_size != 2**bits):
            raise InvalidOptionError(f"lfq: bits={bits} must lie in 1..62 and agree with codebook_size={codebook_size}")
        if bit_order not in ("little", "big"):
            raise InvalidOptionError(f"lfq: bit_order={bit_order!r}; pass 'little' (the paper) or 'big' (vector-quantize-pytorch)")
        if min(entropy_weight, commitment_weight, inv_temperature) < 0:
            raise InvalidOptionError("lfq: entropy_weight, commitment_weight and inv_temperature must be >= 0")
        self.bits = bits
        super().__init__(2**bits, dim or bits)
        self.entropy_weight, self.commitment_weight = float(entropy_weight), float(commitment_weight)
        self.diversity_gamma, self.inv_temperature, self.bit_order = float(diversity_gamma), float(inv_temperature), bit_order
        self.codebook_dim = bits
        powers = 2 ** torch.arange(bits, dtype=torch.long)
        self.register_buffer("_powers", powers if bit_order == "little" else powers.flip(0), persistent=False)
        if self.dim != bits:
            self.project_in = torch.nn.Linear(self.dim, bits)
            self.project_out = torch.nn.Linear(bits, self.dim)
        else:
            self.project_in = self.project_out = torch.nn.Identity()

    def usage_slots(self) -> int:
        # counting usage needs one slot per code; past 2^24 codes usage() is not tracked
        return self.codebook_size if self.bits <= 24 else 0

    def extra_repr(self) -> str:
        return (
            f"bits={self.bits}, dim={self.dim}, entropy_weight={self.entropy_weight}, "
            f"commitment_weight={self.commitment_weight}, bit_order={self.bit_order!r}"
        )

    def codes(self):
        """All 2^bits codes (2^bits, bits) in index order, entries +-1."""
        return self.indices_to_codes(torch.arange(self.codebook_size, device=self._powers.device))

    def forward(self, z) -> QuantOut:
        self._check_input(z)
        x = self._project_in(z)
        positive = x.detach() > 0
        q = torch.where(positive, 1.0, -1.0).to(x.dtype)
        idx = (positive.long() * self._powers).sum(-1)
        z_q = self.project_out(q + (x - x.detach())).to(z.dtype)
        stats = self._observe(idx) if self.usage_slots() else {}
        loss = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.training:
            flat = x.reshape(-1, self.bits)
            if self.entropy_weight:
                # -|z - c|^2 = 2 z.c + const per row (|c|^2 = bits), so the softmax takes 2 z.c
                logits = 2 * self.inv_temperature * (flat @ self.codes().to(flat.dtype).t())
                p = logits.softmax(-1)
                per_sample, codebook = entropy(p).mean(), entropy(p.mean(0))
                loss = loss + self.entropy_weight * (per_sample - self.diversity_gamma * codebook)
                stats.update(per_sample_entropy=float(per_sample.detach()), codebook_entropy=float(codebook.detach()))
            if self.commitment_weight:
                commitment = F.mse_loss(x, q)
                loss = loss + self.commitment_weight * commitment
                stats["commitment"] = float(commitment.detach())
        return QuantOut(z_q, idx, loss, stats)

    @torch.no_grad()
    def encode(self, z):
        self._check_input(z)
        idx = ((self._project_in(z) > 0).long() * self._powers).sum(-1)
        if self.usage_slots():
            self._observe(idx)
        return idx

    def decode(self, indices):
        return self.project_out(self.indices_to_codes(indices))

    def indices_to_codes(self, indices):
        """The +-1 codes (..., bits) of the indices (before ``project_out``)."""
        indices = self._check_indices(indices).to(self._powers.device)
        bits = (indices[..., None] & self._powers) != 0
        return torch.where(bits, 1.0, -1.0)
