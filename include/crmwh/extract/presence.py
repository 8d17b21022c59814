"""Which sources are present: the ones a run extracts. An absent source is skipped, not an error.

A source is present when

1. its setting is set (``CRM_SALES_DSN``, ``CRM_BILLING_DIR``, ``CRM_SERVICE_URL``), or
2. a mapping file lists it (see :func:`mapped_sources`), or
3. its simulated system exists in the home (what ``crmwh generate`` creates: the sales
   database on the embedded server holds tables, the billing drop folder, the service
   desk's store). The simulators are the default mapping.

Nothing falls back to a simulator that is not there: a source that is none of these is
absent, its extraction lands nothing and the run summary says so.
"""

from __future__ import annotations

import psycopg

from crmwh.mapping import model
from crmwh.settings import SOURCE_SETTINGS, Settings

SOURCES = tuple(SOURCE_SETTINGS)  # sales, billing, service


def mapped_sources(cfg: Settings) -> dict[str, str]:
    """The sources the mapping file (``CRM_SOURCES_FILE``) lists, each with why."""
    mapping = model.load(cfg)
    return {source: f"{mapping.file} maps it" for source in mapping.sources}


def _sales_simulated(cfg: Settings) -> bool:
    """The default sales database (on the embedded server) holds tables."""
    try:
        with psycopg.connect(cfg.sales_dsn, connect_timeout=5, autocommit=True) as conn:
            return conn.execute("select exists (select 1 from information_schema.tables "
                                "where table_schema = 'public')").fetchone()[0]
    except psycopg.OperationalError:
        return False


def _simulated(cfg: Settings, source: str) -> bool:
    if source == "sales":
        return _sales_simulated(cfg)
    if source == "billing":
        return cfg.billing_dir.is_dir()
    return service_store_exists(cfg)


def service_store_exists(cfg: Settings) -> bool:
    """The simulated service desk's store (``crmwh generate``) is in the home."""
    return any((cfg.sources_dir / "service").glob("*.jsonl"))


def present_sources(cfg: Settings) -> dict[str, str]:
    """The present sources, each with the reason it is present, in landing order."""
    mapped = mapped_sources(cfg)
    out = {}
    for source in SOURCES:
        if source in cfg.configured:
            out[source] = f"{SOURCE_SETTINGS[source]} is set"
        elif source in mapped:
            out[source] = mapped[source]
        elif _simulated(cfg, source):
            out[source] = f"the simulated {source} system in {cfg.home}"
    return out


def imported_files(conn: psycopg.Connection, source: str, most: int = 5) -> list[str]:
    """The files ``crmwh import`` landed as ``source`` (newest first, at most ``most``)."""
    return [r[0] for r in conn.execute(
        """select ref from audit.load_batches b cross join unnest(b.source_refs) ref
           where b.source = %s and b.status = 'loaded' and b.run_id like 'import%%'
             and ref like 'import:%%'
           group by ref order by max(b.finished_at) desc limit %s""", (source, most))]


def absence_reason(cfg: Settings, source: str) -> str:
    """Why ``source`` is absent (for the log and the run summary)."""
    return (f"{SOURCE_SETTINGS[source]} is not set, no mapping lists {source} and the home "
            f"has no simulated {source} system")
