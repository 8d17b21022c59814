"""Write-audit-publish for the marts: build and test in a staging schema, swap when clean.

The nightly run never writes ``marts`` directly:

1. :func:`prepare` empties ``marts__candidate`` and copies every *incremental* mart table
   from ``marts`` into it, so history marts continue from the published history.
2. dbt builds and tests every model under ``models/marts`` in ``marts__candidate``
   (var ``marts_schema``; see ``dbt_project/macros/generate_schema_name.sql``); each test
   result lands in ``audit.dq_results`` (on-run-end hook ``dq_record_results``).
3. :func:`publish` refuses when the run has a blocking check that failed (its latest
   result per check) or a mart is missing from the staging schema. Otherwise, in ONE
   transaction, it writes ``wap_published`` (the as-of date, run, time, relations) into
   the staging schema, renames ``marts`` to ``marts__previous`` and ``marts__candidate`` to
   ``marts``, and comments the schema with the as-of date. Readers see the old marts or
   the new ones, never a mix; after a failed run ``marts`` is the last good version. The
   swap's waits are bounded: ``lock_timeout`` on each try, a few tries, and the reader
   sessions still holding the marts are ended before the last.

``marts__previous`` keeps the version before, for one night (:func:`rollback` swaps it back).

``marts`` reflect one as-of date, always: a run for a date older than the published one is
refused (``marts`` stay as they are) unless asked to rewind (``crmwh run --date D --rewind``,
the DAG run's conf ``{"rewind": true}``); a rewind publishes every mart as of D, the
incremental history marts cut back to D.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from psycopg import errors, sql

from crmwh.errors import CrmwhError
from crmwh.warehouse import publication, roles

log = logging.getLogger(__name__)

PUBLISHED = "marts"
CANDIDATE = "marts__candidate"
PREVIOUS = "marts__previous"
LOCK = 727007
# the publish swap's wait for its locks, tried this many times (readers holding the marts
# are ended before the last try): a publish never waits forever
LOCK_TIMEOUT_S = 10.0
LOCK_ATTEMPTS = 3


class PublishRefused(CrmwhError):
    """The marts of this run may not be published; ``marts`` keeps the last good version."""


@dataclass(frozen=True)
class MartModel:
    name: str
    relation: str  # alias: the table or view name
    materialized: str


@dataclass(frozen=True)
class Publication:
    run_id: str
    as_of_date: date
    relations: list[str]
    row_counts: dict[str, int]


def mart_models(manifest: Path) -> list[MartModel]:
    """Every enabled model under ``models/marts`` in a dbt manifest."""
    try:
        nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"]
    except FileNotFoundError:
        raise CrmwhError(f"no dbt manifest at {manifest}", "run `dbt parse` first") from None
    out = []
    for node in nodes.values():
        if node.get("resource_type") != "model":
            continue
        path = node.get("original_file_path", "")
        if not path.startswith("models/marts/") or not node["config"].get("enabled", True):
            continue
        out.append(MartModel(node["name"], node.get("alias") or node["name"],
                             node["config"].get("materialized", "table")))
    return sorted(out, key=lambda m: m.name)


def mart_sources(manifest: Path) -> dict[str, set[str]]:
    """The sources each mart (by relation) is built from, following dbt's lineage up to the
    ``raw`` sources (``audit``/``ml`` sources are not sources of data)."""
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    nodes = {**doc["nodes"], **doc["sources"]}
    parents = doc.get("parent_map") or {k: n.get("depends_on", {}).get("nodes", [])
                                         for k, n in doc["nodes"].items()}
    found: dict[str, set[str]] = {}

    def sources_of(unique_id: str) -> set[str]:
        if unique_id not in found:
            found[unique_id] = set()  # a cycle guard; dbt has none
            node = nodes.get(unique_id, {})
            if node.get("resource_type") == "source":
                found[unique_id] = {node["source_name"]} if node.get("schema") == "raw" else set()
            else:
                found[unique_id] = set().union(*(sources_of(p) for p in parents.get(unique_id, [])))
        return found[unique_id]

    marts = {m.name for m in mart_models(manifest)}
    return {node.get("alias") or node["name"]: sources_of(uid) for uid, node in doc["nodes"].items()
            if node.get("resource_type") == "model" and node["name"] in marts}


def _exists(conn: Any, schema: str, name: str | None = None) -> bool:
    if name is None:
        return conn.execute("select 1 from pg_namespace where nspname = %s",
                            (schema,)).fetchone() is not None
    return conn.execute("select to_regclass(%s)",
                        (sql.Identifier(schema, name).as_string(conn),)).fetchone()[0] is not None


def refuse_rewind(conn: Any, as_of_date: date, rewind: bool) -> None:
    """Refuse to publish an as-of date older than the one ``marts`` hold, unless asked:
    ``marts`` always reflect one as-of date, and going back is a decision."""
    published = published_as_of(conn)
    if published is not None and as_of_date < published and not rewind:
        raise PublishRefused(
            f"marts hold as-of {published}, newer than this run's {as_of_date}: not "
            "published over them",
            f"to publish every mart as of {as_of_date} instead, rerun it with "
            f"`crmwh run --date {as_of_date} --rewind`")


def prepare(conn: Any, models: list[MartModel], as_of_date: date,
            rewind: bool = False) -> list[str]:
    """Empty the staging schema; copy the published incremental marts into it, without any
    as-of date after ``as_of_date`` (a rewind drops them: every mart as of that date).

    Refuses an as-of date older than the published one unless ``rewind``
    (:func:`refuse_rewind`). Returns the relations copied. Safe to rerun (a retried or
    rerun night starts over).
    """
    refuse_rewind(conn, as_of_date, rewind)
    copied = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (LOCK,))
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(CANDIDATE)))
        conn.execute(sql.SQL("create schema {}").format(sql.Identifier(CANDIDATE)))
        for m in models:
            if m.materialized != "incremental" or not _exists(conn, PUBLISHED, m.relation):
                continue
            src, dst = sql.Identifier(PUBLISHED, m.relation), sql.Identifier(CANDIDATE, m.relation)
            conn.execute(sql.SQL("create table {} (like {} including all)").format(dst, src))
            conn.execute(sql.SQL("insert into {} select * from {}").format(dst, src))
            if _has_column(conn, m.relation, "as_of_date"):
                conn.execute(sql.SQL("delete from {} where as_of_date > %s").format(dst),
                             (as_of_date,))
            copied.append(m.relation)
    log.info("prepared %s for the marts as of %s; copied incremental history: %s", CANDIDATE,
             as_of_date, ", ".join(copied) or "none")
    return copied


def _has_column(conn: Any, relation: str, column: str) -> bool:
    return conn.execute(
        """select 1 from information_schema.columns where table_schema = %s
           and table_name = %s and column_name = %s""",
        (CANDIDATE, relation, column)).fetchone() is not None


def blocking_failures(conn: Any, run_id: str) -> list[tuple[str, str, str]]:
    """(check, object, observed) of the run's blocking checks whose latest result failed.

    A gate failure on a batch that was rejected does not count: its rows left ``raw`` for
    quarantine, so nothing of it reached dbt.
    """
    if not _exists(conn, "audit", "dq_results"):
        return []
    rejected = ("select batch_id from audit.load_batches where status = 'rejected'"
                if _exists(conn, "audit", "load_batches") else "select null::text where false")
    return [tuple(r) for r in conn.execute(
        f"""select check_name, object_name, observed from (
               select distinct on (check_name, object_name, coalesce(batch_id, ''))
                      check_name, object_name, observed, status, severity, batch_id
               from audit.dq_results where run_id = %s
               order by check_name, object_name, coalesce(batch_id, ''), checked_at desc, id desc
           ) latest
           where severity = 'blocking' and status in ('fail', 'error')
             and (batch_id is null or batch_id not in ({rejected}))
           order by check_name""", (run_id,)).fetchall()]


def publish(conn: Any, as_of_date: date, run_id: str, models: list[MartModel], *,
            rewind: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S) -> Publication:
    """Swap the tested staging marts into ``marts`` in one transaction (see module doc).

    The swap waits at most ``lock_timeout_s`` for each lock and is tried
    :data:`LOCK_ATTEMPTS` times; before the last try, the reader sessions still holding
    locks on the marts are ended. Still blocked (by a superuser's session), it refuses,
    naming the sessions. An as-of date older than the published one is refused unless
    ``rewind`` (:func:`refuse_rewind`)."""
    refuse_rewind(conn, as_of_date, rewind)
    failed = blocking_failures(conn, run_id)
    if failed:
        shown = "; ".join(f"{c} on {o}: {obs}" for c, o, obs in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        raise PublishRefused(
            f"marts not published for run {run_id}: {len(failed)} blocking check(s) failed: "
            f"{shown}{more}",
            f"`marts` still holds the last good version; see audit.dq_results where run_id = "
            f"'{run_id}', fix and rerun the date",
        )
    if not _exists(conn, CANDIDATE):
        raise PublishRefused(f"no {CANDIDATE} schema to publish for run {run_id}",
                             "run prepare_marts and the marts build first")
    missing = [m.relation for m in models if not _exists(conn, CANDIDATE, m.relation)]
    if missing:
        raise PublishRefused(
            f"marts not published for run {run_id}: not built in {CANDIDATE}: {', '.join(missing)}",
            "`marts` still holds the last good version; rerun the date",
        )
    relations = [m.relation for m in models]
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            counts = _swap(conn, as_of_date, run_id, models, lock_timeout_s)
            break
        except errors.LockNotAvailable:
            holders = _lock_holders(conn)
            if attempt == LOCK_ATTEMPTS:
                raise PublishRefused(
                    f"marts not published for run {run_id}: still waiting for locks on the "
                    f"marts after {attempt} tries of {lock_timeout_s:g} s; held by "
                    + (", ".join(f"pid {p} ({u}, {st})" for p, u, st in holders) or "nobody now"),
                    "`marts` still holds the last good version; end those sessions "
                    "(pg_terminate_backend) and rerun the date") from None
            if attempt == LOCK_ATTEMPTS - 1:
                _end_readers(conn, holders)
            log.warning("publish waited %g s for locks on the marts (held by %s); retrying",
                        lock_timeout_s, holders)
            time.sleep(min(lock_timeout_s, 5.0))
    log.info("published marts as of %s (run %s): %s", as_of_date, run_id, counts)
    return Publication(run_id, as_of_date, relations, counts)


def _swap(conn: Any, as_of_date: date, run_id: str, models: list[MartModel],
          lock_timeout_s: float) -> dict[str, int]:
    """The swap in one transaction, waiting at most ``lock_timeout_s`` for each lock."""
    relations = [m.relation for m in models]
    with conn.transaction():
        conn.execute(sql.SQL("set local lock_timeout = {}").format(
            sql.Literal(f"{int(lock_timeout_s * 1000)}ms")))
        conn.execute("select pg_advisory_xact_lock(%s)", (LOCK,))
        counts = {}
        for m in models:
            counts[m.relation] = conn.execute(sql.SQL("select count(*) from {}").format(
                sql.Identifier(CANDIDATE, m.relation))).fetchone()[0]
        marker = publication.create_marker(conn, CANDIDATE)
        conn.execute(sql.SQL("insert into {} values (%s, %s, now(), %s)").format(marker),
                     (as_of_date, run_id, relations))
        # privileges do not travel with a schema swap: the readers get the new marts in the
        # same transaction, so there is no moment they cannot read them
        roles.grant_marts(conn, CANDIDATE)
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(PREVIOUS)))
        if _exists(conn, PUBLISHED):
            conn.execute(sql.SQL("alter schema {} rename to {}").format(
                sql.Identifier(PUBLISHED), sql.Identifier(PREVIOUS)))
            roles.close_to_readers(conn, PREVIOUS)  # readers read the published marts only
        conn.execute(sql.SQL("alter schema {} rename to {}").format(
            sql.Identifier(CANDIDATE), sql.Identifier(PUBLISHED)))
        comment = (f"CRM marts as of {as_of_date} (run {run_id}); published by "
                   "write-audit-publish, "
                   f"see {PUBLISHED}.{publication.MARKER}")
        conn.execute(sql.SQL("comment on schema {} is {}").format(
            sql.Identifier(PUBLISHED), sql.Literal(comment)))
        publication.ensure_publications_log(conn)
        conn.execute("insert into audit.mart_publications (run_id, as_of_date, relations, "
                     "row_counts) values (%s, %s, %s, %s)",
                     (run_id, as_of_date, relations, json.dumps(counts)))
    return counts


def _lock_holders(conn: Any) -> list[tuple[int, str, str]]:
    """(pid, user, state) of the other sessions holding a lock on a relation of the marts
    schemas, or the publish lock."""
    return [tuple(r) for r in conn.execute(
        """select distinct a.pid, a.usename, a.state
           from pg_locks l
           join pg_stat_activity a on a.pid = l.pid
           left join pg_class c on c.oid = l.relation
           left join pg_namespace n on n.oid = c.relnamespace
           where a.pid <> pg_backend_pid() and l.granted
             and (n.nspname = any(%s)
                  or (l.locktype = 'advisory' and l.objid = %s))
           order by a.pid""", ([PUBLISHED, CANDIDATE, PREVIOUS], LOCK)).fetchall()]


def _end_readers(conn: Any, holders: list[tuple[int, str, str]]) -> None:
    """End the sessions of non-superusers (readers: BI tools, analysts) holding the marts
    after they had a lock timeout's grace: however they set their own timeouts, a reader
    never holds the publication up longer than that."""
    readers = [pid for (pid,) in conn.execute(
        """select a.pid from pg_stat_activity a join pg_roles r on r.rolname = a.usename
           where a.pid = any(%s) and not r.rolsuper""", ([p for p, _, _ in holders],))]
    for pid in readers:
        conn.execute("select pg_terminate_backend(%s)", (pid,))
    if readers:
        log.warning("ended %d reader sessions holding the marts: pids %s", len(readers),
                    readers)


def published_as_of(conn: Any) -> date | None:
    """The as-of date ``marts`` reflects (None before the first publication)."""
    if not _exists(conn, PUBLISHED, publication.MARKER):
        return None
    row = conn.execute(sql.SQL("select as_of_date from {}").format(
        sql.Identifier(PUBLISHED, publication.MARKER))).fetchone()
    return row[0] if row else None


def rollback(conn: Any) -> date | None:
    """Swap ``marts__previous`` back into ``marts``; returns the as-of date now published."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (LOCK,))
        if not _exists(conn, PREVIOUS):
            raise CrmwhError(f"no {PREVIOUS} schema to roll back to",
                             "only the version before the last publication is kept")
        roles.grant_marts(conn, PREVIOUS)
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(CANDIDATE)))
        conn.execute(sql.SQL("alter schema {} rename to {}").format(
            sql.Identifier(PUBLISHED), sql.Identifier(CANDIDATE)))
        roles.close_to_readers(conn, CANDIDATE)
        conn.execute(sql.SQL("alter schema {} rename to {}").format(
            sql.Identifier(PREVIOUS), sql.Identifier(PUBLISHED)))
    return published_as_of(conn)
