"""Warehouse roles for the people and tools that read the marts.

Three roles, created idempotently by :func:`ensure_roles` (``crmwh roles`` and every
``ensure_warehouse`` on the embedded default):

* ``bi_reader``  — BI tools on a schedule: reads ``marts`` and nothing else.
* ``analyst``    — people writing SQL: reads ``core`` and ``marts`` and owns the sandbox
  schema ``sandbox_analyst``; the PII columns of ``core`` (``PII_COLUMNS``) are not granted
  to it (column privileges), the masked copies in ``marts.mart_customer_directory`` are.
* ``crm_pipeline`` — the pipeline's own role: reads and writes every warehouse schema,
  but is no superuser and cannot create roles or databases. On the embedded default the
  pipeline runs as the bootstrap user ``crm``; on a managed Postgres it logs in as
  ``crm_pipeline`` (docs/serving.md).

Tables are rebuilt nightly by dbt (and the marts schema may be swapped by write-audit-publish):
default privileges for the roles that create tables keep new tables readable, and
:func:`ensure_roles` re-grants schema usage, so calling it after a swap is enough.
"""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

BI_READER = "bi_reader"
ANALYST = "analyst"
PIPELINE = "crm_pipeline"
ANALYST_SANDBOX = "sandbox_analyst"
# The schemas each reader may read. Written to by the pipeline only.
BI_SCHEMAS = ("marts",)
ANALYST_SCHEMAS = ("core", "marts")
# Personal data in core that analysts do not get (DOMAIN §1 identity keys); the masked
# versions live in marts.mart_customer_directory.
PII_COLUMNS = {
    "core.dim_customer": ("email_normalised", "phone_normalised", "tax_id_normalised"),
}
# statement timeout of the reading roles: a runaway dashboard query stops, the night goes on
READER_STATEMENT_TIMEOUT = "120s"
# a reader's session left idle in an open transaction ends (it would hold the marts' locks);
# a reader who lifts either setting is ended by the publish anyway (crmwh.publish)
READER_IDLE_TIMEOUT = "60s"


def passwords() -> dict[str, str]:
    """Login passwords: ``CRM_<ROLE>_PASSWORD``, else the role name (embedded demo only)."""
    return {role: os.environ.get(f"CRM_{role.upper()}_PASSWORD", "").strip() or role
            for role in (BI_READER, ANALYST, PIPELINE)}


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def _schemas(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """select nspname from pg_namespace
           where nspname not like 'pg\\_%' and nspname <> 'information_schema'
           order by 1""").fetchall()
    return [r[0] for r in rows]


def _ensure_login(conn: psycopg.Connection, role: str, password: str) -> None:
    options = sql.SQL("login nosuperuser nocreatedb nocreaterole noinherit password {}").format(
        sql.Literal(password))
    verb = "alter" if _role_exists(conn, role) else "create"
    conn.execute(sql.SQL(verb + " role {} with ").format(sql.Identifier(role)) + options)


def ensure_roles(conn: psycopg.Connection, *, table_creators: tuple[str, ...] = ()) -> list[str]:
    """Create or update the three roles and their privileges; return the statements' summary.

    ``table_creators``: roles whose new tables must stay readable (default privileges are per
    creating role); the connected user and ``crm_pipeline`` are always included.
    Needs a connection as a role that may create roles (the embedded ``crm`` superuser, or
    the managed database's admin). Idempotent; takes an advisory lock so concurrent tasks
    do not race.
    """
    done: list[str] = []
    pw = passwords()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(727008)")
        me = conn.execute("select current_user").fetchone()[0]
        database = conn.execute("select current_database()").fetchone()[0]
        for role in (BI_READER, ANALYST, PIPELINE):
            _ensure_login(conn, role, pw[role])
        done.append("roles")
        ident = sql.Identifier
        conn.execute(sql.SQL("grant connect on database {} to {}, {}, {}").format(
            ident(database), ident(BI_READER), ident(ANALYST), ident(PIPELINE)))
        for role in (BI_READER, ANALYST):
            conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(
                ident(role), sql.Literal(READER_STATEMENT_TIMEOUT)))
            conn.execute(sql.SQL("alter role {} set idle_in_transaction_session_timeout = {}")
                         .format(ident(role), sql.Literal(READER_IDLE_TIMEOUT)))
        # nobody but the owners creates objects in public
        conn.execute("revoke create on schema public from public")

        existing = set(_schemas(conn))
        warehouse = [s for s in existing if s not in ("public", ANALYST_SANDBOX)]
        # the pipeline: everything in the warehouse schemas
        for schema in warehouse:
            conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(
                ident(schema), ident(PIPELINE)))
            conn.execute(sql.SQL("grant select, insert, update, delete, truncate, references "
                                 "on all tables in schema {} to {}").format(
                ident(schema), ident(PIPELINE)))
            conn.execute(sql.SQL("grant usage, select, update on all sequences in schema {} "
                                 "to {}").format(ident(schema), ident(PIPELINE)))
        # readers: usage on their schemas, select on what is there now
        for role, schemas in ((BI_READER, BI_SCHEMAS), (ANALYST, ANALYST_SCHEMAS)):
            for schema in schemas:
                if schema not in existing:
                    continue
                conn.execute(sql.SQL("grant usage on schema {} to {}").format(
                    ident(schema), ident(role)))
                conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                    ident(schema), ident(role)))
            # and nothing in the others (a schema swap or an old grant must not widen access)
            for schema in warehouse:
                if schema not in schemas:
                    conn.execute(sql.SQL("revoke all on schema {} from {}").format(
                        ident(schema), ident(role)))
        done.append("schema grants")

        # the analyst's sandbox
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(
            ident(ANALYST_SANDBOX), ident(ANALYST)))
        conn.execute(sql.SQL("revoke all on schema {} from public").format(
            ident(ANALYST_SANDBOX)))
        mask_pii(conn)
        done.append("pii masked")

        # tables created later (dbt rebuilds them nightly) stay readable: default privileges
        # are per creating role and global (no IN SCHEMA), so they follow a renamed schema;
        # which schemas a reader sees is decided by the usage grants above.
        creators = dict.fromkeys((me, PIPELINE, *table_creators))
        for creator in creators:
            conn.execute(sql.SQL("alter default privileges for role {} grant select on tables "
                                 "to {}, {}").format(ident(creator), ident(BI_READER),
                                                     ident(ANALYST)))
            if creator != PIPELINE:
                conn.execute(sql.SQL(
                    "alter default privileges for role {} grant select, insert, update, delete, "
                    "truncate, references on tables to {}").format(ident(creator),
                                                                  ident(PIPELINE)))
        done.append("default privileges")
    return done


def grant_marts(conn: psycopg.Connection, schema: str) -> None:
    """Make ``schema`` readable as the marts: usage and select on all its tables and views for
    ``bi_reader`` and ``analyst``. Idempotent, no commit of its own: write-audit-publish calls
    it on the staging schema inside the swap transaction, before the renames, so the schema
    that becomes ``marts`` is readable the moment it is published. Does nothing when the roles
    do not exist (a managed warehouse whose admin has not run ``crmwh roles``)."""
    present = conn.execute("select count(*) from pg_roles where rolname = any(%s)",
                           ([BI_READER, ANALYST],)).fetchone()[0]
    if present < 2:
        return
    for role in (BI_READER, ANALYST):
        conn.execute(sql.SQL("grant usage on schema {} to {}").format(
            sql.Identifier(schema), sql.Identifier(role)))
        conn.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
            sql.Identifier(schema), sql.Identifier(role)))


def mask_pii(conn: psycopg.Connection) -> None:
    """Column privileges for ``analyst`` on the tables holding PII: everything but the PII.

    dbt calls the same logic after each rebuild of those tables (macro
    ``grant_analyst_without_pii``), so a rebuilt table never exposes PII to analysts.
    """
    for table, pii in PII_COLUMNS.items():
        schema, name = table.split(".")
        cols = conn.execute(
            """select column_name from information_schema.columns
               where table_schema = %s and table_name = %s order by ordinal_position""",
            (schema, name)).fetchall()
        if not cols:
            continue
        target = sql.Identifier(schema, name)
        conn.execute(sql.SQL("revoke select on {} from {}").format(target,
                                                                   sql.Identifier(ANALYST)))
        keep = [sql.Identifier(c) for (c,) in cols if c not in pii]
        conn.execute(sql.SQL("grant select ({}) on {} to {}").format(
            sql.SQL(", ").join(keep), target, sql.Identifier(ANALYST)))


def describe(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(role, schema, privileges) for the reading roles: what ``crmwh roles`` prints."""
    rows = []
    for role in (BI_READER, ANALYST, PIPELINE):
        for schema in _schemas(conn):
            privs = [p for p in ("usage", "create") if conn.execute(
                "select has_schema_privilege(%s, %s, %s)", (role, schema, p)).fetchone()[0]]
            if privs:
                rows.append((role, schema, ", ".join(privs)))
    return rows
