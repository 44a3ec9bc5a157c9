"""Charts as inline SVG, drawn on the server: no script, no chart library, nothing fetched.

Every mark carries a <title> (the browser's tooltip, read by screen readers too), and the
numbers are in the table next to the chart anyway."""

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from projections.kpis import DayKpis

# Okabe-Ito: told apart by people with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#000000"]
WIDTH, HEIGHT = 1160, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 44


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _frame(label: str, body: list[str]) -> Markup:
    title = escape(label)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{title}</title>{''.join(body)}</svg>"
    )


def _x_positions(days: Sequence[str]) -> list[float]:
    span = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    return [LEFT + span * (i + 0.5) for i in range(len(days))]


def _axes(
    days: Sequence[str], top: float, label: str, percent: bool, year_first: bool = True
) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = []
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - BOTTOM - plot_h * i / 4
        text = f"{value * 100:.0f} %" if percent else f"{value:g}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d8dde3" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#4a5560">{escape(text)}</text>'
        )
    step = max(1, math.ceil(len(days) / 16))  # at most ~16 day labels
    for i, (day, x) in enumerate(zip(days, _x_positions(days), strict=True)):
        if i % step == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                f'font-size="12" fill="#4a5560">{escape(day[5:] if year_first else day)}</text>'
            )
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="12" fill="#4a5560">{escape(label)}</text>'
    )
    return parts


def orders_bars(rows: Sequence[DayKpis], days: Sequence[str], channels: Sequence[str]) -> Markup:
    """Orders per day, stacked by channel."""
    counts = {(r.channel, r.day): r.orders for r in rows}
    totals = [sum(counts.get((c, d), 0) for c in channels) for d in days]
    top = _nice_ceiling(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    bar_w = (WIDTH - LEFT - RIGHT) / max(len(days), 1) * 0.7
    body = _axes(days, top, "Orders placed per day (UTC), stacked by channel", False)
    for day, x in zip(days, _x_positions(days), strict=True):
        base = float(HEIGHT - BOTTOM)
        for index, channel in enumerate(channels):
            count = counts.get((channel, day), 0)
            if not count:
                continue
            h = plot_h * count / top
            base -= h
            tip = escape(f"{channel}, {day}: {count} order{'s' if count != 1 else ''}")
            body.append(
                f'<rect x="{x - bar_w / 2:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour(index)}"><title>{tip}</title></rect>'
            )
    return _frame("Orders per day and channel", body)


def rate_lines(
    rows: Sequence[DayKpis],
    days: Sequence[str],
    channels: Sequence[str],
    metric: str,
    label: str,
) -> Markup:
    """One line per channel of a 0..1 rate; a day without a value breaks the line."""
    values = {(r.channel, r.day): getattr(r, metric) for r in rows}
    plot_h = HEIGHT - TOP - BOTTOM
    body = _axes(days, 1.0, f"{label} per day (UTC), one line per channel", True)
    xs = _x_positions(days)
    for index, channel in enumerate(channels):
        segment: list[str] = []
        segments: list[list[str]] = [segment]
        for day, x in zip(days, xs, strict=True):
            value = values.get((channel, day))
            if value is None:
                segment = []
                segments.append(segment)
                continue
            y = HEIGHT - BOTTOM - plot_h * float(value)
            segment.append(f"{x:.1f},{y:.1f}")
            tip = escape(f"{channel}, {day}: {float(value) * 100:.1f} %")
            body.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour(index)}">'
                f"<title>{tip}</title></circle>"
            )
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline points="{" ".join(points)}" fill="none" '
                    f'stroke="{colour(index)}" stroke-width="2"/>'
                )
    return _frame(f"{label} per day and channel", body)


def paired_bars(categories: Sequence[tuple[str, int, int]], label: str) -> Markup:
    """Two bars per category, live then draft (e.g. decisions by outcome)."""
    top = _nice_ceiling(max((max(a, b) for _, a, b in categories), default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    names = [name for name, _, _ in categories]
    body = _axes(names, top, label, False, year_first=False)
    bar_w = (WIDTH - LEFT - RIGHT) / max(len(names), 1) * 0.35
    for (name, live, draft), x in zip(categories, _x_positions(names), strict=True):
        for index, (side, value) in enumerate((("live", live), ("draft", draft))):
            h = plot_h * value / top
            left = x - bar_w if index == 0 else x
            tip = escape(f"{name}, {side}: {value:,}")
            body.append(
                f'<rect x="{left:.1f}" y="{HEIGHT - BOTTOM - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour(index)}"><title>{tip}</title></rect>'
            )
    return _frame(label, body)
