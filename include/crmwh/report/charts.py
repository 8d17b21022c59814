"""The report's charts, drawn by matplotlib as SVG inlined in the page (no JavaScript, no
network: the page opens from disk).

Text stays text (``svg.fonttype = none``) so a browser lays it out and a test can measure it.
Axes say their unit (percent, count, money, hours); percent axes never pass 100 %; month axes
label every n-th month so labels never overlap. Each chart keeps the numbers it draws
(:class:`~crmwh.report.model.Mark`), listed under it on the page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence

from markupsafe import Markup
from matplotlib import rc_context, ticker
from matplotlib.figure import Figure

from crmwh.report import formats
from crmwh.report.model import Chart, Mark

BLUE, ORANGE, GREEN, RED, AMBER, GREY, PURPLE = ("#1f6feb", "#bc4c00", "#1a7f37", "#cf222e",
                                                  "#bf8700", "#8c959f", "#8250df")
SERIES = (BLUE, ORANGE, PURPLE, GREEN, GREY)
WIDTH_IN, DPI = 9.0, 72  # 648 px wide at the page's scale
MONTH_LABEL_PX = 64  # room one "2024-04*" label needs, with a gap

RC = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#8c959f",
    "axes.grid": True,
    "grid.color": "#eaeef2",
    "axes.axisbelow": True,
    "legend.frameon": False,
    "axes.formatter.useoffset": False,
}

AXES = {
    "percent": lambda decimals: ticker.PercentFormatter(xmax=1, decimals=decimals),
    "count": lambda _d: ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"),
    "money": lambda _d: ticker.FuncFormatter(lambda v, _p: formats.compact_money(v)),
    "hours": lambda _d: ticker.FuncFormatter(lambda v, _p: f"{v:,.0f} h"),
}
TEXT = {"percent": formats.percent, "count": formats.count, "money": formats.money,
        "hours": formats.hours}


def _render(name: str, fig, label: str) -> Markup:
    """The figure as an inline ``<svg>``, its ids prefixed with the chart's name (several
    charts share one page)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'id="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{name}-\1)", svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', rf'xlink:href="#{name}-\1"', svg)
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1)
    return Markup(svg)


def _figure(height_in: float):
    fig = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI)
    return fig, fig.subplots()


def _month_ticks(ax, labels: Sequence[str], plot_px: float) -> None:
    """Label every n-th month so the labels fit side by side, always the last one."""
    n = len(labels)
    step = max(1, math.ceil(n * MONTH_LABEL_PX / plot_px))
    shown = list(range(n - 1, -1, -step))[::-1]
    ax.set_xticks(shown, [labels[i] for i in shown])
    ax.set_xlim(-0.5, n - 0.5)
    ax.grid(axis="x", visible=False)


def line(name: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
         axis: str, label: str, y_label: str, lower: float | None = 0.0,
         upper: float | None = None, decimals: int = 0, colors: Sequence[str] = SERIES
         ) -> Chart:
    """One line per series over months; ``None`` leaves a gap. ``upper`` caps the axis
    (percent axes: 1.0)."""
    with rc_context(RC):
        fig, ax = _figure(2.6)
        marks = []
        for color, (s_name, values) in zip(colors, series.items(), strict=False):
            xs = [i for i, v in enumerate(values) if v is not None]
            ys = [float(values[i]) for i in xs]
            ax.plot(xs, ys, color=color, linewidth=2, marker="o", markersize=3, label=s_name)
            marks += [Mark({"series": s_name, "x": labels[i]}, float(values[i]),
                           TEXT[axis](values[i])) for i in xs]
        values = [m.value for m in marks] or [0.0]
        top = max(values) * 1.12 or 1.0
        if upper is not None:
            top = min(top, upper)
        bottom = lower if lower is not None else min(values) - (top - min(values)) * 0.15
        if upper is not None and bottom >= top:
            bottom = top - 0.05
        ax.set_ylim(bottom, top)
        ax.yaxis.set_major_formatter(AXES[axis](decimals))
        ax.yaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.set_ylabel(y_label)
        _month_ticks(ax, labels, WIDTH_IN * DPI * 0.85)
        if len(series) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return Chart(name, _render(name, fig, label), label, marks)


def bars(name: str, categories: Sequence[str], series: dict[str, Sequence[float]], *,
         axis: str, label: str, y_label: str, colors: Sequence[str] = SERIES) -> Chart:
    """Grouped vertical bars with their value printed on each; negatives hang below zero."""
    with rc_context(RC):
        fig, ax = _figure(2.8)
        width = 0.8 / max(len(series), 1)
        marks = []
        for s_i, (color, (s_name, values)) in enumerate(zip(colors, series.items(),
                                                            strict=False)):
            xs = [c + (s_i - (len(series) - 1) / 2) * width for c in range(len(categories))]
            drawn = ax.bar(xs, [float(v) for v in values], width * 0.95, color=color,
                           label=s_name)
            texts = [TEXT[axis](v) for v in values]
            ax.bar_label(drawn, labels=texts, padding=2, fontsize=8)
            marks += [Mark({"series": s_name, "x": c}, float(v), t)
                      for c, v, t in zip(categories, values, texts, strict=True)]
        ax.axhline(0, color="#57606a", linewidth=0.8)
        lo = min([m.value for m in marks] + [0.0])
        hi = max([m.value for m in marks] + [0.0])
        pad = (hi - lo) * 0.15 or 0.1
        ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)
        ax.yaxis.set_major_formatter(AXES[axis](0))
        ax.set_xticks(range(len(categories)), list(categories))
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(y_label)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return Chart(name, _render(name, fig, label), label, marks)


def hbars(name: str, labels: Sequence[str], values: Sequence[float], *, axis: str,
          label: str, x_label: str, colors: Sequence[str] | None = None) -> Chart:
    """Horizontal bars in the order given (largest first), each with its value."""
    with rc_context(RC):
        fig, ax = _figure(0.5 + 0.28 * max(len(labels), 1))
        ys = list(range(len(labels)))[::-1]
        drawn = ax.barh(ys, [float(v) for v in values], 0.7,
                        color=list(colors) if colors else BLUE)
        texts = [TEXT[axis](v) for v in values]
        ax.bar_label(drawn, labels=texts, padding=3, fontsize=8)
        ax.set_yticks(ys, list(labels))
        ax.set_xlim(0, max([float(v) for v in values] + [0.0]) * 1.18 or 1.0)
        ax.xaxis.set_major_formatter(AXES[axis](0))
        ax.xaxis.set_major_locator(ticker.MaxNLocator(5))
        ax.grid(axis="y", visible=False)
        ax.set_xlabel(x_label)
        marks = [Mark({"x": lab}, float(v), t) for lab, v, t in zip(labels, values, texts,
                                                                     strict=True)]
        return Chart(name, _render(name, fig, label), label, marks)


def heatmap(name: str, rows: Sequence[str], cols: Sequence[str],
            cells: dict[tuple[str, str], float], *, label: str, x_label: str, y_label: str,
            legend: str) -> Chart:
    """Rows x columns of shares 0..1, each cell printed in percent, with a colour legend;
    missing cells stay blank."""
    import numpy as np

    with rc_context(RC):
        fig, ax = _figure(0.9 + 0.3 * max(len(rows), 1))
        grid = np.full((len(rows), len(cols)), np.nan)
        for (r, c), v in cells.items():
            grid[rows.index(r), cols.index(c)] = v
        image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i, j in zip(*np.nonzero(~np.isnan(grid)), strict=True):
            v = grid[i, j]
            ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 else "#24292f")
        ax.set_xticks(range(len(cols)), list(cols))
        ax.set_yticks(range(len(rows)), list(rows))
        ax.grid(False)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02,
                           format=ticker.PercentFormatter(xmax=1, decimals=0))
        bar.set_label(legend)
        marks = [Mark({"row": r, "col": c}, v, formats.percent(v))
                 for (r, c), v in sorted(cells.items())]
        return Chart(name, _render(name, fig, label), label, marks)
