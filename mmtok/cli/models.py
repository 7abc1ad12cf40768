"""`mmtok models`: the registry, with each model's defaults and the reference it follows."""

from __future__ import annotations

import argparse

from .output import emit_json, table


def add_parser(sub) -> None:
    p = sub.add_parser(
        "models",
        help="list the registered models with their defaults and references",
        description="Every registered model family: its aliases, the budget or options in force by default, "
        "the text tokenizer its sequences need, and the reference implementation mmtok reproduces.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output (one object per model)")
    p.set_defaults(run=run)


def describe(name: str) -> dict:
    from ..vision.families import FAMILIES, get_family

    family = get_family(name)
    aliases = sorted(a for a, target in FAMILIES._aliases.items() if target == name)
    return {
        "model": family.name,
        "aliases": aliases,
        "defaults": dict(family.limits),
        "tokenizer": family.tokenizer_name or f"pass tokenizer= ({getattr(family, 'tokenizer_description', 'its own')})",
        "count_only": bool(getattr(family, "count_only", False)),
        "reference": family.reference,
    }


def _short(value) -> str:
    """A default as the table shows it: long lists are summarised (--json has them whole)."""
    if isinstance(value, (list, tuple)) and len(value) > 3:
        return f"({len(value)} values)"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def run(args: argparse.Namespace) -> int:
    from ..vision.families import model_names

    rows = [describe(name) for name in model_names()]
    if args.json:
        for row in rows:
            emit_json(row)
        return 0
    cells = []
    for row in rows:
        defaults = ", ".join(f"{k} {_short(v)}" for k, v in row["defaults"].items())
        kind = "count only" if row["count_only"] else (row["tokenizer"] if not row["tokenizer"].startswith("pass") else "tokenizer=")
        cells.append([row["model"], defaults, kind, row["reference"]])
    print(table(cells, ["model", "defaults", "text", "reference"], numeric=False))
    return 0
