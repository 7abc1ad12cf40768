"""A histogram of sample lengths per model as a PNG, drawn with Pillow's ImageDraw (no plotting library).

One panel per model, stacked, sharing the x axis (tokens per sample) so the models compare at a glance;
equal-width bins from 0 (numpy.histogram's binning: each bin holds [left, right), the last [left,
right]); y axis: samples per bin. The max_length is a red vertical line with its value, in every panel.
`histogram_png` returns the layout it drew with, so callers (and tests) can map values to pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidOptionError

COLORS = [(31, 119, 180), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207), (140, 86, 75)]
LINE = (214, 39, 40)
AXIS = (0, 0, 0)
BACKGROUND = (255, 255, 255)
GRID = (225, 225, 225)
LEFT, RIGHT, TOP, BOTTOM, GAP = 70, 30, 40, 45, 36


@dataclass
class Panel:
    model: str
    top: int  # pixel row of the panel's y maximum
    bottom: int  # pixel row of the x axis (count 0)
    counts: list[int]
    y_max: int  # the count the top row stands for
    color: tuple[int, int, int]

    def bar_height(self, count: int) -> int:
        return round(count / self.y_max * (self.bottom - self.top))


@dataclass
class Layout:
    width: int
    height: int
    x0: int  # pixel column of value 0
    x1: int  # pixel column of value x_max
    x_max: float
    edges: list[float]
    panels: list[Panel] = field(default_factory=list)
    max_length: int | None = None

    def x_to_px(self, value: float) -> int:
        return self.x0 + round(value / self.x_max * (self.x1 - self.x0))

    def bar_span(self, j: int) -> tuple[int, int]:
        """First and last pixel column of bin j's bar."""
        left, right = self.x_to_px(self.edges[j]), self.x_to_px(self.edges[j + 1])
        return left + 1, max(left + 1, right - 1)


def nice_step(span: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 times a power of ten step giving about `ticks` intervals over span."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _label(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def histogram_png(
    totals: dict[str, list[int]],
    path,
    *,
    max_length: int | None = None,
    bins: int = 40,
    width: int = 900,
    panel_height: int = 200,
    title: str | None = None,
) -> Layout:
    """Draw one panel per model (dict order) of the lengths in `totals` and save a PNG at `path`."""
    from PIL import Image, ImageDraw, ImageFont

    if not totals:
        raise InvalidOptionError("no model to draw a histogram for")
    if bins < 1 or width < LEFT + RIGHT + bins or panel_height < 40:
        raise InvalidOptionError(f"histogram too small: width {width} for {bins} bins, panel height {panel_height}")
    arrays = {m: np.asarray(v, dtype=np.int64) for m, v in totals.items()}
    arrays = {m: a[a >= 0] for m, a in arrays.items()}
    top_value = max([int(a.max()) for a in arrays.values() if a.size] + [max_length or 0, 1])
    step = nice_step(top_value * 1.05)
    x_max = math.ceil(top_value * 1.05 / step) * step
    edges = np.linspace(0, x_max, bins + 1)
    height = TOP + len(arrays) * (panel_height + GAP) - GAP + BOTTOM
    layout = Layout(width, height, LEFT, width - RIGHT, float(x_max), [float(e) for e in edges], max_length=max_length)

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((width // 2, 8), title or "tokens per sample", fill=AXIS, font=font, anchor="mt")
    ticks = np.arange(0, x_max + step / 2, step)
    for i, (model, values) in enumerate(arrays.items()):
        counts = np.histogram(values, bins=edges)[0].astype(int).tolist() if values.size else [0] * bins
        peak = max(counts + [1])
        y_step = nice_step(peak, 4)
        y_max = int(math.ceil(peak / y_step) * y_step)
        top = TOP + i * (panel_height + GAP)
        panel = Panel(model, top, top + panel_height, counts, y_max, COLORS[i % len(COLORS)])
        layout.panels.append(panel)
        for y_tick in np.arange(0, y_max + y_step / 2, y_step):
            y = panel.bottom - panel.bar_height(int(y_tick))
            if y_tick:
                draw.line([(layout.x0 + 1, y), (layout.x1, y)], fill=GRID)
            draw.line([(layout.x0 - 4, y), (layout.x0, y)], fill=AXIS)
            draw.text((layout.x0 - 6, y), _label(float(y_tick)), fill=AXIS, font=font, anchor="rm")
        for j, count in enumerate(counts):
            h = panel.bar_height(count)
            if h:
                left, right = layout.bar_span(j)
                draw.rectangle([(left, panel.bottom - h), (right, panel.bottom - 1)], fill=panel.color)
        draw.line([(layout.x0, panel.top), (layout.x0, panel.bottom)], fill=AXIS)
        draw.line([(layout.x0, panel.bottom), (layout.x1, panel.bottom)], fill=AXIS)
        for x_tick in ticks:
            x = layout.x_to_px(float(x_tick))
            draw.line([(x, panel.bottom), (x, panel.bottom + 4)], fill=AXIS)
            draw.text((x, panel.bottom + 6), _label(float(x_tick)), fill=AXIS, font=font, anchor="mt")
        label = f"{model}: {int(values.size):,} samples"
        draw.text((layout.x1, panel.top - 4), label, fill=panel.color, font=font, anchor="rb")
        if max_length is not None:
            x = layout.x_to_px(max_length)
            draw.line([(x, panel.top), (x, panel.bottom - 1)], fill=LINE, width=1)
            draw.text((x + 4, panel.top + 2), f"max_length {max_length:,}", fill=LINE, font=font, anchor="lt")
    draw.text((width // 2, height - 6), "tokens per sample", fill=AXIS, font=font, anchor="mb")
    image.save(path, format="PNG")
    return layout


__all__ = ["Layout", "Panel", "histogram_png", "nice_step"]
