"""GX Data Docs: where each run's validation pages go, and an index over them.

Every gate call writes the Data Docs of its validations (the batch's rows and its
profile) into ``$CRM_HOME/data_docs/<run>/<source>__<entity>/`` (a GX local site:
``index.html``, expectation and validation pages). :func:`write_run_index` writes
``$CRM_HOME/data_docs/<run>/index.html`` linking them, and the gate records that path.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

SITE = "crmwh_run"


def run_dir(home: Path, run_id: str) -> Path:
    """The folder of one run's Data Docs (the run id made safe for a path)."""
    return home / "data_docs" / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)


def add_site(context: Any, base: Path) -> None:
    """Add a local Data Docs site writing into ``base`` to a GX context."""
    base.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        site_name=SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(base)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )


def write_run_index(folder: Path, title: str) -> Path:
    """``index.html`` in ``folder`` linking every batch site below it; returns its path."""
    sites = sorted(p.parent for p in folder.glob("*/index.html"))
    items = "\n".join(
        f'<li><a href="{html.escape(p.name)}/index.html">{html.escape(p.name)}</a></li>'
        for p in sites
    )
    page = folder / "index.html"
    page.write_text(
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f"<p>Great Expectations Data Docs, one site per landed batch.</p><ul>{items}</ul>\n",
        encoding="utf-8",
    )
    return page
