"""The generator writes the same sales database from the same seed, chunk by chunk as at
once. (The generator's output without a database: tests/unit/test_generator.py and
tests/unit/test_generator_chunks.py.)"""

from __future__ import annotations

from datetime import date

import psycopg

from crmwh import database
from crmwh_devkit.simulators import chunks, fill, sales_db
from crmwh_devkit.simulators.generator import generate, generate_chunks
from crmwh_devkit.simulators.population import GeneratorConfig
from tests.support.demo import CONFIG


def test_same_seed_same_sales_database(cfg, generated):
    # the session's sales database was filled from seed 7: regenerating gives the same rows
    again = generate(CONFIG)
    for name, frame in generated.sales.items():
        assert frame.equals(again.sales[name]), name
    admin = database.with_database(cfg.admin_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("drop database if exists crm_sales_again with (force)")
        c.execute("create database crm_sales_again")
    other = database.with_database(cfg.admin_dsn, "crm_sales_again")
    sales_db.write(other, again.sales)
    assert fill.sales_digest(other) == fill.sales_digest(cfg.sales_dsn)


def test_sales_database_written_chunk_by_chunk_is_that_of_all_rows_at_once(cfg):
    config = GeneratorConfig(seed=13, customers=500, start=date(2026, 1, 1), days=30,
                             chunk_customers=200)
    parts = list(generate_chunks(config))
    digests = []
    for name, pieces in (("crm_sales_chunked", parts), ("crm_sales_whole", [chunks.concat(parts)])):
        admin = database.with_database(cfg.admin_dsn, "postgres")
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f"drop database if exists {name} with (force)")
            c.execute(f"create database {name}")
        dsn = database.with_database(cfg.admin_dsn, name)
        with sales_db.Writer(dsn) as writer:
            for part in pieces:
                writer.append(part.sales)
            counts = writer.finish()
        assert counts["customers"] == 500 and counts["sales_reps"] == 500 // 60
        digests.append(fill.sales_digest(dsn))
    assert len(parts) == 3 and digests[0] == digests[1]
