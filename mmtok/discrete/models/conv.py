"""A convolutional 2-D image tokenizer of the VQ-VAE / VQGAN family, and an optional PatchGAN critic.

Encoder and decoder follow the VQ-VAE of van den Oord et al. 2017 (arXiv 1711.00937) as written in
DeepMind Sonnet's example: strided 4 x 4 convolutions (one per factor of 2 of the downsampling factor
f), a 3 x 3 convolution, residual blocks (ReLU, 3 x 3 conv, ReLU, 1 x 1 conv, plus the input), and a
1 x 1 projection to the code width; the decoder mirrors it with transposed convolutions. A size x size
image becomes a (size / f) x (size / f) grid of ids (32 px at f = 4: 8 x 8 = 64 tokens).

`PatchDiscriminator` is the pix2pix / VQGAN PatchGAN critic (taming-transformers
`NLayerDiscriminator`, Esser et al. 2021), used with the hinge loss when the GAN weight is above 0
(off by default). VQGAN's perceptual (LPIPS) loss is not offered: its weights cannot be shipped or
downloaded here.
"""

from __future__ import annotations

import math

from .. import require_torch
from ...errors import InvalidOptionError
from .base import ImageTokenizer, build_quantizer

torch = require_torch()
nn = torch.nn

__all__ = ["ConvTokenizer", "PatchDiscriminator", "CONV_DEFAULTS"]

CONV_DEFAULTS = {"arch": "vqvae", "size": 32, "factor": 4, "channels": 64, "res_blocks": 2, "res_channels": 32, "dim": 16,
                 "decoder_channels": None}


class ResBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))) (Sonnet VQ-VAE residual block)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
        )

    def forward(self, x):
        return x + self.body(x)


def _downsamples(config: dict) -> int:
    size, factor = int(config["size"]), int(config["factor"])
    n = int(math.log2(factor)) if factor >= 2 else -1
    if factor < 2 or 2**n != factor or size % factor:
        raise InvalidOptionError(
            f"downsampling factor {factor}: pass a power of 2 (2, 4, 8, ...) that divides the image size {size}"
        )
    return n


class ConvTokenizer(ImageTokenizer):
    """VQ-VAE-style conv encoder -> quantizer -> conv decoder; (size/f)^2 ids per image."""

    arch = "vqvae"

    def __init__(self, config: dict):
        config = {**CONV_DEFAULTS, **config}
        super().__init__(config)
        n = _downsamples(config)
        ch, hidden, blocks = int(config["channels"]), int(config["res_channels"]), int(config["res_blocks"])
        self.quantizer = build_quantizer(config.get("quantizer", {"name": "vq"}), int(config["dim"]))
        dim = self.quantizer.dim
        self.grid = self.size // int(config["factor"])
        widths = [max(ch // 2, 8)] + [ch] * (n - 1)
        enc: list = []
        c_in = 3
        for w in widths:
            enc += [nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.ReLU()]
            c_in = w
        enc += [nn.Conv2d(c_in, ch, 3, padding=1)] + [ResBlock(ch, hidden) for _ in range(blocks)]
        enc += [nn.ReLU(), nn.Conv2d(ch, dim, 1)]
        self.encoder = nn.Sequential(*enc)
        ch = int(config.get("decoder_channels") or ch)  # a wider decoder than encoder, if asked
        widths = [max(ch // 2, 8)] + [ch] * (n - 1)
        hidden = max(hidden, ch // 2) if config.get("decoder_channels") else hidden
        dec: list = [nn.Conv2d(dim, ch, 3, padding=1)] + [ResBlock(ch, hidden) for _ in range(blocks)] + [nn.ReLU()]
        c_in = ch
        for i, w in enumerate(reversed(widths)):
            last = i == len(widths) - 1
            out = 3 if last else list(reversed(widths))[i + 1]
            dec.append(nn.ConvTranspose2d(c_in, out, 4, stride=2, padding=1))
            if not last:
                dec.append(nn.ReLU())
            c_in = out
        self.decoder = nn.Sequential(*dec)

    @property
    def token_shape(self) -> tuple[int, ...]:
        return (self.grid, self.grid)

    def encode_latents(self, x):
        return self.encoder(x).permute(0, 2, 3, 1)  # (B, h, w, dim) channels-last

    def decode_latents(self, z_q):
        return self.decoder(z_q.permute(0, 3, 1, 2).contiguous())


class PatchDiscriminator(nn.Module):
    """PatchGAN critic (pix2pix; taming `NLayerDiscriminator`): strided 4 x 4 convs with LeakyReLU(0.2)
    and GroupNorm (instead of BatchNorm: deterministic at batch 1), one logit per image patch."""

    def __init__(self, channels: int = 64, layers: int = 2):
        super().__init__()
        mods: list = [nn.Conv2d(3, channels, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = channels
        for _ in range(1, layers):
            mods += [nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.GroupNorm(8, 2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        mods += [nn.Conv2d(c, 1, 3, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        """Images in [0, 1] -> patch logits (B, 1, h, w)."""
        return self.net(x * 2 - 1)
