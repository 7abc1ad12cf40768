"""One output sink: JSON lines or aligned human text on stdout; notes on stderr."""

from __future__ import annotations

import json
import sys


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def note(message: str) -> None:
    print(message, file=sys.stderr)


def hw(size) -> str:
    return f"{size[0]} x {size[1]}"


def table(rows: list[list[str]], header: list[str], *, numeric: bool = True) -> str:
    """Aligned columns; the first is left-aligned, the rest right-aligned if `numeric`, else left."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) if i == 0 or not numeric else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        for r in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def number(value) -> str:
    """Integers with thousands separators; anything else as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def limits_text(limits: dict, sep: str = "  ") -> str:
    return sep.join(f"{k} {number(v)}" for k, v in limits.items())


def grid_text(plan) -> str:
    """The plan's patch grid (t x h x w) if it has one, else its tile count."""
    if getattr(plan, "grid_thw", None) is not None:
        t, h, w = plan.grid_thw
        return f"{t}x{h}x{w}"
    return f"{plan.tiles} tile" + ("s" if plan.tiles != 1 else "")
