"""The readable form of a lineage report (mmtok/text/lineage.py): the numbers side by side, the
special tokens side by side (numbered runs such as <|extra_0|> .. <|extra_204|> on one line), the
tokens only in one vocabulary by kind with examples, and the verdict with its evidence."""

from __future__ import annotations

import re

from .lineage import _num

SPECIAL_ROWS = 24
_NUMBERED = re.compile(r"(.*?)(\d+)(\D*)")


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in rows)
    return [f"  {k.ljust(width)}  {v}" for k, v in rows]


def _agreement(o: dict) -> str:
    if not o["count"]:
        return "n/a (nothing shared)"
    return f"Spearman {_num(o['spearman'])}; LIS {o['lis']:,} of {o['count']:,} ({o['lis_fraction']:.4f})"


def _kinds_block(side: dict, label: str) -> list[str]:
    where = " (all after the shared tokens: appended)" if side["only_appended"] else ""
    lines = [f"only in {label} ({side['name']}): {_tokens(side['only'])}{where}"]
    for kind, n in side["only_by_kind"].items():
        examples = side["only_examples"][kind][:6]
        shown = ", ".join(examples if kind == "bytes" else map(repr, examples))
        lines.append(f"  {kind:<17} {n:>8,}   e.g. {shown}")
    return lines


def _runs(items: list[tuple[str, int]]) -> list[str]:
    """`name id` lines, with runs such as <|extra_0|> ... <|extra_204|> on consecutive ids in one line."""
    out: list[str] = []
    i = 0
    while i < len(items):
        m = _NUMBERED.fullmatch(items[i][0])
        j = i
        while m and j + 1 < len(items):
            n = _NUMBERED.fullmatch(items[j + 1][0])
            if not (n and n.group(1, 3) == m.group(1, 3) and int(n.group(2)) == int(m.group(2)) + j + 1 - i
                    and items[j + 1][1] == items[j][1] + 1):
                break
            j += 1
        if j - i >= 2:
            out.append(f"{items[i][0]} .. {items[j][0]} {items[i][1]}-{items[j][1]} ({j - i + 1})")
        else:
            out += [f"{name} {token_id}" for name, token_id in items[i : j + 1]]
        i = j + 1
    return out


def _specials_block(sp: dict) -> list[str]:
    a, b = sp["a"], sp["b"]
    pairs = [(f"{s} {a[s]}", f"{s} {b[s]}") for s in a if s in b]
    left, right = _runs([(s, a[s]) for s in sp["only_a"]]), _runs([(s, b[s]) for s in sp["only_b"]])
    pairs += [(left[i] if i < len(left) else "", right[i] if i < len(right) else "") for i in range(max(len(left), len(right)))]
    lines = [f"special tokens: {len(a):,} vs {len(b):,}; {sp['common']:,} in both, {sp['same_id']:,} with the same id"]
    if pairs:
        width = max(len(x) for x, _ in pairs[:SPECIAL_ROWS])
        lines += [f"  {x.ljust(width)}  |  {y}".rstrip() for x, y in pairs[:SPECIAL_ROWS]]
        if len(pairs) > SPECIAL_ROWS:
            lines.append(f"  ... {len(pairs) - SPECIAL_ROWS:,} more rows (--json lists them all)")
    return lines


def format_report(d: dict) -> str:
    """The readable form of a report's `to_dict()`."""
    a, b, sh, pre, v = d["a"], d["b"], d["shared"], d["common_prefix"], d["verdict"]
    lines = [f"lineage of A = {a['name']} and B = {b['name']}", ""]
    cells = [
        ("source", f"{a['source']} {a['model']}", f"{b['source']} {b['model']}"),
        ("regular tokens", f"{a['regular_tokens']:,}", f"{b['regular_tokens']:,}"),
        ("special tokens", f"{a['special_tokens']:,}", f"{b['special_tokens']:,}"),
        ("normaliser", a["normalizer"] or "none", b["normalizer"] or "none"),
        ("byte order", a["byte_order"] or "-", b["byte_order"] or "-"),
    ]
    width = max(len(x) for _, x, _ in cells)
    rows = [("", f"{'A':<{width}}  B")] + [(k, f"{x:<{width}}  {y}") for k, x, y in cells]
    rows.append(("regex", {True: "the same", False: "different", None: "unknown (not in both)"}[d["same_pattern"]]))
    lines += _rows(rows)
    lines.append("")
    containment = f"{_pct(sh['containment_a'])} of A, {_pct(sh['containment_b'])} of B"
    first = f" (first difference: A {pre['a']!r}, B {pre['b']!r})" if pre["a"] is not None or pre["b"] is not None else ""
    rows = [
        ("shared tokens", f"{sh['count']:,} ({containment}; Jaccard {sh['jaccard']:.4f})"),
        ("same id", f"{sh['same_id']:,} of the shared tokens"),
        ("common rank prefix", f"{pre['length']:,}{first}"),
        ("order, all shared", _agreement(d["order"])),
        ("order, multi-byte", _agreement(d["order_multibyte"])),
    ]
    if d["merges"]:
        for i, (k, m) in enumerate(d["merges"].items()):
            label = "merges (first k)" if i == 0 else ""
            rows.append((label, f"k={int(k):,}: {m['same_position']:,} at the same position, {m['in_both']:,} in both"))
    else:
        rows.append(("merges", "n/a (not both BPE with merges)"))
    lines += _rows(rows)
    lines += ["", *_specials_block(d["specials"]), ""]
    lines += _kinds_block(a, "A") + _kinds_block(b, "B")
    lines += ["", f"verdict: {_verdict_line(d)}"]
    lines += [f"  - {e}" for e in v["evidence"]]
    return "\n".join(lines)


def _tokens(n: int) -> str:
    return f"{n:,} token" + ("" if n == 1 else "s")


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.2%}"


def _verdict_line(d: dict) -> str:
    v = d["verdict"]
    if v["verdict"] == "same":
        extra = f" (differ in {', '.join(v['differences'])})" if v["differences"] else ""
        return f"same regular vocabulary{extra}"
    if v["verdict"] == "independent":
        return "independent"
    c = v["changes"]
    if v["direction"] is None:
        same_set = not d["a"]["only"] and not d["b"]["only"]
        how = "renumbered" if c["renumbered"] else "same tokens in the same order, ids shifted" if same_set else "related"
        return f"derived ({how}; which way cannot be told)"
    derived, base = (d["a"], d["b"]) if v["direction"] == "a_from_b" else (d["b"], d["a"])
    parts = [f"removed {c['removed']:,}", f"added {c['added']:,}" + (" (appended)" if c["appended"] else "")]
    if c["renumbered"]:
        parts.append(f"{c['moved']:,} moved")
    return f"derived: {derived['name']} from {base['name']} ({', '.join(parts)})"
