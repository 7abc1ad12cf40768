"""Quantizers by name: ``get_quantizer("vq" | "fsq" | "lfq" | "residual-vq", **options)``.

Each quantizer is one module that registers itself in ``QUANTIZERS`` (mmtok.registry.Registry); the
modules (and torch) are imported on the first lookup. All follow the interface in ``base.py``.
"""

from __future__ import annotations

from ...registry import Registry

__all__ = ["QUANTIZERS", "get_quantizer", "quantizer_names"]

QUANTIZERS: Registry = Registry(
    "quantizer",
    modules=(
        "mmtok.discrete.quantizers.vq",
        "mmtok.discrete.quantizers.fsq",
        "mmtok.discrete.quantizers.lfq",
        "mmtok.discrete.quantizers.residual",
    ),
)


def quantizer_names() -> list[str]:
    return QUANTIZERS.names()


def get_quantizer(name: str, **options):
    """A new quantizer registered as ``name`` (case-insensitive), built with ``options``."""
    try:
        return QUANTIZERS.get(name, **options)
    except TypeError as e:
        if "required" not in str(e):
            raise
        from ...errors import InvalidOptionError

        missing = str(e).split("argument")[-1].strip().lstrip("s:").strip()
        raise InvalidOptionError(f"quantizer {QUANTIZERS.canonical(name)!r} needs the option(s) {missing}") from None


def __getattr__(name: str):  # Quantizer and QuantOut without importing torch at package import
    if name in ("Quantizer", "QuantOut"):
        from . import base

        return getattr(base, name)
    raise AttributeError(name)
