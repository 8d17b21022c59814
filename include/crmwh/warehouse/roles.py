"""Warehouse roles for the people and tools that read the marts.

Three roles, created idempotently by :func:`ensure_roles` (``crmwh roles`` and every
``ensure_warehouse`` on the embedded default), each with a password of its own
(:mod:`crmwh.credentials`):

* ``bi_reader``  — BI tools on a schedule: reads ``marts`` and nothing else.
* ``analyst``    — people writing SQL: reads ``core`` and ``marts`` and creates tables in the
  sandbox schema ``sandbox_analyst``, which it does not own (so it cannot open it to anyone);
  the PII columns of ``core`` (``PII_COLUMNS``: customers' and staff's) are not granted to
  it (column privileges), the masked copies in ``marts.mart_customer_directory`` are.
* ``crm_pipeline`` — the pipeline's own role: owns, reads and writes every warehouse schema
  (and may create schemas in the database: write-audit-publish swaps them), but is no
  superuser and cannot create roles or databases. The nightly logs in as it, on the embedded
  default and on a managed Postgres (docs/serving.md); the superuser only sets up
  (:func:`hand_over`, :func:`ensure_roles`).

No reader holds a privilege outside its schemas, on a schema or on a table in it.
Tables are rebuilt nightly by dbt (and the marts schema is swapped by write-audit-publish):
default privileges in the readers' schemas keep new tables readable; the schema swapped out
is closed to the readers in the swap (:func:`close_to_readers`), and :func:`ensure_roles`
re-grants schema usage, so calling it after a swap is enough.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from crmwh.credentials import required
from crmwh.settings import PIPELINE_ROLE

BI_READER = "bi_reader"
ANALYST = "analyst"
PIPELINE = PIPELINE_ROLE
ANALYST_SANDBOX = "sandbox_analyst"
# The schemas each reader may read. Written to by the pipeline only.
BI_SCHEMAS = ("marts",)
ANALYST_SCHEMAS = ("core", "marts")
# Personal data in core that analysts do not get (DOMAIN §1 identity keys); the masked
# versions live in marts.mart_customer_directory.
PII_COLUMNS = {
    "core.dim_customer": ("email_normalised", "phone_normalised", "tax_id_normalised"),
    "core.dim_sales_rep": ("email_normalised",),  # staff are people too
}
# statement timeout of the reading roles: a runaway dashboard query stops, the night goes on
READER_STATEMENT_TIMEOUT = "120s"
# a reader's session left idle in an open transaction ends (it would hold the marts' locks);
# a reader who lifts either setting is ended by the publish anyway (crmwh.publish)
READER_IDLE_TIMEOUT = "60s"


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def _schemas(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        """select nspname from pg_namespace
           where nspname not like 'pg\\_%' and nspname <> 'information_schema'
           order by 1""").fetchall()
    return [r[0] for r in rows]


def ensure_logins(conn: psycopg.Connection, secrets: dict[str, str]) -> None:
    """Create the three roles, or update them, as logins with their passwords and nothing
    more (no superuser, no role or database creation). Idempotent; needs a role-creating
    login."""
    pw = {role: required(secrets, role) for role in (BI_READER, ANALYST, PIPELINE)}
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(727008)")
        for role, password in pw.items():
            options = sql.SQL("login nosuperuser nocreatedb nocreaterole noinherit "
                              "password {}").format(sql.Literal(password))
            verb = "alter" if _role_exists(conn, role) else "create"
            conn.execute(sql.SQL(verb + " role {} with ").format(sql.Identifier(role)) + options)


def ensure_roles(conn: psycopg.Connection, secrets: dict[str, str], *,
                 table_creators: tuple[str, ...] = ()) -> list[str]:
    """Create or update the three roles and their privileges; return the statements' summary.

    ``secrets``: the roles' passwords (``Settings.secrets``: generated in the home on the
    embedded warehouse, ``CRM_<ROLE>_PASSWORD`` on any other). ``table_creators``: roles
    whose new tables must stay readable (default privileges are per creating role); the
    connected user and ``crm_pipeline`` are always included. Needs a connection as a role
    that may create roles (the embedded ``crm`` superuser, or the managed database's admin).
    Idempotent; takes an advisory lock so concurrent tasks do not race.
    """
    done: list[str] = []
    with conn.transaction():
        ensure_logins(conn, secrets)
        me = conn.execute("select current_user").fetchone()[0]
        database = conn.execute("select current_database()").fetchone()[0]
        done.append("roles")
        ident = sql.Identifier
        conn.execute(sql.SQL("grant connect on database {} to {}, {}, {}").format(
            ident(database), ident(BI_READER), ident(ANALYST), ident(PIPELINE)))
        for role in (BI_READER, ANALYST):
            conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(
                ident(role), sql.Literal(READER_STATEMENT_TIMEOUT)))
            conn.execute(sql.SQL("alter role {} set idle_in_transaction_session_timeout = {}")
                         .format(ident(role), sql.Literal(READER_IDLE_TIMEOUT)))
        # the pipeline may end reader sessions that hold the marts up at publish
        # (crmwh.publish); a noinherit role needs the grant's own inherit option (PG 16+)
        if conn.info.server_version >= 160000:
            conn.execute(sql.SQL("grant pg_signal_backend to {} with inherit true").format(
                ident(PIPELINE)))
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
        # the analyst's sandbox: analyst creates tables in it but does not own it, so it
        # cannot open it (or what it holds) to anyone else
        conn.execute(sql.SQL("create schema if not exists {} authorization {}").format(
            ident(ANALYST_SANDBOX), ident(me)))
        conn.execute(sql.SQL("alter schema {} owner to {}").format(
            ident(ANALYST_SANDBOX), ident(me)))
        conn.execute(sql.SQL("revoke all on schema {} from public").format(
            ident(ANALYST_SANDBOX)))
        conn.execute(sql.SQL("grant usage, create on schema {} to {}").format(
            ident(ANALYST_SANDBOX), ident(ANALYST)))
        # and nothing in the others, neither the schema nor any table in it (a schema swap,
        # an old grant or an analyst's grant on its sandbox tables must not widen access)
        for role, schemas in ((BI_READER, BI_SCHEMAS), (ANALYST, ANALYST_SCHEMAS)):
            for schema in sorted(set(_schemas(conn)) - {*schemas, *_own(role)}):
                conn.execute(sql.SQL("revoke all on schema {} from {}").format(
                    ident(schema), ident(role)))
                conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(
                    ident(schema), ident(role)))
        done.append("schema grants")
        mask_pii(conn)
        done.append("pii masked")

        # tables created later (dbt rebuilds them nightly) stay readable where the reader may
        # read: default privileges per creating role in each reader schema. A schema swapped
        # in as marts has none of its own: write-audit-publish grants it before the swap
        # (grant_marts), and the next call here sets its defaults.
        creators = dict.fromkeys((me, PIPELINE, *table_creators))
        for creator in creators:
            # none outside the readers' schemas (older versions granted them everywhere)
            conn.execute(sql.SQL("alter default privileges for role {} revoke select on tables "
                                 "from {}, {}").format(ident(creator), ident(BI_READER),
                                                       ident(ANALYST)))
            for role, schemas in ((BI_READER, BI_SCHEMAS), (ANALYST, ANALYST_SCHEMAS)):
                for schema in schemas:
                    if schema in existing:
                        conn.execute(sql.SQL("alter default privileges for role {} in schema {} "
                                             "grant select on tables to {}").format(
                            ident(creator), ident(schema), ident(role)))
            if creator != PIPELINE:
                conn.execute(sql.SQL(
                    "alter default privileges for role {} grant select, insert, update, delete, "
                    "truncate, references on tables to {}").format(ident(creator),
                                                                  ident(PIPELINE)))
        done.append("default privileges")
    return done


def hand_over(conn: psycopg.Connection, *, whole_database: bool = False) -> None:
    """Make ``crm_pipeline`` the owner of the warehouse: CREATE on the database, and every
    schema but ``public`` and the sandbox, with the tables, views and sequences in them, that
    another role owns (a warehouse built before the pipeline had its own login, or a table an
    operator made). ``whole_database``: the database itself and ``public`` too (the simulated
    sales system on the embedded server, which the pipeline reads and the simulator fills).
    Idempotent; needs the superuser."""
    ident = sql.Identifier
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(727008)")
        database = conn.execute("select current_database()").fetchone()[0]
        conn.execute(sql.SQL("grant connect, create, temporary on database {} to {}").format(
            ident(database), ident(PIPELINE)))
        if whole_database:
            conn.execute(sql.SQL("alter database {} owner to {}").format(
                ident(database), ident(PIPELINE)))
        kept = () if whole_database else ("public", ANALYST_SANDBOX)
        foreign = [s for s in _schemas(conn) if s not in kept]
        for (schema,) in conn.execute(
                """select nspname from pg_namespace where nspname = any(%s)
                   and nspowner not in (%s::regrole, 'pg_database_owner'::regrole)""",
                (foreign, PIPELINE)).fetchall():
            conn.execute(sql.SQL("alter schema {} owner to {}").format(
                ident(schema), ident(PIPELINE)))
        kinds = {"r": "table", "p": "table", "f": "foreign table", "v": "view",
                 "m": "materialized view", "S": "sequence"}
        rows = conn.execute(
            """select n.nspname, c.relname, c.relkind from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = any(%s) and c.relkind = any(%s) and c.relowner <> %s::regrole
                 and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                                 and d.objid = c.oid and d.deptype in ('a', 'i'))
               order by c.relkind = 'S'""", (foreign, list(kinds), PIPELINE)).fetchall()
        for schema, name, kind in rows:  # a table takes its own sequences along
            conn.execute(sql.SQL("alter {} {} owner to {}").format(
                sql.SQL(kinds[kind]), ident(schema, name), ident(PIPELINE)))


def _own(role: str) -> tuple[str, ...]:
    """The schemas ``role`` writes in besides reading its schemas."""
    return (ANALYST_SANDBOX,) if role == ANALYST else ()


def close_to_readers(conn: psycopg.Connection, schema: str) -> None:
    """Take every privilege of ``bi_reader`` and ``analyst`` on ``schema`` and its tables
    (a marts schema swapped out: the readers read ``marts`` only). No commit of its own."""
    present = [r for (r,) in conn.execute("select rolname from pg_roles where rolname = any(%s)",
                                          ([BI_READER, ANALYST],)).fetchall()]
    for role in present:
        conn.execute(sql.SQL("revoke all on schema {} from {}").format(
            sql.Identifier(schema), sql.Identifier(role)))
        conn.execute(sql.SQL("revoke all on all tables in schema {} from {}").format(
            sql.Identifier(schema), sql.Identifier(role)))


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
