"""Tokenizer lineage: is vocabulary B the same as A, derived from it, or independent of it?

Features and decision sketch of ../shared/research/discrete.md section B6 (membership, id agreement,
rank-order agreement, merge-prefix agreement, special-token sets), computed on canonical byte
vocabularies (vocab.py). Merge order carries far more information than membership (Hayase et al.,
"Data Mixture Inference", NeurIPS 2024, arXiv 2407.16607): two BPEs trained independently on similar
text share many tokens but not their order. So the verdict rests on order:

* the longest increasing subsequence (LIS) of B's ranks taken in A's order, over the shared tokens,
  as a fraction of them; and Spearman's rho of the two rank lists;
* the common rank prefix (LCP): how many first tokens (in id order) are identical.

Order is judged on the shared *multi-byte* tokens: byte-level BPEs all start with the 256 bytes,
and the `tokenizers` trainer puts them in GPT-2's byte order, as cl100k_base and qwen.tiktoken do,
so two independent byte-level BPEs share a 256-token prefix for free.

Null distribution, measured (bench/lineage.py --null; `tokenizers` byte-level BPEs trained on
disjoint offline corpora: the Python standard library's source vs the .py files of numpy, sklearn
and transformers, and one half of the stdlib vs the other half):

    corpora (~6M characters each)      vocab   shared  LCP  multi-byte  LIS frac.  Spearman  first 100 merges
                                                                shared                          same pos. / in both
    stdlib half 1 vs half 2            1,000      855  259         599      0.177     0.897      9 / 82
                                       8,000    5,691  259       5,435      0.066     0.808      9 / 82
                                      32,000   17,251  259      16,995      0.056     0.749      9 / 82
    stdlib vs numpy+sklearn+transf.    1,000      636  259         380      0.147     0.628      3 / 53
                                       8,000    3,644  259       3,388      0.052     0.543      3 / 53
                                      32,000   11,321  259      11,065      0.039     0.524      3 / 53
    stdlib docstrings (3,000) vs cl100k_base    2,603  256       2,347      0.057     0.411      1 / 47

The common prefix of independent byte-level BPEs is the 256 bytes plus a few merges (259); Spearman
is high (0.4-0.9: frequent pieces come early in any BPE) and so is the overlap of the first merges
as sets, so neither separates lineage. The LIS fraction does: at most 0.18 for independent BPEs
(and about 2/sqrt(n) for a random permutation), 1.0 for Qwen vs cl100k_base. The threshold below
(0.95) leaves a wide margin on both sides.

Worked example (B6): qwen.tiktoken vs cl100k_base share 99,156 tokens, all in the same order (LIS
fraction 1.0, Spearman 1.0), with a common prefix of 410 ranks; the 1,100 cl100k tokens Qwen lacks
all hold a digit, and Qwen's 52,487 own tokens are all appended after the shared ones.

Verdict:

* same: the regular tokens are identical, id for id (special tokens, regex or normaliser may differ;
  the report says which);
* derived: at least DERIVED_MIN_SHARED shared multi-byte tokens, covering at least
  DERIVED_MIN_CONTAINMENT of the smaller vocabulary, with an LIS fraction of at least
  DERIVED_MIN_LIS (far above the null); or the same token set with the ids permuted (renumbered).
  Which way: the side whose own tokens all come after the shared ones (an appended tail); when one
  vocabulary holds the other, the larger if its extra tokens are appended (an extension), else the
  smaller (pruned). "removed" are the base's tokens the derived one lacks, "added" its own;
* independent: anything else.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from .token_kinds import group_by_kind
from .vocab import Vocabulary

__all__ = ["LineageReport", "compare_vocabularies", "lineage"]

DERIVED_MIN_LIS = 0.95
DERIVED_MIN_CONTAINMENT = 0.5
DERIVED_MIN_SHARED = 200
MERGE_PREFIXES = (100, 1_000, 10_000)
EXAMPLES = 8


def longest_increasing_subsequence(values) -> int:
    """Length of the longest strictly increasing subsequence (patience sorting, O(n log n))."""
    tails: list[int] = []
    for v in values:
        k = bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
        else:
            tails[k] = v
    return len(tails)


def spearman(order_b: np.ndarray) -> float | None:
    """Spearman's rho between positions 0..n-1 and `order_b` (distinct values; None if n < 2)."""
    n = len(order_b)
    if n < 2:
        return None
    ranks_b = np.empty(n, dtype=np.int64)
    ranks_b[np.argsort(order_b, kind="stable")] = np.arange(n)
    d = np.arange(n, dtype=np.int64) - ranks_b
    return float(1.0 - 6.0 * float(np.dot(d, d)) / (n * (n * n - 1.0)))


@dataclass
class LineageReport:
    """The comparison of two vocabularies; `to_dict()` is the --json form, `text()` the readable one."""

    data: dict

    def to_dict(self) -> dict:
        return self.data

    @property
    def verdict(self) -> str:
        return self.data["verdict"]["verdict"]

    def text(self) -> str:
        from .lineage_report import format_report

        return format_report(self.data)


def lineage(a: str, b: str, *, merges: bool = True, examples: int | None = EXAMPLES) -> LineageReport:
    """Compare the tokenizers named (or at the paths) `a` and `b`; see compare_vocabularies."""
    from .vocab import load_vocabulary

    return compare_vocabularies(load_vocabulary(a), load_vocabulary(b), merges=merges, examples=examples)


def _order_stats(positions_b: list[int]) -> dict:
    arr = np.asarray(positions_b, dtype=np.int64)
    n = len(arr)
    lis = longest_increasing_subsequence(positions_b)
    return {"count": n, "spearman": spearman(arr), "lis": lis, "lis_fraction": lis / n if n else None}


def _side(v: Vocabulary, only: list[bytes], only_positions: list[int], last_shared: int, examples: int | None) -> dict:
    appended = bool(only) and min(only_positions) > last_shared
    groups = group_by_kind(only)
    return {
        "name": v.name,
        "source": v.source,
        "model": v.model,
        "regular_tokens": len(v),
        "special_tokens": len(v.specials),
        "pattern": v.pattern,
        "normalizer": v.normalizer,
        "byte_order": v.byte_order,
        "only": len(only),
        "only_appended": appended,
        "only_by_kind": {k: len(g) for k, g in groups.items()},
        "only_examples": {k: [_show(t) for t in g[:examples]] for k, g in groups.items()},
    }


def _show(token: bytes) -> str:
    try:
        return token.decode("utf-8")
    except UnicodeDecodeError:
        return repr(token)


def compare_vocabularies(
    a: Vocabulary, b: Vocabulary, *, merges: bool = True, examples: int | None = EXAMPLES
) -> LineageReport:
    """Every feature of B6 for `a` against `b`, and the verdict with its evidence. `merges=False` skips
    the merge agreement (the slow part for tiktoken files, whose merges must be recovered); `examples`
    is how many tokens of each kind of the tokens only in one side to list (None: all of them)."""
    pos_b = {t: i for i, t in enumerate(b.tokens)}
    get = pos_b.get
    shared_pos_a, shared_pos_b, only_a, only_a_pos = [], [], [], []
    for i, t in enumerate(a.tokens):
        j = get(t)
        if j is None:
            only_a.append(t)
            only_a_pos.append(i)
        else:
            shared_pos_a.append(i)
            shared_pos_b.append(j)
    n_shared = len(shared_pos_a)
    in_a = np.zeros(len(b), dtype=bool)
    in_a[shared_pos_b] = True
    only_b_pos = np.flatnonzero(~in_a).tolist()
    only_b = [b.tokens[j] for j in only_b_pos]

    ids_a, ids_b = np.asarray(a.ids), np.asarray(b.ids)
    same_id = int(np.count_nonzero(ids_a[shared_pos_a] == ids_b[shared_pos_b])) if n_shared else 0
    lcp = 0
    for x, y in zip(a.tokens, b.tokens):
        if x != y:
            break
        lcp += 1
    multi = [j for i, j in zip(shared_pos_a, shared_pos_b) if len(a.tokens[i]) > 1]
    union = len(a) + len(b) - n_shared
    data = {
        "a": _side(a, only_a, only_a_pos, shared_pos_a[-1] if n_shared else -1, examples),
        "b": _side(b, only_b, only_b_pos, max(shared_pos_b) if n_shared else -1, examples),
        "shared": {
            "count": n_shared,
            "jaccard": n_shared / union if union else 1.0,
            "containment_a": n_shared / len(a) if len(a) else None,
            "containment_b": n_shared / len(b) if len(b) else None,
            "same_id": same_id,
        },
        "order": _order_stats(shared_pos_b),
        "order_multibyte": _order_stats(multi),
        "common_prefix": {
            "length": lcp,
            "a": _show(a.tokens[lcp]) if lcp < len(a) else None,
            "b": _show(b.tokens[lcp]) if lcp < len(b) else None,
        },
        "merges": _merge_agreement(a, b) if merges else None,
        "specials": _specials(a.specials, b.specials),
        "same_pattern": a.pattern == b.pattern if a.pattern and b.pattern else None,
        "same_normalizer": a.normalizer == b.normalizer,
    }
    data["verdict"] = _verdict(data, a, b)
    return LineageReport(data)


def _merge_agreement(a: Vocabulary, b: Vocabulary) -> dict | None:
    if not (a.has_merges and b.has_merges):
        return None
    out = {}
    for k in MERGE_PREFIXES:
        ma, mb = a.merges(k), b.merges(k)
        n = min(len(ma), len(mb))
        if n < k and out:
            break
        same = sum(1 for x, y in zip(ma[:n], mb[:n]) if x == y and x is not None)
        both = len({m for m in ma[:n] if m} & {m for m in mb[:n] if m})
        out[str(k)] = {"compared": n, "same_position": same, "in_both": both}
    return out


def _specials(sa: dict[str, int], sb: dict[str, int]) -> dict:
    common = [s for s in sa if s in sb]
    return {
        "a": sa,
        "b": sb,
        "common": len(common),
        "same_id": sum(1 for s in common if sa[s] == sb[s]),
        "only_a": [s for s in sa if s not in sb],
        "only_b": [s for s in sb if s not in sa],
    }


def _verdict(d: dict, a: Vocabulary, b: Vocabulary) -> dict:
    shared, order, multi, pa, pb = d["shared"], d["order"], d["order_multibyte"], d["a"], d["b"]
    evidence: list[str] = []
    if a.tokens == b.tokens and a.ids == b.ids:
        evidence.append(f"all {len(a):,} regular tokens identical, id for id")
        differences = []
        if d["specials"]["only_a"] or d["specials"]["only_b"] or d["specials"]["same_id"] != d["specials"]["common"]:
            differences.append("special tokens")
        if d["same_pattern"] is False:
            differences.append("pre-tokenizer regex")
        if not d["same_normalizer"]:
            differences.append("normaliser")
        if differences:
            evidence.append("differ in: " + ", ".join(differences))
        return {"verdict": "same", "direction": None, "differences": differences, "evidence": evidence}

    smaller = min(len(a), len(b)) or 1
    containment = shared["count"] / smaller
    lis_frac = multi["lis_fraction"] or 0.0
    same_set = pa["only"] == 0 and pb["only"] == 0
    kept = (
        multi["count"] >= DERIVED_MIN_SHARED and containment >= DERIVED_MIN_CONTAINMENT and lis_frac >= DERIVED_MIN_LIS
    )
    evidence.append(
        f"{shared['count']:,} shared tokens ({containment:.1%} of the smaller vocabulary, Jaccard {shared['jaccard']:.4f})"
    )
    evidence.append(
        f"shared multi-byte tokens in the same relative order: LIS {multi['lis']:,} of {multi['count']:,}"
        f" ({lis_frac:.4f}), Spearman {_num(multi['spearman'])}"
    )
    evidence.append(f"common rank prefix {d['common_prefix']['length']:,}")
    if not (kept or (same_set and len(a) >= DERIVED_MIN_SHARED)):
        if multi["count"] < DERIVED_MIN_SHARED:
            evidence.append(f"fewer than {DERIVED_MIN_SHARED} shared multi-byte tokens: too few to show a common origin")
        else:
            evidence.append(f"order not kept (LIS fraction below {DERIVED_MIN_LIS}; independent BPEs stay far below it)")
        return {"verdict": "independent", "direction": None, "evidence": evidence}

    renumbered = order["lis_fraction"] is not None and order["lis_fraction"] < 1.0
    moved = order["count"] - order["lis"]
    direction = _direction(pa, pb)
    base, derived = (pb, pa) if direction != "b_from_a" else (pa, pb)
    changes = {
        "removed": base["only"] if direction else None,
        "added": derived["only"] if direction else None,
        "appended": derived["only_appended"] if direction else None,
        "renumbered": renumbered,
        "moved": moved,
    }
    if same_set and renumbered:
        evidence.append(f"same {len(a):,} tokens, {moved:,} of them out of order: renumbered")
    elif same_set:
        evidence.append(f"same {len(a):,} tokens in the same order, {len(a) - shared['same_id']:,} with other ids")
    elif renumbered:
        evidence.append(f"{moved:,} shared tokens change their relative order")
    if direction:
        kinds = ", ".join(f"{n:,} {k}" for k, n in base["only_by_kind"].items())
        removed = f" without {base['only']:,} of its tokens ({kinds})" if base["only"] else ""
        tail = " appended after the shared ones" if derived["only_appended"] else ""
        added = f" plus {derived['only']:,} tokens{tail}" if derived["only"] else ""
        evidence.append(f"{derived['name']} = {base['name']}{removed}{added}")
    return {"verdict": "derived", "direction": direction, "changes": changes, "evidence": evidence}


def _direction(pa: dict, pb: dict) -> str | None:
    """"a_from_b" or "b_from_a": the derived side is the one with an appended tail of its own tokens,
    or, when one vocabulary holds the other, the extended (tail) or pruned (no tail) one."""
    if not pa["only"] and not pb["only"]:
        return None
    if not pa["only"]:
        return "b_from_a" if pb["only_appended"] else "a_from_b"
    if not pb["only"]:
        return "a_from_b" if pa["only_appended"] else "b_from_a"
    if pa["only_appended"] != pb["only_appended"]:
        return "a_from_b" if pa["only_appended"] else "b_from_a"
    return None


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.6f}"
