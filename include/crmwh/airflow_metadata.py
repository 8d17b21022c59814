"""Airflow's metadata database under the real scheduler: a PostgreSQL database of its own.

``CRM_AIRFLOW_DB_DSN`` unset, it is database ``airflow`` of role ``airflow`` on the embedded
server, created here by the server's superuser (the warehouse's role never owns it); any
other DSN must exist already, as ``docker/postgres/init.sh`` creates it for compose. The
queries below read what the scheduler recorded: the DAG's parse, runs, task instances and
the scheduler's heartbeat. Time stamps come back as ISO strings in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from psycopg import sql

from crmwh import database
from crmwh.errors import CrmwhError
from crmwh.settings import Settings


def sqlalchemy_urls(dsn: str) -> dict[str, str]:
    """The DSN as Airflow's connection settings: psycopg2 for the sync engine (as compose),
    psycopg 3 for the async one (Airflow would pick asyncpg, which the project does not
    install)."""
    rest = dsn.split("://", 1)[1]
    return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{rest}",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg://{rest}"}


def ensure(cfg: Settings) -> None:
    """Make the metadata database reachable: on the embedded server, start it and create the
    role (its password as the DSN says) and the database; elsewhere, check it answers."""
    if cfg.airflow_db_embedded:
        database.start_embedded(cfg)
        parts = urlsplit(cfg.airflow_db_dsn)
        role, password = unquote(parts.username or ""), unquote(parts.password or "")
        name = parts.path.lstrip("/")
        with database.connect(cfg.embedded_admin_dsn(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            conn.execute(sql.SQL("{} role {} login password {}").format(
                sql.SQL("alter" if exists else "create"), sql.Identifier(role),
                sql.Literal(password)))
            if not conn.execute("select 1 from pg_database where datname = %s",
                                (name,)).fetchone():
                conn.execute(sql.SQL("create database {} owner {}").format(
                    sql.Identifier(name), sql.Identifier(role)))
    with _connect(cfg.airflow_db_dsn):
        pass


def _connect(dsn: str):
    try:
        return database.connect(dsn, autocommit=True)
    except CrmwhError as exc:
        raise CrmwhError(f"Airflow's metadata database: {exc.problem}",
                         "check CRM_AIRFLOW_DB_DSN, or unset it to use the embedded server"
                         ) from None


def migrated(dsn: str) -> bool:
    """Whether ``airflow db migrate`` has run on the database (its alembic table exists)."""
    with _connect(dsn) as conn:
        return conn.execute("select to_regclass('alembic_version') is not null").fetchone()[0]


def _stamp(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def dag_status(dsn: str, dag_id: str) -> dict | None:
    """Whether the DAG is parsed (serialized), paused or stale; None when Airflow has never
    seen it."""
    with _connect(dsn) as conn:
        row = conn.execute(
            """select d.is_paused, d.is_stale,
                      exists (select 1 from serialized_dag s where s.dag_id = d.dag_id),
                      d.next_dagrun_create_after
               from dag d where d.dag_id = %s""", (dag_id,)).fetchone()
    if row is None:
        return None
    return {"paused": row[0], "stale": row[1], "serialized": row[2],
            "next_run_after": _stamp(row[3])}


def import_errors(dsn: str) -> list[str]:
    """The stack traces of the DAG files that failed to parse, newest first."""
    with _connect(dsn) as conn:
        return [r[0] for r in conn.execute(
            "select stacktrace from import_error order by timestamp desc").fetchall()]


def scheduler_heartbeat_age(dsn: str) -> float | None:
    """Seconds since the newest running scheduler's heartbeat (None: no scheduler ran)."""
    with _connect(dsn) as conn:
        row = conn.execute(
            """select extract(epoch from now() - max(latest_heartbeat)) from job
               where job_type = 'SchedulerJob' and state = 'running'""").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def run_ids(dsn: str, dag_id: str) -> set[str]:
    """The ids of every run of ``dag_id``."""
    with _connect(dsn) as conn:
        return {r[0] for r in conn.execute("select run_id from dag_run where dag_id = %s",
                                           (dag_id,)).fetchall()}


def run(dsn: str, dag_id: str, run_id: str) -> dict | None:
    """One run's type, state, logical date, start and end (None: no such run)."""
    with _connect(dsn) as conn:
        row = conn.execute(
            """select run_type, state, logical_date, start_date, end_date from dag_run
               where dag_id = %s and run_id = %s""", (dag_id, run_id)).fetchone()
    if row is None:
        return None
    return {"run_type": row[0], "state": row[1], "logical_date": _stamp(row[2]),
            "start": _stamp(row[3]), "end": _stamp(row[4])}


def task_instances(dsn: str, dag_id: str, run_id: str) -> list[tuple]:
    """Each task instance of one run as (task id, map index, state, start, end, duration),
    as the bench's SQLite reader returns them."""
    with _connect(dsn) as conn:
        rows = conn.execute(
            """select task_id, map_index, state, start_date, end_date, duration
               from task_instance where dag_id = %s and run_id = %s""",
            (dag_id, run_id)).fetchall()
    return [(t, m, s, _stamp(a), _stamp(b), d) for t, m, s, a, b, d in rows]
