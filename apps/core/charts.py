"""Server-side SVG charts for the admin: no JavaScript, no CDN, no outside request.

Each builder returns a SafeString holding one <svg> element. Every label that reaches the markup (titles,
axis labels, series and category names, tooltips) is escaped with django.utils.html.escape, so customer or
tier names cannot inject markup. Charts are accessible: role="img", an aria-label and a <title> naming the
chart, and a <title> tooltip on every drawn mark. With no data a chart says "No data yet".

    line_chart([Series(_("Growth"), [(0, 1.0), (30, 0.8)], step=True)], title=..., marker=Marker(...))
    bar_chart(["Gold", "Silver"], [BarSeries(_("Growth"), [3, 5]), ...], title=..., stacked=True)
    heatmap(["2026-01", "2026-02"], ["0", "1"], [[1.0, 0.4], [1.0, None]], title=...)

x values of a line chart may be numbers or dates (ticks are then dates). The plot area is drawn as
<rect class="clv-plot">, so a point's position can be checked against it: x = plot.x + (x - x_min) / (x_max -
x_min) × plot.width, y = plot.y + plot.height − (y − y_min) / (y_max − y_min) × plot.height.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

NO_DATA = _("No data yet")

# Colour-blind safe (Okabe–Ito), darkest first so the first series reads on white.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999999"]
TEXT = "#333333"
MUTED = "#666666"
GRID = "#e5e5e5"
AXIS = "#999999"
FONT = "system-ui, -apple-system, 'Segoe UI', 'PingFang SC', 'Microsoft YaHei', sans-serif"

MARGIN_LEFT = 64
MARGIN_RIGHT = 24
MARGIN_TOP = 40
MARGIN_BOTTOM = 52
LEGEND_ROW = 20
FONT_SIZE = 12

Number = float | int
Formatter = Callable[[float], str]


@dataclass
class Series:
    """One line. `step` draws a right-continuous step curve (Kaplan–Meier); `dots` marks every point (default:
    lines of at most 60 points that are not steps)."""

    label: str
    points: Sequence[tuple]
    step: bool = False
    dots: bool | None = None
    color: str | None = None
    dashed: bool = False


@dataclass
class Marker:
    """A highlighted point with a drop line to the x axis and a label, e.g. P(purchase within 90 days)."""

    x: Number | date
    y: Number
    label: str


@dataclass
class BarSeries:
    label: str
    values: Sequence[Number | None]
    color: str | None = None
    links: Sequence[str | None] | None = None  # a URL per value: the bar opens what it counts


# --- formatting -------------------------------------------------------------------------------------------


def _n(value: float) -> str:
    """A coordinate: at most 2 decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def number(value: float) -> str:
    """A tick or tooltip number: thousands separated, at most 2 significant decimals."""
    if value is None:
        return "—"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.1f}".rstrip("0").rstrip(".")
    return f"{value:.3f}".rstrip("0").rstrip(".")


def percent(value: float) -> str:
    """0.724 → '72%' (one decimal below 10%)."""
    if value is None:
        return "—"
    pct = value * 100.0
    return f"{pct:.1f}%" if 0 < abs(pct) < 10 else f"{pct:.0f}%"


def _text_width(text: str) -> float:
    """Rough rendered width at FONT_SIZE: wide (CJK) characters count double."""
    return sum(FONT_SIZE * (1.0 if ord(ch) > 0x2E80 else 0.6) for ch in str(text))


def _short(text: str, width: float) -> str:
    text = str(text)
    if _text_width(text) <= width:
        return text
    while text and _text_width(text + "…") > width:
        text = text[:-1]
    return text + "…"


def nice_ticks(low: float, high: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high] (about `count` of them); whole numbers only with `integer`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (1, 2, 2.5, 5, 10) if not integer or float(m * magnitude).is_integer()]
    step = next((s for s in steps if s >= raw - 1e-12), None) or max(1.0, 10 * magnitude)
    start = math.floor(low / step + 1e-9) * step
    ticks = []
    value = start
    while value <= high + step * 1e-6:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high - 1e-9:
        ticks.append(round(value, 10))
    return ticks


# --- the frame every chart shares --------------------------------------------------------------------------


class _Svg:
    def __init__(self, kind: str, title: str, width: int, height: int, description: str = ""):
        self.kind, self.title, self.width, self.height = kind, str(title), width, height
        self.description = str(description)
        self.parts: list[str] = []

    def add(self, markup: str) -> None:
        self.parts.append(markup)

    def text(self, x, y, content, *, anchor="start", cls="", size=FONT_SIZE, color=TEXT, weight="", extra=""):
        attrs = f'x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" fill="{color}"'
        if cls:
            attrs += f' class="{cls}"'
        if weight:
            attrs += f' font-weight="{weight}"'
        if extra:
            attrs += " " + extra
        self.add(f"<text {attrs}>{escape(content)}</text>")

    def render(self) -> SafeString:
        title = escape(self.title)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="clv-chart clv-chart-{self.kind}" role="img" '
            f'aria-label="{title}" viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
            f'height="{self.height}" style="max-width:100%;height:auto" font-family="{escape(FONT)}">'
            f"<title>{title}</title>"
        )
        if self.description:
            head += f"<desc>{escape(self.description)}</desc>"
        self.parts.insert(0, head)
        self.parts.append("</svg>")
        return mark_safe("".join(self.parts))  # noqa: S308 - every label above went through escape()


def _empty(kind: str, title: str, width: int, height: int, message) -> SafeString:
    svg = _Svg(kind, title, width, height, description=str(message or NO_DATA))
    svg.text(width / 2, 24, title, anchor="middle", cls="clv-chart-title", size=14, weight="600")
    svg.add(
        f'<rect class="clv-plot" x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{width - MARGIN_LEFT - MARGIN_RIGHT}" '
        f'height="{height - MARGIN_TOP - MARGIN_BOTTOM}" fill="#fafafa" stroke="{GRID}"/>'
    )
    svg.text(width / 2, height / 2, message or NO_DATA, anchor="middle", cls="clv-chart-empty", color=MUTED)
    return svg.render()


def _legend_rows(labels: list[str], width: float) -> list[list[tuple[int, str, float]]]:
    """Legend items (index, label, item width) wrapped into rows that fit `width`."""
    rows: list[list[tuple[int, str, float]]] = [[]]
    used = 0.0
    for index, label in enumerate(labels):
        text = _short(label, width - 40)
        item = 22 + _text_width(text) + 16
        if rows[-1] and used + item > width:
            rows.append([])
            used = 0.0
        rows[-1].append((index, text, item))
        used += item
    return rows if rows[0] else []


def _draw_legend(svg: _Svg, rows, colors: list[str], top: float, *, swatch="line") -> None:
    svg.add('<g class="clv-legend">')
    for r, row in enumerate(rows):
        x = MARGIN_LEFT
        y = top + r * LEGEND_ROW
        for index, text, item in row:
            color = colors[index]
            if swatch == "line":
                svg.add(
                    f'<line x1="{_n(x)}" y1="{_n(y)}" x2="{_n(x + 16)}" y2="{_n(y)}" stroke="{color}" '
                    'stroke-width="3"/>'
                )
            else:
                svg.add(f'<rect x="{_n(x + 2)}" y="{_n(y - 6)}" width="12" height="12" fill="{color}"/>')
            svg.text(x + 22, y + 4, text, cls="clv-legend-label")
            x += item
    svg.add("</g>")


def _to_number(value) -> float:
    if isinstance(value, datetime):
        return value.timestamp() / 86400.0
    if isinstance(value, date):
        return float(value.toordinal())
    return float(value)


def _date_ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = max(high - low, 1.0)
    step = max(1, math.ceil(span / max(count - 1, 1)))
    ticks = [float(low + i * step) for i in range(count + 1) if low + i * step <= high + 1e-9]
    return ticks or [low]


# --- line chart --------------------------------------------------------------------------------------------


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 300,
    x_range: tuple | None = None,
    y_range: tuple[float, float] | None = None,
    x_format: Formatter | None = None,
    y_format: Formatter | None = None,
    marker: Marker | None = None,
    description: str = "",
    empty_message=None,
) -> SafeString:
    """Several lines on shared axes: trend lines (dots at each point) or step curves (survival, Kaplan–Meier).

    x values are numbers or dates (date ticks, ISO formatted, unless `x_format` is given). `y_range` fixes the
    y axis (e.g. (0, 1) for probabilities, with `y_format=percent`); otherwise it is fitted to the data.
    """
    drawn = [s for s in series if any(p[1] is not None for p in s.points)]
    if not drawn:
        return _empty("line", title, width, height, empty_message)
    dates = any(isinstance(p[0], date) for s in drawn for p in s.points)
    if dates and x_format is None:
        x_format = _date_label
    x_format = x_format or number
    y_format = y_format or number
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(drawn)]

    xs = [_to_number(p[0]) for s in drawn for p in s.points if p[1] is not None]
    ys = [float(p[1]) for s in drawn for p in s.points if p[1] is not None]
    if marker is not None:
        xs.append(_to_number(marker.x))
        ys.append(float(marker.y))
    x_min, x_max = (_to_number(x_range[0]), _to_number(x_range[1])) if x_range else (min(xs), max(xs))
    if x_max == x_min:
        # one x (e.g. a customer scored by one run so far): the point in the middle, its own tick only
        x_ticks = [x_min]
        x_min, x_max = x_min - (3 if dates else 0.5), x_max + (3 if dates else 0.5)
    else:
        x_ticks = _date_ticks(x_min, x_max) if dates else nice_ticks(x_min, x_max)
        if not x_range and not dates:
            x_min, x_max = min(x_ticks[0], x_min), max(x_ticks[-1], x_max)
    x_ticks = [t for t in x_ticks if x_min - 1e-9 <= t <= x_max + 1e-9]
    if y_range:
        y_min, y_max = y_range
        y_ticks = [t for t in nice_ticks(y_min, y_max) if y_min - 1e-9 <= t <= y_max + 1e-9]
    else:
        y_ticks = nice_ticks(min(0.0, min(ys)), max(ys))
        y_min, y_max = y_ticks[0], y_ticks[-1]
    if y_max == y_min:
        y_max = y_min + 1

    legend = _legend_rows([str(s.label) for s in drawn], width - MARGIN_LEFT - MARGIN_RIGHT)
    total_height = height + len(legend) * LEGEND_ROW + 8
    left, top = MARGIN_LEFT, MARGIN_TOP
    plot_w, plot_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_min) / (y_max - y_min) * plot_h

    svg = _Svg("line", title, width, total_height, description)
    _frame(svg, title, x_label, y_label, left, top, plot_w, plot_h, width, height)
    _y_axis(svg, y_ticks, py, y_format, left, plot_w)
    svg.add('<g class="clv-axis clv-axis-x">')
    for tick in x_ticks:
        x = px(tick)
        svg.add(
            f'<line x1="{_n(x)}" y1="{_n(top + plot_h)}" x2="{_n(x)}" y2="{_n(top + plot_h + 5)}" stroke="{AXIS}"/>'
        )
        svg.text(x, top + plot_h + 18, x_format(tick), anchor="middle", cls="clv-tick")
    svg.add("</g>")

    for index, (item, color) in enumerate(zip(drawn, colors, strict=True)):
        points = sorted(
            ((_to_number(x), float(y), x) for x, y in item.points if y is not None), key=lambda p: p[0]
        )
        label = escape(item.label)
        commands = []
        for i, (x, y, _raw) in enumerate(points):
            if i == 0:
                commands.append(f"M{_n(px(x))} {_n(py(y))}")
            elif item.step:
                commands.append(f"H{_n(px(x))} V{_n(py(y))}")
            else:
                commands.append(f"L{_n(px(x))} {_n(py(y))}")
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        svg.add(f'<g class="clv-series" data-series="{index}">')
        svg.add(
            f'<path class="clv-line" d="{" ".join(commands)}" fill="none" stroke="{color}" stroke-width="2"'
            f'{dash} stroke-linejoin="round"><title>{label}</title></path>'
        )
        dots = item.dots if item.dots is not None else (not item.step and len(points) <= 60)
        if dots:
            for x, y, raw in points:
                tip = f"{item.label}: {_format_x(raw, x_format)}, {y_format(y)}"
                svg.add(
                    f'<circle class="clv-point" cx="{_n(px(x))}" cy="{_n(py(y))}" r="3" fill="{color}">'
                    f"<title>{escape(tip)}</title></circle>"
                )
        svg.add("</g>")

    if marker is not None:
        mx, my = px(_to_number(marker.x)), py(float(marker.y))
        label = escape(marker.label)
        anchor = "end" if mx > left + plot_w * 0.6 else "start"
        dx = -8 if anchor == "end" else 8
        svg.add(
            f'<g class="clv-marker"><title>{label}</title>'
            f'<line x1="{_n(mx)}" y1="{_n(top + plot_h)}" x2="{_n(mx)}" y2="{_n(my)}" stroke="{TEXT}" '
            'stroke-dasharray="3 3"/>'
            f'<circle cx="{_n(mx)}" cy="{_n(my)}" r="5" fill="#ffffff" stroke="{TEXT}" stroke-width="2"/>'
        )
        svg.text(mx + dx, my - 10, marker.label, anchor=anchor, cls="clv-marker-label", weight="600")
        svg.add("</g>")

    _draw_legend(svg, legend, colors, height + 6)
    return svg.render()


def _date_label(value: float) -> str:
    return date.fromordinal(int(round(value))).isoformat()


def _format_x(raw, x_format: Formatter) -> str:
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    return x_format(float(raw))


def _frame(svg: _Svg, title, x_label, y_label, left, top, plot_w, plot_h, width, height) -> None:
    svg.text(width / 2, 24, title, anchor="middle", cls="clv-chart-title", size=14, weight="600")
    svg.add(
        f'<rect class="clv-plot" x="{_n(left)}" y="{_n(top)}" width="{_n(plot_w)}" height="{_n(plot_h)}" '
        'fill="#ffffff"/>'
    )
    if x_label:
        svg.text(left + plot_w / 2, height - 12, x_label, anchor="middle", cls="clv-axis-label", color=MUTED)
    if y_label:
        cy = top + plot_h / 2
        svg.text(
            14,
            cy,
            y_label,
            anchor="middle",
            cls="clv-axis-label",
            color=MUTED,
            extra=f'transform="rotate(-90 14 {_n(cy)})"',
        )


def _y_axis(svg: _Svg, ticks, py, y_format: Formatter, left, plot_w) -> None:
    svg.add('<g class="clv-axis clv-axis-y">')
    for tick in ticks:
        y = py(tick)
        svg.add(f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" y2="{_n(y)}" stroke="{GRID}"/>')
        svg.text(left - 8, y + 4, y_format(tick), anchor="end", cls="clv-tick")
    bottom = py(ticks[0]) if ticks else None
    if bottom is not None:
        svg.add(
            f'<line x1="{_n(left)}" y1="{_n(bottom)}" x2="{_n(left + plot_w)}" y2="{_n(bottom)}" stroke="{AXIS}"/>'
        )
    svg.add("</g>")


# --- bar chart ---------------------------------------------------------------------------------------------


def bar_chart(
    categories: Sequence[str],
    series: Sequence[BarSeries],
    *,
    title: str,
    stacked: bool = True,
    x_label: str = "",
    y_label: str = "",
    width: int = 640,
    height: int = 300,
    y_format: Formatter | None = None,
    description: str = "",
    empty_message=None,
    tick_labels: Sequence[str] | None = None,
) -> SafeString:
    """Bars per category, one colour per series, stacked (totals above each stack) or grouped side by side.
    Zero and missing values draw no bar. `tick_labels` (one per category) are shown under the bars instead of
    the categories, which the bars' tooltips keep in full (a date under a narrow bar, the stream's title in
    its tooltip)."""
    y_format = y_format or number
    values = [[float(v or 0) for v in s.values] for s in series]
    if tick_labels is not None and len(tick_labels) != len(categories):
        raise ValueError("tick_labels needs one label per category")
    if not categories or not series or not any(v > 0 for row in values for v in row):
        return _empty("bar", title, width, height, empty_message)
    for row in values:
        if len(row) != len(categories):
            raise ValueError("every bar series needs one value per category")
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    totals = [sum(row[c] for row in values) for c in range(len(categories))]
    top_value = max(totals) if stacked else max(max(row) for row in values)
    whole = all(float(v).is_integer() for row in values for v in row)
    y_ticks = nice_ticks(0.0, top_value, integer=whole)
    y_min, y_max = 0.0, y_ticks[-1]

    legend = _legend_rows([str(s.label) for s in series], width - MARGIN_LEFT - MARGIN_RIGHT)
    total_height = height + len(legend) * LEGEND_ROW + 8
    left, top = MARGIN_LEFT, MARGIN_TOP
    plot_w, plot_h = width - MARGIN_LEFT - MARGIN_RIGHT, height - MARGIN_TOP - MARGIN_BOTTOM

    def py(y: float) -> float:
        return top + plot_h - (y - y_min) / (y_max - y_min) * plot_h

    svg = _Svg("bar", title, width, total_height, description)
    _frame(svg, title, x_label, y_label, left, top, plot_w, plot_h, width, height)
    _y_axis(svg, y_ticks, py, y_format, left, plot_w)
    slot = plot_w / len(categories)
    bar_w = slot * 0.7 if stacked else slot * 0.8 / len(series)
    svg.add('<g class="clv-axis clv-axis-x">')
    for c, category in enumerate(categories):
        svg.text(
            left + slot * (c + 0.5),
            top + plot_h + 18,
            _short(tick_labels[c] if tick_labels is not None else category, slot - 4),
            anchor="middle",
            cls="clv-tick",
        )
    svg.add("</g>")
    svg.add('<g class="clv-bars">')
    for c, category in enumerate(categories):
        base = 0.0
        for s, item in enumerate(series):
            value = values[s][c]
            if value <= 0:
                continue
            if stacked:
                x = left + slot * c + (slot - bar_w) / 2
                y0, y1 = py(base + value), py(base)
                base += value
            else:
                x = left + slot * c + slot * 0.1 + bar_w * s
                y0, y1 = py(value), py(0.0)
            tip = f"{item.label} · {category}: {y_format(value)}"
            link = item.links[c] if item.links else None
            if link:
                svg.add(f'<a class="clv-bar-link" href="{escape(link)}">')
            svg.add(
                f'<rect class="clv-bar" data-series="{s}" x="{_n(x)}" y="{_n(y0)}" width="{_n(bar_w)}" '
                f'height="{_n(y1 - y0)}" fill="{colors[s]}"><title>{escape(tip)}</title></rect>'
            )
            if link:
                svg.add("</a>")
        if stacked and totals[c] > 0:
            svg.text(
                left + slot * (c + 0.5),
                py(totals[c]) - 4,
                y_format(totals[c]),
                anchor="middle",
                cls="clv-total",
                color=MUTED,
            )
    svg.add("</g>")
    _draw_legend(svg, legend, colors, height + 6, swatch="box")
    return svg.render()


# --- heatmap -----------------------------------------------------------------------------------------------


def _blend(value: float) -> str:
    """White (0) to deep blue (1)."""
    value = min(max(value, 0.0), 1.0)
    low, high = (247, 251, 255), (8, 48, 107)
    r, g, b = (round(lo + (hi - lo) * value) for lo, hi in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[Number | None]],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 720,
    value_format: Formatter | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    row_height: int = 24,
    description: str = "",
    empty_message=None,
    links: Sequence[Sequence[str | None]] | None = None,
) -> SafeString:
    """A grid of cells shaded by value (e.g. cohort retention: cohorts as rows, periods since as columns).
    None cells (periods not reached yet) are left blank. `links`, shaped like `values`: a URL per cell (the
    cell opens what it counts)."""
    value_format = value_format or percent
    filled = [v for row in values for v in row if v is not None]
    if not row_labels or not column_labels or not filled:
        return _empty("heatmap", title, width, 220, empty_message)
    lo, hi = value_range
    span = (hi - lo) or 1.0
    label_w = min(max(_text_width(str(label)) for label in row_labels) + 16, 160)
    left = max(MARGIN_LEFT, label_w + (24 if y_label else 8))
    top = MARGIN_TOP + 18
    plot_w = width - left - MARGIN_RIGHT
    cell_w = plot_w / len(column_labels)
    plot_h = row_height * len(row_labels)
    scale_top = top + plot_h + (40 if x_label else 16)
    height = int(scale_top + 36)

    svg = _Svg("heatmap", title, width, height, description)
    svg.text(width / 2, 24, title, anchor="middle", cls="clv-chart-title", size=14, weight="600")
    svg.add(
        f'<rect class="clv-plot" x="{_n(left)}" y="{_n(top)}" width="{_n(plot_w)}" height="{_n(plot_h)}" '
        'fill="#ffffff"/>'
    )
    every = max(1, math.ceil(len(column_labels) * 28 / plot_w))
    svg.add('<g class="clv-axis clv-axis-x">')
    for c, label in enumerate(column_labels):
        if c % every == 0:
            svg.text(
                left + cell_w * (c + 0.5),
                top - 6,
                _short(label, cell_w * every),
                anchor="middle",
                cls="clv-tick",
            )
    svg.add("</g>")
    svg.add('<g class="clv-axis clv-axis-y">')
    for r, label in enumerate(row_labels):
        svg.text(
            left - 6, top + row_height * (r + 0.5) + 4, _short(label, label_w), anchor="end", cls="clv-tick"
        )
    svg.add("</g>")
    show_values = cell_w >= 34 and row_height >= 16
    svg.add('<g class="clv-cells">')
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            if value is None or c >= len(column_labels):
                continue
            share = (float(value) - lo) / span
            x, y = left + cell_w * c, top + row_height * r
            tip = f"{row_labels[r]} · {column_labels[c]}: {value_format(float(value))}"
            link = links[r][c] if links and r < len(links) and c < len(links[r]) else None
            if link:
                svg.add(f'<a class="clv-cell-link" href="{escape(link)}">')
            svg.add(
                f'<rect class="clv-cell" x="{_n(x)}" y="{_n(y)}" width="{_n(cell_w)}" height="{row_height}" '
                f'fill="{_blend(share)}" stroke="#ffffff"><title>{escape(tip)}</title></rect>'
            )
            if link:
                svg.add("</a>")
            if show_values:
                svg.text(
                    x + cell_w / 2,
                    y + row_height / 2 + 4,
                    value_format(float(value)),
                    anchor="middle",
                    cls="clv-cell-value",
                    size=10,
                    color="#ffffff" if share > 0.55 else TEXT,
                    extra='pointer-events="none"',
                )
    svg.add("</g>")
    if x_label:
        svg.text(
            left + plot_w / 2, top + plot_h + 24, x_label, anchor="middle", cls="clv-axis-label", color=MUTED
        )
    if y_label:
        cy = top + plot_h / 2
        svg.text(
            12,
            cy,
            y_label,
            anchor="middle",
            cls="clv-axis-label",
            color=MUTED,
            extra=f'transform="rotate(-90 12 {_n(cy)})"',
        )
    # colour scale: five swatches from the low to the high end of the range
    svg.add('<g class="clv-scale">')
    for i in range(5):
        share = i / 4
        svg.add(
            f'<rect x="{_n(left + i * 28)}" y="{_n(scale_top)}" width="28" height="10" fill="{_blend(share)}" '
            f'stroke="{GRID}"/>'
        )
    svg.text(left, scale_top + 24, value_format(lo), cls="clv-tick")
    svg.text(left + 140, scale_top + 24, value_format(hi), anchor="end", cls="clv-tick")
    svg.add("</g>")
    return svg.render()
