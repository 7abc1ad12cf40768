"""What every discrete image tokenizer shares: pixels -> latent vectors -> quantizer -> ids, and back.

The split follows VQ-VAE (van den Oord et al. 2017, arXiv 1711.00937): an encoder maps an image to
latent vectors, a quantizer (mmtok.discrete.quantizers) replaces each by its code, and a decoder maps
the codes back to pixels. Images are float (B, 3, H, W) in [0, 1]; the networks see them in [-1, 1].
A subclass defines `token_shape`, `encode_latents` (images -> channels-last latents) and
`decode_latents` (channels-last code vectors -> images in [-1, 1]).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from .. import require_torch
from ...errors import InvalidOptionError

torch = require_torch()
nn = torch.nn

__all__ = ["TokenizerOut", "ImageTokenizer", "build_quantizer"]


@dataclass
class TokenizerOut:
    """What `ImageTokenizer.forward` returns: the reconstruction (in [0, 1], not clipped), the ids,
    the quantizer's auxiliary loss and its batch stats."""

    reconstruction: object
    indices: object
    quantizer_loss: object
    stats: dict = field(default_factory=dict)


def build_quantizer(spec: dict, dim: int):
    """A quantizer from a spec {"name": ..., **options}; `dim` (the model's latent width) unless the spec sets it."""
    from ..quantizers import get_quantizer

    options = {k: v for k, v in spec.items() if k != "name"}
    options.setdefault("dim", dim)
    return get_quantizer(spec.get("name", "vq"), **options)


class ImageTokenizer(nn.Module):
    """Base class; `config` (JSON-serialisable) rebuilds the model: `build_model(model.config)`."""

    arch = "?"

    def __init__(self, config: dict):
        super().__init__()
        self.config = copy.deepcopy(config)
        self.size = int(config["size"])

    # --- subclasses -------------------------------------------------------------------------------
    @property
    def token_shape(self) -> tuple[int, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode_latents(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def decode_latents(self, z_q):  # pragma: no cover - abstract
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------------------
    @property
    def tokens(self) -> int:
        """Ids per image (a residual quantizer's stages are not counted: one token is one position)."""
        n = 1
        for side in self.token_shape:
            n *= side
        return n

    @property
    def codebook_size(self) -> int:
        return int(self.quantizer.codebook_size)

    def check_images(self, x):
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (self.size, self.size):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InvalidOptionError(
                f"{self.arch} tokenizer input {shape}: pass float images (B, 3, {self.size}, {self.size}) in [0, 1] "
                f"(this checkpoint was trained at {self.size} x {self.size} px)"
            )
        return x * 2 - 1

    def forward(self, x) -> TokenizerOut:
        q = self.quantizer(self.encode_latents(self.check_images(x)))
        recon = (self.decode_latents(q.z_q) + 1) / 2
        return TokenizerOut(recon, q.indices, q.loss, dict(q.stats))

    def encode(self, x):
        """Images (B, 3, size, size) in [0, 1] -> long ids (B, *token_shape) (residual VQ: (..., stages))."""
        return self.quantizer.encode(self.encode_latents(self.check_images(x)))

    def decode(self, indices):
        """Ids (B, *token_shape[, stages]) -> images (B, 3, size, size) in [0, 1] (not clipped)."""
        indices = torch.as_tensor(indices)
        if tuple(indices.shape[1 : 1 + len(self.token_shape)]) != self.token_shape:
            raise InvalidOptionError(
                f"ids of shape {tuple(indices.shape)}: this {self.arch} tokenizer decodes (B, "
                f"{', '.join(map(str, self.token_shape))}) ids ({self.tokens} per image); decode ids with the "
                "checkpoint that made them"
            )
        return (self.decode_latents(self.quantizer.decode(indices)) + 1) / 2
