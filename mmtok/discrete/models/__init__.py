"""Discrete image tokenizer architectures by name: "vqvae" (alias "conv", "vqgan": the VQ-VAE /
VQGAN-style 2-D grid of ids, `conv.py`; VQGAN = the same with the PatchGAN loss switched on) and "titok" (TiTok-style 1-D sequence of K ids, `titok.py`).

    model = build_model({"arch": "vqvae", "size": 32, "factor": 4, "quantizer": {"name": "vq", "codebook_size": 256}})
    ids = model.encode(images)            # (B, 8, 8)
    images = model.decode(ids)            # (B, 3, 32, 32) in [0, 1]

Importing this package does not import torch; `build_model` does (MissingDependencyError without it).
"""

from __future__ import annotations

from ...errors import UnknownNameError

__all__ = ["ARCHES", "build_model", "canonical_arch", "default_config"]

ARCHES = ("vqvae", "titok")
ALIASES = {"conv": "vqvae", "vqgan": "vqvae", "vq-vae": "vqvae", "1d": "titok"}


def canonical_arch(arch: str) -> str:
    key = str(arch).lower()
    key = ALIASES.get(key, key)
    if key not in ARCHES:
        raise UnknownNameError("tokenizer architecture", arch, list(ARCHES))
    return key


def default_config(arch: str) -> dict:
    """The default model config of an architecture (without the quantizer spec)."""
    arch = canonical_arch(arch)
    if arch == "vqvae":
        from .conv import CONV_DEFAULTS

        return dict(CONV_DEFAULTS)
    if arch == "titok":
        from .titok import TITOK_DEFAULTS

        return dict(TITOK_DEFAULTS)
    raise UnknownNameError("tokenizer architecture", arch, list(ARCHES))


def build_model(config: dict):
    """A new (randomly initialised) tokenizer from its config; config["arch"] picks the architecture."""
    arch = canonical_arch(config.get("arch", "vqvae"))
    config = {**config, "arch": arch}
    if arch == "vqvae":
        from .conv import ConvTokenizer

        return ConvTokenizer(config)
    if arch == "titok":
        from .titok import TiTokTokenizer

        return TiTokTokenizer(config)
    raise UnknownNameError("tokenizer architecture", arch, list(ARCHES))
