"""Every warehouse object created outside dbt, each kind in its own module:

- ``schemas``         the warehouse schemas
- ``raw``             the landing tables in ``raw`` (from the source contracts)
- ``raw_migrations``  one-off migrations of the raw tables, recorded so each runs once
- ``audit``           audit tables: batches, billing files, run summaries, data-quality results
- ``quarantine``      ``quarantine.rows``
- ``parking``         ``quarantine.parked``: rows waiting for a late parent
- ``ml``              the tables the model fits write (and ``audit.model_runs``)
- ``publication``     write-audit-publish's marker table and publication log
- ``roles``           the reading roles and their privileges
- ``ddl``             idempotent DDL that locks nothing when the index or column exists

:func:`ensure_warehouse` reaches (or starts) the server and creates everything;
:func:`ensure_schemas` creates everything on an open connection. Both are idempotent.
"""

from __future__ import annotations

import psycopg

from crmwh import database
from crmwh.settings import EMBEDDED_SALES_DB, Settings
from crmwh.warehouse import (
    audit,
    ml,
    parking,
    quarantine,
    raw,
    raw_migrations,
    roles,
    schemas,
)


def ensure_warehouse(settings: Settings) -> str:
    """Make sure the warehouse is reachable (starting the embedded one) and set up; return the
    pipeline's DSN.

    On the embedded default the superuser creates the roles and hands the warehouse to
    ``crm_pipeline`` (:func:`roles.hand_over`, with the simulated sales database), the
    pipeline creates what is missing (so it owns it), and the superuser grants the readers
    their schemas: no step of the nightly needs the superuser. Elsewhere the DSN's login
    creates what is missing and a managed Postgres's admin runs ``crmwh roles``."""
    if settings.warehouse_embedded:
        database.start_embedded(settings)
        with database.connect(settings.admin_dsn, autocommit=True) as admin:
            roles.ensure_logins(admin, settings.secrets)
            roles.hand_over(admin)
        if "sales" not in settings.configured:  # the simulated sales system: the pipeline's too
            sales = database.with_database(settings.admin_dsn, EMBEDDED_SALES_DB)
            with database.connect(sales, autocommit=True) as admin:
                roles.hand_over(admin, whole_database=True)
    with database.connect(settings.warehouse_dsn, autocommit=True) as conn:
        ensure_schemas(conn)
    if settings.warehouse_embedded:
        with database.connect(settings.admin_dsn, autocommit=True) as admin:
            roles.ensure_roles(admin, settings.secrets)
    return settings.warehouse_dsn


def ensure_schemas(conn: psycopg.Connection) -> None:
    """Create schemas, raw tables, audit, quarantine and model tables idempotently.

    On an autocommit connection (as :func:`ensure_warehouse` opens) each statement commits
    on its own and what exists already is not locked (:mod:`crmwh.warehouse.ddl`): every
    extract task calls this while the other sources' extracts may be landing, and one
    transaction holding locks on many tables deadlocked with them. Concurrent callers wait
    for each other on an advisory lock."""
    conn.execute("select pg_advisory_lock(727001)")
    try:
        schemas.create_schemas(conn)
        raw.create_tables(conn)
        audit.create_tables(conn)
        quarantine.create_tables(conn)
        parking.create_tables(conn)
        with conn.transaction():
            raw_migrations.migrate(conn)  # the row hash became 16 bytes
    finally:
        conn.execute("select pg_advisory_unlock(727001)")
    # ml.clv_predictions, ml.churn_scores and audit.model_runs are dbt sources of the marts
    ml.ensure_tables(conn)
