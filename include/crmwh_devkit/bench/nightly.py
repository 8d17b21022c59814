"""Benchmark: the real ``crm_nightly`` DAG, a full first night and the next day, next to the
same work done plainly in one process (``crmwh bench nightly``).

Everything lives in its own home (default ``$CRM_HOME/bench/nightly_<N>``) with its own
embedded PostgreSQL port and service-simulator port, so the user's warehouse is left alone.
The simulated sources are generated there once per size and seed and reused after. Each way
of running the DAG - orchestrator (``airflow dags test`` as ``crmwh run``, or triggered in the
real scheduler as ``crmwh run --scheduler``) times DAG execution mode (``CRM_DBT_EXECUTION``) -
and the plain side get their own fresh warehouse database on that server and their own
``CRM_HOME`` (Airflow metadata, logs, caches) under it; the scheduler's metadata is a fresh
copy of a migrated database on the same server.

Per night the record keeps the wall time, each task's wall time and state (from Airflow's
metadata database), the rows of each landed batch (``audit.load_batches``), the peak memory
of the worker process tree (under the scheduler: all its processes) and of the PostgreSQL
server (``/proc`` every 0.5 s) and the warehouse's size; the overhead is the DAG's wall time
divided by the plain side's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from crmwh import (
    airflow_env,
    airflow_metadata,
    database,
    scheduler,
    settings,
    triggered_run,
    warehouse,
)
from crmwh.errors import CrmwhError
from crmwh.settings import PROJECT_ROOT
from crmwh.warehouse import roles
from crmwh_devkit.bench import nightly_plain
from crmwh_devkit.bench.nightly_args import add_arguments
from crmwh_devkit.bench.nightly_probe import (
    PeakMemory,
    children_except,
    most_at_once,
    postmaster_pid,
    run_ids,
    span_seconds,
    task_records,
    task_times,
    tree,
)
from crmwh_devkit.simulators import fill, service_process
from crmwh_devkit.simulators.population import GeneratorConfig

# seconds: (full first night, next-day night), by customers
GOALS = {2_000: (45, 45), 100_000: (240, 60), 1_000_000: (1800, 300)}
OVERHEAD_GOAL = {100_000: 1.15}
NIGHTS = ("full", "next_day")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the block; restore them after."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _set_environment(values)
        yield
    finally:
        _set_environment(saved)


def _set_environment(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def fresh_db(admin_dsn: str, name: str) -> str:
    """An empty database ``name`` on the bench's server, set up as the warehouse."""
    with psycopg.connect(database.with_database(admin_dsn, "postgres"), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}"')
    dsn = database.with_database(admin_dsn, name)
    with database.connect(dsn, autocommit=True) as conn:
        warehouse.ensure_schemas(conn)
        roles.ensure_roles(conn, settings.load().secrets)
    return dsn


def database_mb(dsn: str) -> float:
    with database.connect(dsn, autocommit=True) as conn:
        size = conn.execute("select pg_database_size(current_database())").fetchone()[0]
    return round(size / 2**20, 1)


def batches_of(dsn: str, run_id: str) -> list[dict]:
    """The batches one run landed, from ``audit.load_batches``."""
    with database.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            """select source, entity, status, rows_extracted, rows_loaded, rows_unchanged,
                      rows_quarantined, round(duration_s::numeric, 2)::float
               from audit.load_batches where run_id = %s order by source, entity""",
            (run_id,)).fetchall()
    keys = ("source", "entity", "status", "rows_extracted", "rows_loaded", "rows_unchanged",
            "rows_quarantined", "seconds")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def pristine_airflow_db(home: Path) -> Path:
    """A freshly migrated Airflow metadata database, made once per bench home and copied
    into each side's home, so every bench run starts with no earlier DAG runs."""
    path = home / "airflow_pristine.db"
    if not path.exists():
        scratch = home / "_migrate"
        shutil.rmtree(scratch, ignore_errors=True)
        with environment({"CRM_HOME": str(scratch)}):
            cfg = settings.load()
            airflow_env.migrate(cfg)
            shutil.copy(cfg.airflow_home / "airflow.db", path)
        shutil.rmtree(scratch, ignore_errors=True)
    return path


def side_home(home: Path, name: str, pristine: Path) -> Path:
    """An empty home for one side, with an already migrated Airflow database."""
    import airflow

    side = home / name
    shutil.rmtree(side, ignore_errors=True)
    (side / "airflow").mkdir(parents=True)
    shutil.copy(pristine, side / "airflow" / "airflow.db")
    (side / "airflow" / f".migrated-{airflow.__version__}").touch()
    return side


def fresh_metadata(base: settings.Settings, name: str) -> str:
    """An empty, migrated Airflow metadata database ``name`` for the scheduler: a copy of the
    bench server's ``airflow`` database, migrated once per bench home."""
    airflow_metadata.ensure(base)
    scheduler.migrate(base)
    with psycopg.connect(base.embedded_admin_dsn(), autocommit=True) as c:
        c.execute(f'drop database if exists "{name}" with (force)')
        c.execute(f'create database "{name}" template airflow owner airflow')
    return database.with_database(base.airflow_db_dsn, name)


@dataclass(frozen=True)
class Bench:
    """What every side of one bench run shares."""

    home: Path
    base: settings.Settings  # the bench home's settings (its server, sources)
    admin_dsn: str  # the bench server's warehouse DSN (superuser)
    nights: list[date]
    pristine: Path  # the migrated SQLite metadata each side's home starts with
    skip: set[int]  # process trees not counted as the worker's (the service simulator)
    saved: Callable[[], None]
    progress: Callable[[str], None]


def _night_record(day: date, kind: str, wall: float, ok: bool, memory: PeakMemory,
                  dsn: str, extra: dict) -> dict:
    return {"night": kind, "as_of_date": day.isoformat(), "ok": ok, "wall_s": round(wall, 2),
            "peak_memory_mb": memory.peak, "memory_samples": memory.samples,
            "warehouse_mb": database_mb(dsn), **extra}


def tested_night(cfg: settings.Settings, day: date, log: Path) -> tuple[int, str | None,
                                                                        list[dict]]:
    """One night through ``airflow dags test``: exit code, run id and task instances."""
    metadata = cfg.airflow_home / "airflow.db"
    before = run_ids(metadata, airflow_env.DAG_ID)
    code = airflow_env.run_dag(cfg, day.isoformat(), log)
    new = sorted(run_ids(metadata, airflow_env.DAG_ID) - before)
    run_id = new[-1] if new else None
    return code, run_id, task_times(metadata, airflow_env.DAG_ID, run_id) if run_id else []


def scheduled_night(cfg: settings.Settings, day: date, log: Path) -> tuple[int, str | None,
                                                                           list[dict]]:
    """One night triggered in the running scheduler and followed to its end: 0 when it
    succeeded, run id and task instances."""
    try:
        run_id = triggered_run.trigger(cfg, day, log)
    except CrmwhError:
        return 1, None, []
    run = triggered_run.follow(cfg, run_id, progress=lambda _line: None)
    tasks = task_records(run["tasks"])
    return (0 if run["state"] == "success" else 1), run_id, tasks


@contextmanager
def orchestrated(cfg: settings.Settings, orchestrator: str,
                 progress: Callable[[str], None]) -> Iterator[Callable]:
    """The night runner of ``orchestrator``; the scheduler runs for the block."""
    if orchestrator == "test":
        yield tested_night
        return
    scheduler.start(cfg, progress=lambda line: progress(f"  scheduler: {line}"))
    try:
        yield scheduled_night
    finally:
        scheduler.stop(cfg)


def dag_side(bench: Bench, orchestrator: str, mode: str, out: dict) -> None:
    """Both nights through ``orchestrator`` with ``CRM_DBT_EXECUTION=mode``, in a fresh
    database ``crm_<orchestrator>_<mode>``; each night is added to ``out["nights"]``, then
    ``bench.saved`` is called."""
    name = f"{orchestrator}_{mode}"
    dsn = fresh_db(bench.admin_dsn, f"crm_{name}")
    side = side_home(bench.home, f"dag_{name}", bench.pristine)
    out.update({"orchestrator": orchestrator, "execution": mode, "database": f"crm_{name}",
                "nights": []})
    env = {"CRM_HOME": str(side), "CRM_WAREHOUSE_DSN": dsn, "CRM_DBT_EXECUTION": mode}
    if orchestrator == "scheduler":
        env.update({"CRM_AIRFLOW_DB_DSN": fresh_metadata(bench.base, f"airflow_{name}"),
                    "CRM_AIRFLOW_API_PORT": str(free_port()), "CRM_NIGHTLY_SCHEDULE": "none"})
    with environment(env):
        cfg = settings.load()
        airflow_env.dbt_manifest(cfg)
        (side / "logs").mkdir(exist_ok=True)
        with orchestrated(cfg, orchestrator, bench.progress) as night:
            for day, kind in zip(bench.nights, NIGHTS, strict=True):
                log = side / "logs" / f"crm_nightly_{day}.log"
                bench.progress(f"DAG ({orchestrator}, {mode}) {kind} night as of {day} "
                               f"(log: {log})")
                memory = PeakMemory({"worker": children_except(os.getpid(), bench.skip),
                                     "postgres": _server_tree(bench.base.pgdata)})
                started = time.perf_counter()
                with memory:
                    code, run_id, tasks = night(cfg, day, log)
                wall = time.perf_counter() - started
                ok = code == 0 and bool(tasks) and all(
                    t["state"] in ("success", "skipped") for t in tasks)
                record = _night_record(day, kind, wall, ok, memory, dsn, {
                    "exit_code": code, "run_id": run_id, "tasks_span_s": span_seconds(tasks),
                    "most_tasks_at_once": most_at_once(tasks),
                    "tasks": tasks, "batches": batches_of(dsn, run_id) if run_id else []})
                out["nights"].append(record)
                bench.saved()
                bench.progress(f"  {'ok' if ok else 'FAILED'} in {wall:.1f} s; warehouse "
                               f"{record['warehouse_mb']} MB; peak worker "
                               f"{memory.peak['worker']['rss_mb']} MB RSS")
                if not ok:
                    break


def plain_side(bench: Bench, out: dict) -> None:
    """Both nights in this process (:mod:`nightly_plain`), in a fresh database ``crm_plain``;
    as :func:`dag_side`, into ``out``."""
    dsn = fresh_db(bench.admin_dsn, "crm_plain")
    side = side_home(bench.home, "plain", bench.pristine)
    out.update({"database": "crm_plain", "nights": []})
    me = os.getpid()
    with environment({"CRM_HOME": str(side), "CRM_WAREHOUSE_DSN": dsn}):
        for day, kind in zip(bench.nights, NIGHTS, strict=True):
            bench.progress(f"plain {kind} night as of {day}")
            run_id = f"plain__{day}"
            memory = PeakMemory({"worker": lambda pm: tree([me], pm) - tree(bench.skip, pm),
                                 "postgres": _server_tree(bench.base.pgdata)})
            started = time.perf_counter()
            error = None
            with memory:
                try:
                    steps = nightly_plain.night(day, run_id, side)
                except Exception as exc:  # recorded: the DAG side's figures still stand
                    steps, error = {}, f"{type(exc).__name__}: {exc}"[:500]
            wall = time.perf_counter() - started
            out["nights"].append(_night_record(day, kind, wall, error is None, memory, dsn, {
                "error": error, "steps": steps, "batches": batches_of(dsn, run_id)}))
            bench.saved()
            bench.progress(f"  {'ok' if error is None else 'FAILED: ' + error} in {wall:.1f} s")
            if error:
                break


def _server_tree(pgdata: Path) -> Callable[[dict[int, int]], set[int]]:
    def pids(parent_of: dict[int, int]) -> set[int]:
        pid = postmaster_pid(pgdata)
        return tree([pid], parent_of) if pid else set()
    return pids


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                              text=True).stdout.strip()
    return git("rev-parse", "HEAD") + (" (with uncommitted changes)"
                                       if git("status", "--porcelain", "--", "include", "dags",
                                              "dbt_project") else "")


def _prepare_sources(cfg: settings.Settings, config: GeneratorConfig,
                     progress: Callable[[str], None]) -> dict:
    info = fill.generation_info(cfg)
    wanted = {"seed": config.seed, "customers": config.customers,
              "start": config.start.isoformat(), "days": config.days}
    if info is not None and all(info.get(k) == v for k, v in wanted.items()):
        progress("sources already generated with these settings; reusing them")
        return {"reused": True, "counts": info["counts"]}
    started = time.perf_counter()
    meta = fill.fill(cfg, config, progress=progress)
    return {"reused": False, "seconds": round(time.perf_counter() - started, 1),
            "counts": meta["counts"]}


def run(customers: int, days: int = 90, seed: int = 42, modes: tuple[str, ...] = ("watcher",),
        orchestrators: tuple[str, ...] = ("test",), plain: bool = True, home: Path | None = None,
        progress: Callable[[str], None] = print,
        checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Run the benchmark and return its record; ``checkpoint`` gets the record so far after
    each night (``complete`` false until the end)."""
    if customers < 1 or days < 3:
        raise CrmwhError("the nightly bench needs at least 1 customer and 3 days",
                         "give --customers N (N >= 1) and --days D (D >= 3)")
    home = (home or settings.load().home / "bench" / f"nightly_{customers}").resolve()
    home.mkdir(parents=True, exist_ok=True)
    port_file = home / "pg_port"
    if not port_file.exists():
        port_file.write_text(str(free_port()))
    port = int(port_file.read_text())
    config = GeneratorConfig(seed=seed, customers=customers, days=days)
    last = config.start + timedelta(days=days - 1)
    nights = [last - timedelta(days=1), last]
    result: dict = {
        "benchmark": "crm_nightly DAG (airflow dags test and/or triggered in the scheduler) vs "
                     "the same work in one process",
        "complete": False,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "customers": customers, "days": days, "seed": seed,
        "nights": [d.isoformat() for d in nights],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "nice": os.nice(0),
                    "load_before": [round(x, 2) for x in os.getloadavg()], "load_after": None,
                    "note": "shared with other agents' work; the load average says how much"},
        "commit": commit(),
        "plain_includes": nightly_plain.__doc__.split("\n\n")[1].replace("\n", " "),
        "dag": [], "plain": None,
    }

    def saved() -> None:
        result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        if checkpoint is not None:
            checkpoint(summarise(result))

    with environment({"CRM_HOME": str(home), "CRM_PG_PORT": str(port),
                      "CRM_WAREHOUSE_DSN": None, "CRM_SALES_DSN": None, "CRM_BILLING_DIR": None,
                      "CRM_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
                      "CRM_DBT_EXECUTION": None, "CRM_AIRFLOW_DB_DSN": None,
                      "CRM_AIRFLOW_API_PORT": None, "CRM_NIGHTLY_SCHEDULE": None}):
        base = settings.load()
        warehouse.ensure_warehouse(base)  # starts the bench's server, roles
        admin = base.embedded_admin_dsn("crm")  # each side's database is made by the superuser
        result["sources"] = _prepare_sources(base, config, progress)
        result["load_workers"] = base.load_workers
        # each side's home has its own secrets: the sources' are the bench home's
        with environment({"CRM_SALES_DSN": base.sales_dsn,
                          "CRM_BILLING_DIR": str(base.billing_dir),
                          "CRM_SERVICE_TOKEN": base.service_token}):
            service_process.start(base)  # as `crmwh run` does: rate 200/s, a 503 every 50th
            try:
                bench = Bench(home=home, base=base, admin_dsn=admin, nights=nights,
                              pristine=pristine_airflow_db(home),
                              skip={int((base.home / "service-api.pid").read_text())},
                              saved=saved, progress=progress)
                progress(f"bench home {home}, PostgreSQL on port {port}")
                for orchestrator in orchestrators:
                    for mode in modes:
                        result["dag"].append({})
                        dag_side(bench, orchestrator, mode, result["dag"][-1])
                if plain:
                    result["plain"] = {}
                    plain_side(bench, result["plain"])
            finally:
                service_process.stop(base)
                database.stop_embedded(base)
    result["complete"] = True
    saved()
    return summarise(result)


def summarise(result: dict) -> dict:
    """Per mode and night: wall, the plain wall, overhead, the goal and whether it is met,
    and the ten slowest tasks."""
    goal = GOALS.get(result["customers"])
    plain = {n["night"]: n for n in (result["plain"] or {}).get("nights", []) if n["ok"]}
    rows = []
    for side in result["dag"]:
        for night in side["nights"]:
            base = plain.get(night["night"])
            seconds = goal[NIGHTS.index(night["night"])] if goal else None
            overhead = round(night["wall_s"] / base["wall_s"], 3) if base else None
            limit = OVERHEAD_GOAL.get(result["customers"])
            rows.append({
                "orchestrator": side["orchestrator"], "execution": side["execution"],
                "night": night["night"], "ok": night["ok"],
                "dag_wall_s": night["wall_s"], "plain_wall_s": base and base["wall_s"],
                "overhead": overhead, "goal_s": seconds,
                "goal_met": None if seconds is None else night["ok"] and night["wall_s"] <= seconds,
                "overhead_goal": limit,
                "overhead_met": None if limit is None or overhead is None else overhead <= limit,
                "peak_worker_rss_mb": night["peak_memory_mb"]["worker"]["rss_mb"],
                "peak_postgres_rss_mb": night["peak_memory_mb"]["postgres"]["rss_mb"],
                "warehouse_mb": night["warehouse_mb"],
                "most_tasks_at_once": night["most_tasks_at_once"],
                "slowest_tasks": [{"task_id": t["task_id"], "seconds": t["seconds"],
                                   "state": t["state"]} for t in night["tasks"][:10]],
            })
    return {**result, "summary": rows}


def write_json(result: dict, folder: Path = PROJECT_ROOT / "benchmarks") -> Path:
    """Write (or overwrite) ``nightly_<N>.json``."""
    folder.mkdir(exist_ok=True)
    path = folder / f"nightly_{result['customers']}.json"
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return path


def record(result: dict, folder: Path = PROJECT_ROOT / "benchmarks") -> tuple[Path, Path]:
    """Write ``nightly_<N>.json`` and append the run's table to ``nightly.md``."""
    path = write_json(result, folder)
    md = folder / "nightly.md"
    if not md.exists():
        md.write_text(MD_HEADER)
    with md.open("a") as out:
        out.write(markdown(result))
    return path, md


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [
        f"\n### {result['customers']:,} customers, {result['days']} days — "
        f"{result['started_at']}{'' if result.get('complete', True) else ' (incomplete)'}\n",
        f"Commit `{result['commit'][:12]}`, {m['cpus']} CPUs, load average "
        f"{m['load_before'][0]} before and {m['load_after'][0]} after (1 min; shared machine), "
        f"sources {'reused' if result['sources']['reused'] else 'generated'}; "
        f"raw JSON in `nightly_{result['customers']}.json`.\n",
        "| orchestrator | execution | night | ok | DAG wall s | plain wall s | overhead | "
        "goal s | met | most tasks at once | peak worker RSS MB | peak Postgres RSS MB | "
        "warehouse MB |",
        "|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in result["summary"]:
        met = "—" if r["goal_met"] is None else ("yes" if r["goal_met"] else "**no**")
        lines.append(
            f"| {r['orchestrator']} | {r['execution']} | {r['night']} | "
            f"{'yes' if r['ok'] else '**no**'} | {r['dag_wall_s']} | {r['plain_wall_s'] or '—'} | "
            f"{r['overhead'] or '—'} | {r['goal_s'] or '—'} | {met} | "
            f"{r['most_tasks_at_once'] or '—'} | {r['peak_worker_rss_mb']} | "
            f"{r['peak_postgres_rss_mb']} | {r['warehouse_mb']} |")
    for r in result["summary"]:
        if r["goal_met"] is False or r["overhead_met"] is False or r["goal_s"] is None:
            slow = ", ".join(f"{t['task_id']} {t['seconds']} s" for t in r["slowest_tasks"])
            lines.append(f"\nSlowest tasks, {r['orchestrator']} {r['execution']} "
                         f"{r['night']}: {slow}")
    return "\n".join(lines) + "\n"


MD_HEADER = """# The nightly DAG's wall time (`crmwh bench nightly`)

What is measured: the real `crm_nightly` DAG run through Airflow exactly as
`crmwh run --date D` runs it (`airflow dags test` in a subprocess), for a full first night
(the last generated day minus one, everything from the start) and then the next day, on
sources the simulators generate (reused when the bench home already has that size and seed).
Everything runs in its own home (`$CRM_HOME/bench/nightly_<N>`) on its own PostgreSQL port,
each side in a fresh database. Per night: the wall time of `airflow dags test`, every task's
wall time and state (Airflow's metadata database, `task_instance`), the rows of each landed
batch (`audit.load_batches`), the peak memory of the worker process tree and of the
PostgreSQL server (summed RSS, and PSS, sampled from /proc every 0.5 s; summed RSS counts
Postgres's shared buffers once per process, PSS shares them out), and the warehouse's size
(`pg_database_size`) after the night.

Beside it, in the same run, the same work is done plainly in one process on a second
database of the same server (`crmwh_devkit/bench/nightly_plain.py`): extract + land per
source, the quality gate, one `dbt build` of everything but the marts, the model fits, the
marts' preparation, one `dbt build` of the marts, the publish, the run summary and the report,
with the same vars. Overhead = the DAG's wall time ÷ the plain wall time, per night. The plain
side needs two dbt builds, not one: the marts join the predictions the fits write after the
core star is built.

`CRM_DBT_EXECUTION` chooses how the DAG runs dbt: `watcher` (default; one `dbt build` per
group with a task per model) or `local` (one dbt invocation per model); `--execution
local,watcher` runs both, each in its own database and Airflow home.

`--orchestrator` chooses how Airflow runs the DAG: `test` (default; `airflow dags test`, one
task after another, as `crmwh run`) or `scheduler` (the real scheduler started for the side
with `crmwh scheduler`'s settings: LocalExecutor with `CRM_AIRFLOW_PARALLELISM` workers,
Postgres metadata copied from a migrated database on the bench's server; each night triggered
with `airflow dags trigger` and followed to its end, as `crmwh run --scheduler`). Under the
scheduler the wall time runs from the trigger to the run's end, task times come from its
Postgres `task_instance`, "most tasks at once" counts the tasks that overlapped, and the
worker's memory is that of all the scheduler's processes (api-server, dag-processor,
triggerer, scheduler, its workers and their tasks). `--orchestrator test,scheduler` runs both.

Rerun (the machine is shared: note the load average in each record):

    crmwh bench nightly --customers 2000 --days 90 --execution local,watcher
    crmwh bench nightly --customers 2000 --orchestrator test,scheduler --no-plain
    crmwh bench nightly --customers 100000          # or python -m crmwh_devkit.bench.nightly

Goals (DAG wall time): 2,000 customers — full night ≤ 45 s, next-day night ≤ 45 s;
100,000 — ≤ 4 min and ≤ 60 s; 1,000,000 — ≤ 30 min and ≤ 5 min; overhead ≤ 1.15 at 100,000.
Where a goal is not met (or no goal is set for the size) the ten slowest tasks are listed.

## Runs
"""


def main(args: argparse.Namespace) -> int:
    from crmwh.cli.common import say

    result = run(args.customers, args.days, args.seed, args.execution, args.orchestrator,
                 plain=args.plain,
                 home=args.home, progress=say, checkpoint=write_json if args.record else None)
    print(markdown(result))
    if args.record:
        path, md = record(result)
        say(f"recorded in {path} and {md}")
    return 0 if all(r["ok"] for r in result["summary"]) else 1


if __name__ == "__main__":
    import sys

    from crmwh.errors import CrmwhError as _Error

    parser = argparse.ArgumentParser(prog="python -m crmwh_devkit.bench.nightly",
                                     description=__doc__.splitlines()[0])
    add_arguments(parser)
    try:
        sys.exit(main(parser.parse_args()))
    except _Error as exc:
        print(f"crmwh: error: {exc}", file=sys.stderr)
        sys.exit(2)
