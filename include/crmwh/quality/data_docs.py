"""GX Data Docs: one site per run, readable offline.

Every gate call of a run writes its validations into the run's one site,
``$CRM_HOME/data_docs/<run>/`` (``validations/<suite>/<run name>/<time>/<batch>.html``,
``expectations/<suite>.html`` and one shared ``static/``), under the run's name. Each check
recorded in ``audit.dq_results`` keeps its page (``docs_page``, relative to
``$CRM_HOME/data_docs``) so the nightly report links a failure to it.

GX's pages load Bootstrap, jQuery, icons and Vega from CDNs and its index is drawn by that
JavaScript, so offline it is empty. :func:`finish_run` strips the remote tags (stylesheets,
scripts, images; the pages'
content is plain HTML with GX's local stylesheet) and writes a static ``index.html`` listing
every page of the run.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SITE = "crmwh_run"
REMOTE = re.compile(
    r"""<link\b[^>]*\bhref=["']?(?:https?:)?//[^>]*>"""
    r"""|<script\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>\s*</script>"""
    r"""|<img\b[^>]*\bsrc=["']?(?:https?:)?//[^>]*>""", re.I)


def run_dir(home: Path, run_id: str) -> Path:
    """The folder of one run's Data Docs (the run id made safe for a path)."""
    return home / "data_docs" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


@dataclass(frozen=True)
class Target:
    """Where a validation's page goes: the run's site and the run's name."""

    site: Path
    run_name: str

    def page(self, key: tuple[str, ...]) -> str:
        """The page of validation ``key`` (GX's result identifier as a tuple: suite, run
        name, run time, batch), relative to the Data Docs root."""
        return f"{self.site.name}/validations/{'/'.join(key)}.html"


def add_site(context: Any, base: Path) -> None:
    """Add a local Data Docs site writing into ``base`` to a GX context."""
    base.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        site_name=SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(base)},
            "site_index_builder": {"class_name": "RunSiteIndexBuilder",
                                   "module_name": "crmwh.quality.gx_site"},
        },
    )


def make_offline(folder: Path) -> int:
    """Strip the CDN tags from the site's pages; returns how many pages changed."""
    changed = 0
    for page in folder.rglob("*.html"):
        if "static" in page.relative_to(folder).parts:
            continue
        text = page.read_text(encoding="utf-8")
        stripped = REMOTE.sub("", text)
        if stripped != text:
            page.write_text(stripped, encoding="utf-8")
            changed += 1
    return changed


def finish_run(folder: Path, title: str) -> Path:
    """Make the run's site work offline and write its ``index.html``; returns its path."""
    make_offline(folder)
    return write_run_index(folder, title)


def write_run_index(folder: Path, title: str) -> Path:
    """``index.html`` in ``folder`` linking every validation and suite page of the run."""
    rows = []
    for page in sorted(folder.glob("validations/*/*/*/*.html")):
        suite, run_name, run_time, _batch = page.relative_to(folder / "validations").parts
        href = page.relative_to(folder).as_posix()
        rows.append(f"<tr><td>{html.escape(suite)}</td><td>{html.escape(run_time)}</td>"
                    f'<td><a href="{html.escape(_quote(href))}">validation</a></td></tr>')
    suites = "".join(
        f'<li><a href="{html.escape(_quote(p.relative_to(folder).as_posix()))}">'
        f"{html.escape(p.stem)}</a></li>" for p in sorted(folder.glob("expectations/*.html")))
    page = folder / "index.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2rem}td{padding:.1rem .6rem}</style>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>Great Expectations Data Docs of the run: {len(rows)} validations.</p>"
        "<table><tr><th>suite</th><th>validated at</th><th>page</th></tr>"
        + "".join(rows) + f"</table><h2>Suites</h2><ul>{suites}</ul>\n",
        encoding="utf-8",
    )
    return page


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path)
