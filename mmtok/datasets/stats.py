"""Length statistics of a dataset per model, and the largest image budget that keeps samples in a budget.

Inputs are the per-record columns of `mmtok.datasets.task.RecordTask` (f"{model}/text_tokens",
".../visual_tokens", ".../total_tokens", -1 where a record could not be measured; "image_sizes").
Percentiles are numpy's default (linear interpolation between order statistics, numpy.percentile).

`suggest_max_pixels` searches the model's `max_pixels` option on its resize grid (multiples of
(patch_size * merge_size)**2, the unit smart_resize rounds areas to; transformers 5.23
`models/qwen2_vl/image_processing_qwen2_vl.smart_resize`): a sample's length under a budget is its
text tokens plus, per image, the tokens the family's `plan_size` gives under that budget, vision
start/end markers included (as `Measurer` counts the whole media span). Every image's token count is
non-decreasing in max_pixels, so the share of samples within budget is too, and a binary search finds
the largest max_pixels at which at least `percentile`% of the samples fit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidOptionError, MmtokError

PERCENTILES = (50, 90, 95, 99)
KINDS = ("text", "visual", "total")


@dataclass
class Summary:
    """count, mean, p50/p90/p95/p99 and max of one length column (measurable records only)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: int | None

    @classmethod
    def of(cls, values) -> Summary:
        a = np.asarray(values, dtype=np.int64)
        if a.size == 0:
            return cls(0, None, None, None, None, None, None)
        p = np.percentile(a, PERCENTILES)
        return cls(int(a.size), float(a.mean()), *(float(x) for x in p), int(a.max()))

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass
class ModelStats:
    """Lengths of one model over a dataset. `unmeasurable`: records with -1 (left out of the numbers);
    `over`: measurable records longer than max_length (None without a max_length)."""

    model: str
    records: int
    unmeasurable: int
    text: Summary
    visual: Summary
    total: Summary
    max_length: int | None = None
    over: int | None = None
    totals: np.ndarray = field(default=None, repr=False)  # the measurable totals, for histograms

    @property
    def over_share(self) -> float | None:
        if self.over is None or not self.total.count:
            return None
        return self.over / self.total.count

    def to_dict(self) -> dict:
        out = {"model": self.model, "records": self.records, "measured": self.total.count, "unmeasurable": self.unmeasurable}
        for kind in KINDS:
            out[f"{kind}_tokens"] = getattr(self, kind).to_dict()
        if self.max_length is not None:
            share = None if self.over_share is None else round(self.over_share, 6)
            out.update(max_length=self.max_length, over_max_length=self.over, over_share=share)
        return out


def model_stats(columns: dict[str, list], model: str, max_length: int | None = None) -> ModelStats:
    """Statistics of one model from RecordTask columns (f"{model}/text_tokens" etc.)."""
    arrays = {}
    for kind in KINDS:
        key = f"{model}/{kind}_tokens"
        if key not in columns:
            raise InvalidOptionError(f"no column {key!r}; run the RecordTask with models=[{model!r}]")
        arrays[kind] = np.asarray(columns[key], dtype=np.int64)
    total = arrays["total"]
    ok = total >= 0
    summaries = {kind: Summary.of(arrays[kind][ok]) for kind in KINDS}
    over = int(np.count_nonzero(total[ok] > max_length)) if max_length is not None else None
    return ModelStats(model, int(total.size), int(np.count_nonzero(~ok)), max_length=max_length, over=over, totals=total[ok], **summaries)


def compare(columns: dict[str, list], models: list[str], max_length: int | None = None) -> list[ModelStats]:
    return [model_stats(columns, model, max_length) for model in models]


def table_rows(stats: list[ModelStats]) -> tuple[list[str], list[list[str]]]:
    """One table comparing models: a row per model and kind of length."""
    header = ["model", "tokens", "count", "mean", "p50", "p90", "p95", "p99", "max"]
    with_max = any(s.max_length is not None for s in stats)
    if with_max:
        header += ["over max", "share"]
    rows = []
    for s in stats:
        for kind in KINDS:
            summary = getattr(s, kind)
            row = [s.model if kind == "text" else "", kind, f"{summary.count:,}"]
            if summary.count:
                row += [f"{summary.mean:,.1f}"] + [f"{getattr(summary, f'p{p}'):,.0f}" for p in PERCENTILES] + [f"{summary.max:,}"]
            else:
                row += ["-"] * 6
            if with_max:
                row += [f"{s.over:,}", f"{100 * (s.over_share or 0):.2f}%"] if kind == "total" and s.over is not None else ["", ""]
            rows.append(row)
    return header, rows


# --- max_pixels suggestion -------------------------------------------------------------------------


def _grid_unit(family) -> int:
    spec = getattr(family, "spec", None)
    if "max_pixels" not in getattr(family, "limits", {}) or spec is None or not hasattr(spec, "factor"):
        raise InvalidOptionError(
            f"model {family.name!r} has no max_pixels budget to tune; --suggest-max-pixels works for "
            "Qwen2-VL-style models (qwen2-vl, qwen2.5-vl, qwen3-vl)"
        )
    return spec.factor**2


class _Sizes:
    """The samples' images as indices into the distinct sizes, so each size is planned once per budget."""

    def __init__(self, image_sizes: list):
        self.distinct: list[tuple[int, int]] = []
        index: dict[tuple[int, int], int] = {}
        flat, owner = [], []
        for sample, sizes in enumerate(image_sizes):
            if isinstance(sizes, str):
                sizes = json.loads(sizes)
            for h, w in sizes:
                key = (int(h), int(w))
                if key not in index:
                    index[key] = len(self.distinct)
                    self.distinct.append(key)
                flat.append(index[key])
                owner.append(sample)
        self.flat = np.asarray(flat, dtype=np.int64)
        self.owner = np.asarray(owner, dtype=np.int64)
        self.samples = len(image_sizes)

    def visual(self, tokens: np.ndarray) -> np.ndarray:
        """Per sample: the sum of its images' tokens given tokens per distinct size."""
        return np.bincount(self.owner, weights=tokens[self.flat], minlength=self.samples).astype(np.int64)


def image_tokens(family, sizes: list[tuple[int, int]]) -> np.ndarray:
    """Tokens each size brings under the family's budget (the whole span: start/end markers included);
    -1 for a size the family refuses (e.g. an aspect ratio over its limit)."""
    out = np.empty(len(sizes), dtype=np.int64)
    for i, size in enumerate(sizes):
        try:
            out[i] = family.plan_size(size).total
        except MmtokError:
            out[i] = -1
    return out


def within_share(totals: np.ndarray, budget: int) -> float:
    return float(np.count_nonzero(totals <= budget)) / totals.size if totals.size else 1.0


def suggest_max_pixels(
    image_sizes: list,
    text_tokens: list[int],
    model: str,
    budget: int,
    percentile: float = 95.0,
    *,
    other_tokens: list[int] | None = None,
    min_pixels: int | None = None,
    upper: int | None = None,
    **options,
) -> int | None:
    """The largest max_pixels (a multiple of the model's (patch * merge)**2, between min_pixels and
    `upper`, by default the checkpoint's max_pixels) at which at least `percentile`% of the samples
    have text tokens + image tokens (+ `other_tokens`, e.g. video tokens, which the image budget does not
    change) <= budget; None when even max_pixels = min_pixels leaves more than that over budget.

    image_sizes: per sample, its images' (height, width) (or the JSON text of that list, as RecordTask
    writes it). Samples with text_tokens < 0 (not measurable) or an image the model refuses are left out.
    """
    from ..vision.families import get_family

    if not 0 < percentile <= 100:
        raise InvalidOptionError(f"percentile must be in (0, 100]; got {percentile}")
    if len(image_sizes) != len(text_tokens) or (other_tokens is not None and len(other_tokens) != len(text_tokens)):
        raise InvalidOptionError("image_sizes, text_tokens (and other_tokens) need one entry per sample")
    options = {k: v for k, v in options.items() if k not in ("min_pixels", "max_pixels")}
    base = get_family(model, **options, **({} if min_pixels is None else {"min_pixels": min_pixels}))
    unit = _grid_unit(base)
    min_pixels = base.min_pixels
    upper = base.max_pixels if upper is None else upper
    k_lo, k_hi = max(1, math.ceil(min_pixels / unit)), upper // unit
    if k_hi < k_lo:
        raise InvalidOptionError(f"upper ({upper:,}) is below min_pixels ({min_pixels:,}) on the {unit}-pixel grid")
    sizes = _Sizes(image_sizes)
    fixed = np.asarray(text_tokens, dtype=np.int64)
    if other_tokens is not None:
        fixed = fixed + np.asarray(other_tokens, dtype=np.int64)
    keep = np.asarray(text_tokens, dtype=np.int64) >= 0

    def totals(k: int) -> tuple[np.ndarray, np.ndarray]:
        family = get_family(model, **options, min_pixels=min_pixels, max_pixels=k * unit)
        tokens = image_tokens(family, sizes.distinct)
        refused = np.bincount(sizes.owner, weights=(tokens[sizes.flat] < 0), minlength=sizes.samples) > 0
        return fixed + sizes.visual(tokens), refused

    _, refused = totals(k_lo)  # a refused size is refused under every budget (aspect ratio, empty side)
    keep &= ~refused
    need = percentile / 100

    def fits(k: int) -> bool:
        return within_share(totals(k)[0][keep], budget) >= need

    if not fits(k_lo):
        return None
    if fits(k_hi):
        return k_hi * unit
    lo, hi = k_lo, k_hi  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo * unit


__all__ = ["ModelStats", "Summary", "compare", "image_tokens", "model_stats", "suggest_max_pixels", "table_rows", "within_share"]
