"""Discrete image tokenizers: quantizers (VQ, FSQ, LFQ, residual VQ) and the tokenizers built on them.

Needs the optional extra ``mmtok[discrete]`` (torch, CPU build is enough). Importing ``mmtok`` or this
package does not import torch; the quantizer modules do, and a missing torch raises
``MissingDependencyError("torch", "discrete image tokenizers", "discrete")``.

    from mmtok.discrete.quantizers import get_quantizer
    vq = get_quantizer("vq", codebook_size=512, dim=64, ema=True, kmeans_init=True)
    out = vq(z)                      # z (..., 64) channels-last -> out.z_q, out.indices, out.loss, out.stats
    z_q = vq.decode(vq.encode(z))
"""

from __future__ import annotations

__all__ = ["get_quantizer", "quantizer_names", "require_torch"]


def get_quantizer(name: str, **options):
    """A new quantizer by name ("vq", "fsq", "lfq", "residual-vq"); see mmtok.discrete.quantizers."""
    from .quantizers import get_quantizer as _get

    return _get(name, **options)


def quantizer_names() -> list[str]:
    from .quantizers import quantizer_names as _names

    return _names()


def require_torch():
    """The torch module, or MissingDependencyError naming the extra that provides it."""
    try:
        import torch
    except ImportError:
        from ..errors import MissingDependencyError

        raise MissingDependencyError("torch", "discrete image tokenizers", "discrete") from None
    return torch
