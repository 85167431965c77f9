"""Small server-rendered SVG charts: bars, lines and horizontal bars with axis labels.

Every label passes through `escape`; numbers are formatted here. The result is one
`<svg>` element, marked safe only after that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = {
    "blue": "#3b82f6",
    "teal": "#14b8a6",
    "violet": "#8b5cf6",
    "amber": "#f59e0b",
    "rose": "#f43f5e",
    "grid": "#e5e7eb",
    "axis": "#6b7280",
    "text": "#374151",
}
CSAT_COLOURS = ["#ef4444", "#f97316", "#facc15", "#84cc16", "#22c55e"]

Number = int | float | Decimal


def nice_max(value: float, ticks: int = 4) -> tuple[float, float]:
    """A round axis maximum at or above `value`, and its tick step."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step * ticks >= value:
            return step * ticks, step
    return 10 * magnitude * ticks, 10 * magnitude


def _fmt(value: float, money: bool = False) -> str:
    if money:
        return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, label: str, body: list[str]) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-label="{escape(label)}" '
        f'font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="11">'
        f"<title>{escape(label)}</title>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text is escaped above


def _day_label(day: date) -> str:
    return day.strftime("%d %b").lstrip("0")


def time_series(
    points: Sequence[tuple[date, Number]],
    *,
    label: str,
    kind: str = "bars",
    colour: str = PALETTE["blue"],
    money: bool = False,
    y_title: str = "",
    width: int = 640,
    height: int = 220,
) -> SafeString:
    """Values per day as bars or as a line with a soft area, with y ticks and date labels."""
    left, right, top, bottom = 56, 12, 14, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for _, v in points]
    top_value, step = nice_max(max(values, default=0.0))
    body: list[str] = []
    ticks = round(top_value / step)
    for i in range(ticks + 1):
        value = step * i
        y = top + plot_h - plot_h * value / top_value
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{PALETTE["grid"]}" stroke-width="1"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{PALETTE["axis"]}">'
            f"{escape(_fmt(value, money))}</text>"
        )
    if y_title:
        body.append(
            f'<text transform="translate(12 {top + plot_h / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" fill="{PALETTE["axis"]}">{escape(y_title)}</text>'
        )
    n = max(len(points), 1)
    slot = plot_w / n
    every = max(1, math.ceil(n / 8))
    coords = []
    for i, (day, _) in enumerate(points):
        value = values[i]
        x = left + slot * i
        y = top + plot_h - plot_h * value / top_value
        coords.append((x + slot / 2, y))
        tip = escape(f"{_day_label(day)}: {_fmt(value, money)}")
        if kind == "bars":
            bar_w = max(slot * 0.72, 1.0)
            body.append(
                f'<rect x="{x + (slot - bar_w) / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{top + plot_h - y:.1f}" rx="2" fill="{colour}">'
                f"<title>{tip}</title></rect>"
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'fill="{PALETTE["axis"]}">{escape(_day_label(day))}</text>'
            )
    if kind == "line" and coords:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        base = top + plot_h
        area = f"{coords[0][0]:.1f},{base} {path} {coords[-1][0]:.1f},{base}"
        body.append(f'<polygon points="{area}" fill="{colour}" fill-opacity="0.12"/>')
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
            'stroke-linejoin="round"/>'
        )
        for (x, y), (day, _), value in zip(coords, points, values, strict=True):
            tip = escape(f"{_day_label(day)}: {_fmt(value, money)}")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{tip}</title>'
                "</circle>"
            )
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{PALETTE["axis"]}" stroke-width="1"/>'
    )
    return _svg(width, height, label, body)


def horizontal_bars(
    rows: Sequence[tuple[str, Number]],
    *,
    label: str,
    colours: Sequence[str] | None = None,
    colour: str = PALETTE["violet"],
    value_text: Callable[[float], str] | None = None,
    width: int = 420,
) -> SafeString:
    """One labelled bar per row, longest scaled to the width, value at the bar's end."""
    row_h, left, right = 24, 120, 52
    height = max(row_h * len(rows) + 8, 32)
    highest = max((float(v) for _, v in rows), default=0.0) or 1.0
    body: list[str] = []
    for i, (name, raw) in enumerate(rows):
        value = float(raw)
        y = 4 + i * row_h
        bar_w = (width - left - right) * value / highest
        fill = colours[i % len(colours)] if colours else colour
        shown = value_text(value) if value_text else _fmt(value)
        body.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="{PALETTE["text"]}">'
            f"{escape(name)}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{max(bar_w, 1.5):.1f}" height="{row_h - 8}" '
            f'rx="3" fill="{fill}"><title>{escape(name)}: {escape(shown)}</title></rect>'
            f'<text x="{left + bar_w + 6:.1f}" y="{y + 15}" fill="{PALETTE["axis"]}">'
            f"{escape(shown)}</text>"
        )
    if not rows:
        body.append(f'<text x="8" y="20" fill="{PALETTE["axis"]}">No data in this range</text>')
    return _svg(width, height, label, body)
