"""The index builder of the run's GX Data Docs site (loaded by GX by name).

Every gate call validates in a context of its own, and GX's default index builder deletes
from the site every page its context does not know, so the run's one site would keep only the
last entity's pages. This builder keeps them all and writes no index: the run's index is
crmwh's own, static and offline (:func:`crmwh.quality.data_docs.write_run_index`).
"""

from __future__ import annotations

from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder


class RunSiteIndexBuilder(DefaultSiteIndexBuilder):
    def build(self, skip_and_clean_missing: bool = True, build_index: bool = True):
        return None, None
