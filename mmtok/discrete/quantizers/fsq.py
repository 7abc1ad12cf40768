"""Finite scalar quantisation (FSQ): Mentzer, Minnen, Agustsson & Tschannen 2023, "Finite Scalar
Quantization: VQ-VAE Made Simple", arXiv 2309.15505; the code follows the paper's appendix A.1
reference (google-research/google-research ``fsq``) and vector-quantize-pytorch's ``FSQ``.

Each of the d = len(levels) channels is bounded and rounded to one of L_i values; the implicit
codebook is the grid of prod(L_i) points, so there is nothing to learn and no auxiliary loss
(``loss`` is 0)::

    half_l = (L - 1) * (1 + 1e-3) / 2          offset = 0.5 if L is even else 0
    bounded = tanh(z + atanh(offset / half_l)) * half_l - offset
    q = round(bounded) / (L // 2)                 # straight-through round; values in [-1, 1]

(the offset centres the L values of an even L on the integers -L/2 .. L/2 - 1). The index is the
mixed-radix number of the digits ``round(bounded) + L // 2``, the first channel least significant:
``index = sum_i digit_i * prod_{j<i} L_j``. Levels the paper recommends (Sec. 4.1) for about 2^n codes:
2^8 [8, 6, 5], 2^10 [8, 5, 5, 5], 2^12 [7, 5, 5, 5, 5], 2^14 [8, 8, 8, 6, 5], 2^16 [8, 8, 8, 5, 5, 5].
When ``dim`` differs from len(levels), linear projections map dim -> len(levels) -> dim.

The straight-through round is written ``round(b) + (b - sg[b])``: value exactly ``round(b)``, gradient
that of ``b`` (the tanh bound), as the paper's ``b + sg[round(b) - b]``.
"""

from __future__ import annotations

import math

from ...errors import InvalidOptionError
from . import QUANTIZERS
from .base import QuantOut, Quantizer, torch

__all__ = ["FSQ", "RECOMMENDED_LEVELS"]

RECOMMENDED_LEVELS = {
    2**8: (8, 6, 5),
    2**10: (8, 5, 5, 5),
    2**12: (7, 5, 5, 5, 5),
    2**14: (8, 8, 8, 6, 5),
    2**16: (8, 8, 8, 5, 5, 5),
}


@QUANTIZERS.register("fsq", aliases=("finite-scalar",))
class FSQ(Quantizer):
    """FSQ with ``levels`` per channel (e.g. [8, 5, 5, 5]: 1000 codes), or the paper's levels for about
    ``codebook_size`` codes (256, 1024, 4096, 16384, 65536; 1024 gives [8, 5, 5, 5], so 1000 codes);
    ``dim`` defaults to len(levels)."""

    def __init__(self, *, levels: list[int] | tuple[int, ...] | None = None, dim: int | None = None, codebook_size: int | None = None):
        if levels is None:
            if codebook_size not in RECOMMENDED_LEVELS:
                raise InvalidOptionError(
                    f"fsq: pass levels=[...] (e.g. [8, 5, 5, 5]), or a codebook_size the paper gives levels for: "
                    f"{', '.join(map(str, RECOMMENDED_LEVELS))} (got {codebook_size})"
                )
            levels, codebook_size = RECOMMENDED_LEVELS[codebook_size], None
        levels = [int(v) for v in levels]
        if not levels or min(levels) < 2:
            raise InvalidOptionError(f"fsq: levels={levels} must be a non-empty list of integers >= 2")
        size = math.prod(levels)
        if codebook_size is not None and codebook_size != size:
            raise InvalidOptionError(f"fsq: levels {levels} give {size} codes, not codebook_size={codebook_size}; pass one of them")
        if size >= 2**62:
            raise InvalidOptionError(f"fsq: levels {levels} give {size} codes, too many for an int64 index")
        super().__init__(size, dim or len(levels))
        self.levels = levels
        self.codebook_dim = len(levels)
        L = torch.tensor(levels, dtype=torch.float64)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1], dtype=torch.long), 0)
        half_l = (L - 1) * (1 + 1e-3) / 2
        offset = torch.where(L % 2 == 0, 0.5, 0.0)
        self.register_buffer("_half_l", half_l.float(), persistent=False)
        self.register_buffer("_offset", offset.float(), persistent=False)
        self.register_buffer("_shift", torch.atanh(offset / half_l).float(), persistent=False)
        self.register_buffer("_half_width", (L // 2).float(), persistent=False)
        self.register_buffer("_levels", torch.tensor(levels, dtype=torch.long), persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        if self.dim != self.codebook_dim:
            self.project_in = torch.nn.Linear(self.dim, self.codebook_dim)
            self.project_out = torch.nn.Linear(self.codebook_dim, self.dim)
        else:
            self.project_in = self.project_out = torch.nn.Identity()

    def extra_repr(self) -> str:
        return f"levels={self.levels}, dim={self.dim}, codebook_size={self.codebook_size}"

    def bound(self, z):
        """The paper's bound: each channel into (-L/2 - 1e-3, L/2 + 1e-3) (shifted half a step for even L)."""
        return torch.tanh(z + self._shift.to(z.dtype)) * self._half_l.to(z.dtype) - self._offset.to(z.dtype)

    def forward(self, z) -> QuantOut:
        self._check_input(z)
        x = self._project_in(z)
        b = self.bound(x)
        r = b.round()
        idx = self._digits_to_indices(r.detach())
        codes = (r + (b - b.detach())) / self._half_width.to(b.dtype)
        z_q = self.project_out(codes).to(z.dtype)
        loss = torch.zeros((), dtype=z_q.dtype, device=z_q.device)
        return QuantOut(z_q, idx, loss, self._observe(idx))

    @torch.no_grad()
    def encode(self, z):
        self._check_input(z)
        idx = self._digits_to_indices(self.bound(self._project_in(z)).round())
        self._observe(idx)
        return idx

    def decode(self, indices):
        return self.project_out(self.indices_to_codes(indices))

    def indices_to_codes(self, indices):
        """Grid points (..., len(levels)) in [-1, 1] of the indices (before ``project_out``)."""
        indices = self._check_indices(indices).to(self._basis.device)
        digits = (indices[..., None] // self._basis) % self._levels
        hw = self._half_width
        return (digits.to(hw.dtype) - hw) / hw

    def codes_to_indices(self, codes):
        """Indices of grid points (..., len(levels)) given in [-1, 1] (inverse of ``indices_to_codes``)."""
        hw = self._half_width.to(codes.dtype)
        return self._digits_to_indices((codes * hw).round())

    def _digits_to_indices(self, rounded):
        digits = rounded.long() + self._levels // 2
        return (digits * self._basis).sum(-1)
