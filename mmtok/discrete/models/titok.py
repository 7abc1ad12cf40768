"""A TiTok-style 1-D image tokenizer: a fixed number K of ids per image, whatever its content.

Follows TiTok (Yu et al., NeurIPS 2024, arXiv 2406.07550; bytedance/1d-tokenizer `TiTokEncoder`,
`TiTokDecoder`), single-stage variant (pixels predicted directly, no proxy codes):

* encoder: a ViT over p x p patches (+ learned positions) concatenated with K learnable latent tokens
  (+ their own positions); only the K latent outputs are kept, layer-normed and projected to the code
  width, then quantized -> K ids (a 1-D sequence, no 2-D grid);
* decoder: a ViT over (size/p)^2 mask tokens (+ positions) concatenated with the projected quantized
  latents (+ positions); the patch positions are layer-normed and projected to p x p x 3 pixels.

The paper's [CLS] token is left out (it carries nothing the reconstruction uses). Transformer blocks
are pre-norm (LayerNorm, multi-head attention, GELU MLP), as in the reference's ResidualAttentionBlock.
"""

from __future__ import annotations

from .. import require_torch
from ...errors import InvalidOptionError
from .base import ImageTokenizer, build_quantizer

torch = require_torch()
nn = torch.nn

__all__ = ["TiTokTokenizer", "TITOK_DEFAULTS"]

TITOK_DEFAULTS = {
    "arch": "titok", "size": 32, "patch": 4, "width": 64, "depth": 3, "heads": 4, "mlp_ratio": 2.0, "tokens": 32, "dim": 16,
}


def _transformer(width: int, depth: int, heads: int, mlp_ratio: float):
    layer = nn.TransformerEncoderLayer(
        width, heads, dim_feedforward=int(mlp_ratio * width), dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class TiTokTokenizer(ImageTokenizer):
    """ViT encoder with K latent tokens -> quantizer -> ViT decoder from mask tokens; K ids per image."""

    arch = "titok"

    def __init__(self, config: dict):
        config = {**TITOK_DEFAULTS, **config}
        super().__init__(config)
        size, patch = self.size, int(config["patch"])
        width, depth, heads, k = int(config["width"]), int(config["depth"]), int(config["heads"]), int(config["tokens"])
        if patch < 1 or size % patch:
            raise InvalidOptionError(f"TiTok patch size {patch} must divide the image size {size}")
        if k < 1:
            raise InvalidOptionError(f"TiTok --tokens {k}: pass a positive number of tokens per image (e.g. 32, 64, 128)")
        if width % heads:
            raise InvalidOptionError(f"TiTok width {width} must be a multiple of the number of heads {heads}")
        self.patch, self.k = patch, k
        self.n_patches = (size // patch) ** 2
        self.quantizer = build_quantizer(config.get("quantizer", {"name": "vq"}), int(config["dim"]))
        dim = self.quantizer.dim
        scale = width**-0.5
        # encoder
        self.patch_embed = nn.Conv2d(3, width, patch, stride=patch)
        self.enc_pos = nn.Parameter(scale * torch.randn(self.n_patches, width))
        self.latent_tokens = nn.Parameter(scale * torch.randn(k, width))
        self.latent_pos = nn.Parameter(scale * torch.randn(k, width))
        self.encoder = _transformer(width, depth, heads, float(config["mlp_ratio"]))
        self.enc_norm = nn.LayerNorm(width)
        self.to_code = nn.Linear(width, dim)
        # decoder
        self.from_code = nn.Linear(dim, width)
        self.mask_token = nn.Parameter(scale * torch.randn(width))
        self.dec_pos = nn.Parameter(scale * torch.randn(self.n_patches, width))
        self.dec_latent_pos = nn.Parameter(scale * torch.randn(k, width))
        self.decoder = _transformer(width, depth, heads, float(config["mlp_ratio"]))
        self.dec_norm = nn.LayerNorm(width)
        self.to_pixels = nn.Linear(width, patch * patch * 3)

    @property
    def token_shape(self) -> tuple[int, ...]:
        return (self.k,)

    def encode_latents(self, x):
        patches = self.patch_embed(x).flatten(2).transpose(1, 2) + self.enc_pos  # (B, N, width)
        latents = (self.latent_tokens + self.latent_pos).expand(x.shape[0], -1, -1)
        h = self.encoder(torch.cat([patches, latents], dim=1))[:, self.n_patches :]
        return self.to_code(self.enc_norm(h))  # (B, K, dim)

    def decode_latents(self, z_q):
        b = z_q.shape[0]
        masks = (self.mask_token + self.dec_pos).expand(b, -1, -1)
        latents = self.from_code(z_q) + self.dec_latent_pos
        h = self.decoder(torch.cat([masks, latents], dim=1))[:, : self.n_patches]
        pixels = self.to_pixels(self.dec_norm(h))  # (B, N, p*p*3)
        g, p = self.size // self.patch, self.patch
        pixels = pixels.view(b, g, g, p, p, 3).permute(0, 5, 1, 3, 2, 4)  # (B, 3, g, p, g, p)
        return pixels.reshape(b, 3, self.size, self.size)
