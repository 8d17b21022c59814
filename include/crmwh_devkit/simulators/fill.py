"""Fill the three simulated source systems and the ground truth from the generator
(``crmwh generate``), streaming: each chunk of customers is written before the next is drawn."""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path

import psycopg

from crmwh import database, warehouse
from crmwh.errors import CrmwhError
from crmwh.settings import Settings
from crmwh_devkit.simulators import billing_drops, chunks, ground_truth, sales_db, service_api
from crmwh_devkit.simulators.generator import generate_chunks
from crmwh_devkit.simulators.population import GeneratorConfig

MARKER = "_crmwh_simulator"


def _guard_sales_db(dsn: str) -> None:
    """Never overwrite a real sales system: only an empty database or our own simulator."""
    with database.connect(dsn, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public'")}
        if tables and MARKER not in tables:
            raise CrmwhError(
                f"the sales database {database.describe(dsn)} holds tables the simulator did "
                "not create",
                "point CRM_SALES_DSN at an empty database to generate demo data there",
            )
        conn.execute(f"create table if not exists {MARKER} (generated_at timestamptz)")


def fill(cfg: Settings, config: GeneratorConfig, progress=print) -> dict:
    """Generate from ``config`` and write every system's rows and the ground truth, a chunk
    of customers at a time (memory stays that of one chunk, whatever the size)."""
    if cfg.warehouse_embedded:  # the server, and the pipeline's login the sales database uses
        warehouse.ensure_warehouse(cfg)
    _guard_sales_db(cfg.sales_dsn)
    parts = len(chunks.spans(config))
    progress(f"generating {config.customers:,} customers over {config.days} days "
             f"from {config.start} (seed {config.seed}), {parts} chunk(s) of at most "
             f"{config.chunk_customers:,}")
    with ExitStack() as stack:
        sales = stack.enter_context(sales_db.Writer(cfg.sales_dsn))
        billing = stack.enter_context(billing_drops.Writer(
            cfg.billing_dir, config.start, config.days, config.seed, config.late_file_rate,
            config.redelivery_rate))
        service = stack.enter_context(service_api.Writer(cfg.sources_dir / "service"))
        truth = stack.enter_context(ground_truth.Writer(cfg.ground_truth_dir))
        for k, chunk in enumerate(generate_chunks(config), 1):
            progress(f"chunk {k} of {parts}: writing it")
            sales.append(chunk.sales)
            billing.append(chunk.billing)
            service.append(chunk.service)
            truth.append(chunk.truth)
            del chunk  # before the next chunk is drawn
        progress("indexing the sales database")
        counts = {f"sales.{k}": v for k, v in sales.finish().items()}
        progress(f"writing billing drops to {cfg.billing_dir}")
        counts.update({f"billing.{k}": v for k, v in billing.finish().items()})
        progress("writing the service desk's ticket store")
        counts.update({f"service.{k}": v for k, v in service.finish().items()})
        truth.finish()
    meta = {"seed": config.seed, "customers": config.customers, "start": config.start.isoformat(),
            "days": config.days, "dirt_rate": config.dirt_rate,
            "chunk_customers": config.chunk_customers, "counts": counts}
    (cfg.sources_dir / "generation.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def generation_info(cfg: Settings) -> dict | None:
    path = cfg.sources_dir / "generation.json"
    return json.loads(path.read_text()) if path.exists() else None


def files_digest(folder: Path) -> str:
    """One hash over every file under ``folder`` (names and bytes), for determinism checks."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def sales_digest(dsn: str) -> str:
    digest = hashlib.sha256()
    with psycopg.connect(dsn) as conn:
        conn.execute("set timezone = 'UTC'")
        for table in sales_db.TABLES:
            with conn.cursor().copy(f"copy (select * from {table} order by 1) to stdout") as cp:
                for block in cp:
                    digest.update(bytes(block))
    return digest.hexdigest()
