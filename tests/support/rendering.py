"""The nightly report as a browser shows it: Debian's ``chromium`` renders the page headless,
takes a screenshot, and measures the laid-out page.

Measuring runs a script in a copy of the page (the report itself has none): for every chart it
collects the boxes of the tick labels (matplotlib's ``*-xtick_*`` / ``*-ytick_*`` groups) per
axis and reports each pair that overlaps; it lists the sections and the charts with their drawn
size, and the page's visible text. ``--dump-dom`` returns the result the script wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MEASURE = r"""
<script>
(function () {
  function box(el) { const r = el.getBoundingClientRect();
    return {l: r.left, r: r.right, t: r.top, b: r.bottom, text: el.textContent.trim()}; }
  function overlap(a, b) { return a.l < b.r - 0.5 && b.l < a.r - 0.5 &&
                                  a.t < b.b - 0.5 && b.t < a.b - 0.5; }
  const out = {sections: [], charts: {}, overlaps: [], text: document.body.innerText};
  document.querySelectorAll('section[data-section]').forEach(function (s) {
    out.sections.push([s.dataset.section, s.dataset.state]); });
  document.querySelectorAll('figure[data-chart]').forEach(function (f) {
    const name = f.dataset.chart, svg = f.querySelector('svg');
    const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    out.charts[name] = {width: r.width, height: r.height,
                        texts: svg ? svg.querySelectorAll('text').length : 0};
    const axes = {};
    f.querySelectorAll('g[id*="-xtick_"], g[id*="-ytick_"]').forEach(function (g) {
      const kind = g.id.indexOf('-xtick_') >= 0 ? 'x' : 'y';
      const parent = g.closest('g[id*="-axes_"]');
      const key = (parent ? parent.id.slice(name.length + 1) : '') + kind;
      g.querySelectorAll('text').forEach(function (t) {
        (axes[key] = axes[key] || []).push(box(t)); });
    });
    Object.keys(axes).forEach(function (key) {
      const labels = axes[key].filter(function (b) { return b.text; });
      for (let i = 0; i < labels.length; i++)
        for (let j = i + 1; j < labels.length; j++)
          if (overlap(labels[i], labels[j]))
            out.overlaps.push([name, key, labels[i].text, labels[j].text]);
      out.charts[name][key] = labels.length;
    });
  });
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


@dataclass
class Measured:
    sections: dict[str, str]
    charts: dict[str, dict]
    overlaps: list[list[str]]
    text: str


def chromium() -> str:
    """The Chromium binary (Debian's package ``chromium``; .ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is not installed: apt-get install -y chromium"
    return found


def _run(*args: str, timeout: int = 120) -> str:
    done = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-dev-shm-usage", "--force-device-scale-factor=1",
         "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "HOME": os.environ.get("CRM_HOME", os.environ.get("HOME", "/tmp"))})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 9000) -> Path:
    """A screenshot of ``page`` (tall enough for the whole report)."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri())
    assert png.exists() and png.stat().st_size > 10_000, "no screenshot written"
    return png


def measure(page: Path, width: int = 1100) -> Measured:
    """Lay ``page`` out at ``width`` px and measure it (on a copy carrying the script, in a
    folder of its own)."""
    import tempfile

    html = page.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="crmwh-measure-") as folder:
        probe = Path(folder) / page.name
        probe.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
        dom = _run(f"--window-size={width},2000", "--dump-dom", probe.resolve().as_uri())
    start = dom.index('<pre id="measured">') + len('<pre id="measured">')
    raw = dom[start:dom.index("</pre>", start)]
    import html as html_lib

    out = json.loads(html_lib.unescape(raw))
    return Measured(dict(out["sections"]), out["charts"], out["overlaps"], out["text"])


def problems(page: Path, m: Measured) -> list[str]:
    """What a reader would see wrong: a missing section, a chart drawn too small, overlapping
    tick labels, ``e+`` notation, NaN, a page of 2 MB or more."""
    size = page.stat().st_size
    found = [f"section {k} is {v}" for k, v in m.sections.items() if v != "ok"]
    found += [f"chart {k} drawn {c['width']:.0f}x{c['height']:.0f} with {c['texts']} texts"
              for k, c in m.charts.items()
              if c["width"] < 300 or c["height"] < 80 or c["texts"] < 5]
    found += [f"overlapping labels in {o[0]} ({o[1]}): {o[2]!r} / {o[3]!r}"
              for o in m.overlaps]
    found += ["e+ notation in the text"] * bool(re.search(r"\d[eE][+-]\d", m.text))
    found += ["NaN in the text"] * ("NaN" in m.text or "nan %" in m.text)
    found += [f"page is {size:,} bytes (limit 2,000,000)"] * (size >= 2_000_000)
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.support.rendering REPORT.html [SCREENSHOT.png]``: the rendering test's
    checks on any written report (e.g. a benchmark warehouse's): prints what it found, exit 1
    on a problem."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    page = Path(args[0])
    png = screenshot(page, Path(args[1]) if len(args) > 1 else page.with_suffix(".png"))
    m = measure(page)
    found = problems(page, m)
    print(f"{page}: {page.stat().st_size:,} bytes, {len(m.sections)} sections, "
          f"{len(m.charts)} charts, screenshot {png}")
    for p in found:
        print("PROBLEM:", p)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
