"""Inline SVG charts for the nightly report: no dependencies, no JavaScript.

Each chart is an ``<svg>`` carrying ``data-chart`` (its name) and one ``<title>`` per mark with
the exact value (hover text in a browser; what tests read back).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _fmt(value: float, percent: bool) -> str:
    return f"{value * 100:.1f} %" if percent else f"{value:,.2f}"


def _svg(name: str, width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg data-chart="{escape(name)}" role="img" aria-label="{escape(label)}" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" {FONT}>' + "".join(body) + "</svg>")


def line_chart(name: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]],
               *, percent: bool = True, label: str = "", width: int = 640,
               height: int = 260) -> str:
    """One line per series over shared x labels; None leaves a gap."""
    left, right, top, bottom = 48, 120, 14, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    hi = max(values + [0.0]) or 1.0
    hi = hi * 1.1
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / hi)

    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
            'stroke="#8c959f"/>']
    for k in range(5):
        v = hi * k / 4
        body.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                    'stroke="#eaeef2"/>')
        body.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">'
                    f'{escape(_fmt(v, percent))}</text>')
    step = max(1, n // 12)
    for i, lab in enumerate(x_labels):
        if i % step == 0:
            body.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                        f'{escape(lab)}</text>')
    for s_i, (s_name, vals) in enumerate(series.items()):
        color = PALETTE[s_i % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(vals) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                        f'points="{path}"/>')
        for i, v in enumerate(vals):
            if v is None:
                continue
            body.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}" '
                        f'data-series="{escape(s_name)}" data-x="{escape(x_labels[i])}" '
                        f'data-value="{v:.6f}"><title>{escape(s_name)} {escape(x_labels[i])}: '
                        f'{escape(_fmt(v, percent))}</title></circle>')
        ly = top + 14 + s_i * 16
        body.append(f'<rect x="{left + plot_w + 10}" y="{ly - 9}" width="10" height="10" '
                    f'fill="{color}"/><text x="{left + plot_w + 24}" y="{ly}">'
                    f'{escape(s_name)}</text>')
    return _svg(name, width, height, body, label or name)


def bar_chart(name: str, categories: Sequence[str], series: dict[str, Sequence[float]],
              *, percent: bool = True, label: str = "", width: int = 640,
              height: int = 260) -> str:
    """Grouped vertical bars: one group per category, one bar per series (negatives hang
    below the zero line)."""
    left, right, top, bottom = 48, 140, 18, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s]
    hi, lo = max(values + [0.0]), min(values + [0.0])
    span = (hi - lo) * 1.15 or 1.0

    def y(v: float) -> float:
        return top + plot_h * (hi * 1.1 - v) / span

    zero = y(0.0)
    group_w = plot_w / max(len(categories), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    body = [f'<line x1="{left}" y1="{zero:.1f}" x2="{left + plot_w}" y2="{zero:.1f}" '
            'stroke="#8c959f"/>']
    for c_i, cat in enumerate(categories):
        gx = left + c_i * group_w + group_w * 0.1
        body.append(f'<text x="{left + (c_i + 0.5) * group_w:.1f}" y="{top + plot_h + 16}" '
                    f'text-anchor="middle">{escape(cat)}</text>')
        for s_i, (s_name, vals) in enumerate(series.items()):
            v = vals[c_i]
            y0, y1 = sorted((zero, y(v)))
            bx = gx + s_i * bar_w
            body.append(f'<rect x="{bx:.1f}" y="{y0:.1f}" width="{bar_w - 2:.1f}" '
                        f'height="{y1 - y0:.1f}" fill="{PALETTE[s_i % len(PALETTE)]}" '
                        f'data-series="{escape(s_name)}" data-x="{escape(cat)}" '
                        f'data-value="{v:.6f}"><title>{escape(s_name)} {escape(cat)}: '
                        f'{escape(_fmt(v, percent))}</title></rect>')
            ty = y0 - 3 if v >= 0 else y1 + 11
            body.append(f'<text x="{bx + bar_w / 2:.1f}" y="{ty:.1f}" '
                        f'text-anchor="middle">{escape(_fmt(v, percent))}</text>')
    for s_i, s_name in enumerate(series):
        ly = top + 14 + s_i * 16
        body.append(f'<rect x="{left + plot_w + 10}" y="{ly - 9}" width="10" height="10" '
                    f'fill="{PALETTE[s_i % len(PALETTE)]}"/><text x="{left + plot_w + 24}" '
                    f'y="{ly}">{escape(s_name)}</text>')
    return _svg(name, width, height, body, label or name)


def hbar_chart(name: str, labels: Sequence[str], values: Sequence[float], *,
               percent: bool = False, label: str = "", width: int = 640) -> str:
    """Horizontal bars, largest first as given."""
    left, row_h, top = 180, 22, 8
    plot_w = width - left - 80
    height = top * 2 + row_h * max(len(labels), 1)
    hi = max(list(values) + [0.0]) or 1.0
    body = []
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        yy = top + i * row_h
        w = plot_w * v / hi
        body.append(f'<text x="{left - 6}" y="{yy + 15}" text-anchor="end">{escape(lab)}</text>')
        body.append(f'<rect x="{left}" y="{yy + 4}" width="{w:.1f}" height="{row_h - 8}" '
                    f'fill="{PALETTE[1]}" data-x="{escape(lab)}" data-value="{v:.6f}">'
                    f'<title>{escape(lab)}: {escape(_fmt(v, percent))}</title></rect>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{yy + 15}">{escape(_fmt(v, percent))}'
                    '</text>')
    return _svg(name, width, height, body, label or name)


def heatmap(name: str, row_labels: Sequence[str], col_labels: Sequence[str],
            cells: dict[tuple[str, str], float], *, label: str = "", cell: int = 30) -> str:
    """Rows x columns of shares 0..1 (cohort retention); missing cells stay blank."""
    left, top = 70, 28
    width = left + cell * max(len(col_labels), 1) + 10
    height = top + cell * max(len(row_labels), 1) + 10
    body = []
    for j, col in enumerate(col_labels):
        body.append(f'<text x="{left + j * cell + cell / 2:.1f}" y="{top - 8}" '
                    f'text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(row_labels):
        body.append(f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4:.1f}" '
                    f'text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(col_labels):
            v = cells.get((row, col))
            if v is None:
                continue
            shade = max(0.0, min(1.0, v))
            # white (0) to deep blue (1)
            r, g, b = (int(255 - (255 - c) * shade) for c in (9, 105, 218))
            text = "#ffffff" if shade > 0.55 else "#24292f"
            x, y = left + j * cell, top + i * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                        f'fill="rgb({r},{g},{b})" data-row="{escape(row)}" '
                        f'data-col="{escape(col)}" data-value="{v:.6f}"><title>{escape(row)} '
                        f'+{escape(col)}: {v * 100:.1f} %</title></rect>')
            body.append(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" '
                        f'text-anchor="middle" fill="{text}" font-size="9">{v * 100:.0f}</text>')
    return _svg(name, width, height, body, label or name)
