"""The generator writes the same sales database from the same seed. (The generator's output
without a database: tests/unit/test_generator.py.)"""

from __future__ import annotations

import psycopg

from crmwh import database
from crmwh_devkit.simulators import fill, sales_db
from crmwh_devkit.simulators.generator import generate
from tests.support.demo import CONFIG


def test_same_seed_same_sales_database(cfg, generated):
    # the session's sales database was filled from seed 7: regenerating gives the same rows
    again = generate(CONFIG)
    for name, frame in generated.sales.items():
        assert frame.equals(again.sales[name]), name
    admin = database.with_database(cfg.warehouse_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute("drop database if exists crm_sales_again with (force)")
        c.execute("create database crm_sales_again")
    other = database.with_database(cfg.warehouse_dsn, "crm_sales_again")
    sales_db.write(other, again.sales)
    assert fill.sales_digest(other) == fill.sales_digest(cfg.sales_dsn)
