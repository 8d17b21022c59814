"""``crmwh``: run the CRM warehouse from the command line.

Errors a user can fix print one line (problem — fix) and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from datetime import date, timedelta

from crmwh import settings
from crmwh.errors import CrmwhError

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from None


def say(msg: str) -> None:
    print(f"[crmwh] {msg}", flush=True)


# --- db ------------------------------------------------------------------

def cmd_db(args: argparse.Namespace) -> int:
    from crmwh import database

    cfg = settings.load()
    if args.action == "url":
        print(cfg.warehouse_dsn)
        return 0
    if not cfg.warehouse_embedded and args.action in ("start", "stop"):
        say(f"CRM_WAREHOUSE_DSN is set ({database.describe(cfg.warehouse_dsn)}): "
            "that server is managed outside crmwh")
        if args.action == "start":
            database.ensure_warehouse(cfg)
            say("reachable; schemas ensured")
        return 0
    if args.action == "start":
        t = time.monotonic()
        database.ensure_warehouse(cfg)
        say(f"embedded PostgreSQL up at {database.describe(cfg.warehouse_dsn)} "
            f"(data in {cfg.pgdata}, {time.monotonic() - t:.1f} s)")
    elif args.action == "stop":
        say("stopped" if database.stop_embedded(cfg) else "not running")
    elif args.action == "status":
        if cfg.warehouse_embedded:
            up = database.embedded_running(cfg)
            say(f"embedded PostgreSQL {'running' if up else 'stopped'} on "
                f"127.0.0.1:{cfg.pg_port}, data in {cfg.pgdata}")
            return 0 if up else 1
        with database.connect(cfg.warehouse_dsn) as conn:
            version = conn.execute("show server_version").fetchone()[0]
        say(f"{database.describe(cfg.warehouse_dsn)} reachable (PostgreSQL {version})")
    return 0


# --- generate ------------------------------------------------------------

def cmd_generate(args: argparse.Namespace) -> int:
    from crmwh.sources import publish
    from crmwh.sources.generator import GeneratorConfig

    cfg = settings.load()
    t = time.monotonic()
    meta = publish.publish(cfg, GeneratorConfig(
        seed=args.seed, customers=args.customers, start=args.start, days=args.days,
        dirt_rate=args.dirt_rate), progress=say)
    for name, count in meta["counts"].items():
        print(f"  {name:<22} {count:>10,}")
    last = args.start + timedelta(days=args.days - 1)
    say(f"sources ready in {time.monotonic() - t:.1f} s; data runs {args.start} .. {last}")
    return 0


# --- run -----------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from crmwh import airflow_env, database
    from crmwh.sources import service_process

    cfg = settings.load()
    database.ensure_warehouse(cfg)
    if service_process.is_local_simulator(cfg):
        service_process.start(cfg)
    say("preparing Airflow (db migrate, dbt manifest)")
    airflow_env.migrate(cfg)
    airflow_env.dbt_manifest(cfg)
    log_dir = cfg.home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for day in args.date:
        log = log_dir / f"crm_nightly_{day}.log"
        log.unlink(missing_ok=True)
        say(f"running DAG crm_nightly for {day} through Airflow (log: {log})")
        t = time.monotonic()
        code = airflow_env.run_dag(cfg, day.isoformat(), log)
        if code != 0:
            failure = _first_failure(log)
            say(f"crm_nightly for {day} FAILED after {time.monotonic() - t:.0f} s: {failure}")
            return 1
        say(f"crm_nightly for {day} succeeded in {time.monotonic() - t:.0f} s")
        _print_run(cfg, day)
    return 0


def _first_failure(log) -> str:
    lines = log.read_text(errors="replace").splitlines()
    for marker in ("QualityGateFailed", "CrmwhError", "Error:", "ERROR"):
        for line in lines:
            if marker in line:
                return line.strip()[:400]
    return f"see {log}"


def _print_run(cfg: settings.Settings, day: date) -> None:
    from crmwh import database, report

    with database.connect(cfg.warehouse_dsn) as conn:
        print(report.run_report(conn, day))


# --- sql -----------------------------------------------------------------

def cmd_sql(args: argparse.Namespace) -> int:
    from crmwh import database, report

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn) as conn:
        cur = conn.execute(args.query)
        if cur.description is None:
            conn.commit()
            say(f"{cur.rowcount} rows affected")
            return 0
        cols = [d.name for d in cur.description]
        rows = cur.fetchmany(args.limit + 1)
        print(report.table(cols, rows[: args.limit]))
        more = " (more rows not shown)" if len(rows) > args.limit else ""
        print(f"({min(len(rows), args.limit)} rows{more})")
    return 0


# --- quarantine (issue 7) -----------------------------------------------

def cmd_quarantine(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.quality import release

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        done = release.release(conn, args.batch, args.reason)
    say(f"released {done.rows_selected} rows of batch {done.batch_id} as "
        f"{done.release_batch_id}: {done.rows_loaded} loaded, {done.rows_unchanged} unchanged, "
        f"{done.rows_quarantined} quarantined again, {done.rows_not_releasable} not releasable "
        f"(reconciles: {done.reconciles}); gate {done.gate}")
    return 0


# --- service-api ---------------------------------------------------------

def cmd_service_api(args: argparse.Namespace) -> int:
    from crmwh.sources import service_api, service_process

    cfg = settings.load()
    if args.action == "serve":
        server = service_api.make_server(cfg.sources_dir / "service", args.host, args.port,
                                         cfg.service_token, rate=args.rate,
                                         fail_every=args.fail_every)
        say(f"service API simulator on http://{args.host}:{args.port} "
            f"(rate {args.rate}/s, 503 every {args.fail_every or 'never'})")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        return 0
    if args.action == "start":
        say(f"service API up at {service_process.start(cfg)}")
    elif args.action == "stop":
        say("stopped" if service_process.stop(cfg) else "not running")
    return 0


# --- bench ---------------------------------------------------------------

def cmd_bench(args: argparse.Namespace) -> int:
    from crmwh import bench, report

    result = bench.run(customers=args.customers, days=args.days, seed=args.seed, progress=say,
                       repeat=args.repeat)
    one = {src: r.get("one_worker", r)["ratio_to_copy"] for src, r in result["sources"].items()}
    rows = [(src, r["rows"], r["rows_per_s"], r["copy_rows_per_s"], r["ratio_to_copy"], one[src])
            for src, r in result["sources"].items()]
    print(report.table(["source", "rows", "rows/s", "COPY rows/s",
                        f"ratio ({result['load_workers']} workers)", "ratio (1 worker)"], rows))
    if args.record:
        say(f"recorded in {bench.record(result)}")
    return 0


# --- serving (issue 8): roles, docs, the nightly HTML report ---------------

def cmd_roles(args: argparse.Namespace) -> int:
    from crmwh import database, report, roles

    cfg = settings.load()
    database.ensure_warehouse(cfg)
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        roles.ensure_roles(conn)
        print(report.table(["role", "schema", "privileges"], roles.describe(conn)))
    say("roles bi_reader, analyst, crm_pipeline ensured (docs/serving.md)")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from crmwh import docs

    cfg = settings.load()
    path = docs.generate(cfg, as_of=args.date)
    say(f"dbt docs written: {path} (open it in a browser, no server needed)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from crmwh import database, html_report

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn) as conn:
        path, sections = html_report.write(conn, cfg, args.date, args.out)
    for line in html_report.missing_sections(sections):
        say(f"section not available: {line}")
    say(f"nightly report written: {path}")
    return 0


# --- backtest-churn (issue 6) ---------------------------------------------

def cmd_backtest_churn(args: argparse.Namespace) -> int:
    from crmwh import database, report
    from crmwh.churn import backtest

    cfg = settings.load()
    if not (cfg.ground_truth_dir / "churn.csv").exists():
        raise CrmwhError(f"no ground truth in {cfg.ground_truth_dir}",
                         "run `crmwh generate` (the backtest needs the generator's churn.csv)")
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        result = backtest.run(conn, cfg.ground_truth_dir, args.date or None,
                              run_id=args.run_id)
    rows = [(r["as_of_date"], r["evaluated"], r["positives"], r["auc_model"], r["auc_recency"],
             r["lift10_model"], r["lift10_recency"]) for r in result["per_date"]]
    s = result["summary"]
    rows.append(("mean", "", "", s["auc_model"], s["auc_recency"], s["lift10_model"],
                 s["lift10_recency"]))
    print(report.table(["as of T", "customers", "churned in (T, T+90]", "AUC model",
                        "AUC recency", "lift@10% model", "lift@10% recency"], rows))
    verdict = "beats" if s["beats_baseline_auc"] and s["beats_baseline_lift10"] else \
        "does NOT beat"
    say(f"the churn model {verdict} the recency-only baseline (AUC and top-decile lift); "
        f"recorded in audit.model_runs (model churn_backtest, run {args.run_id})")
    return 0


# --- demo: the main job --------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from crmwh.sources import publish

    cfg = settings.load()
    info = publish.generation_info(cfg)
    wanted = {"seed": args.seed, "customers": args.customers, "start": args.start.isoformat(),
              "days": args.days}
    if info is None or any(info.get(k) != v for k, v in wanted.items()):
        rc = cmd_generate(argparse.Namespace(seed=args.seed, customers=args.customers,
                                             start=args.start, days=args.days,
                                             dirt_rate=0.005))
        if rc:
            return rc
    else:
        say("sources already generated with these settings; reusing them")
    last = args.start + timedelta(days=args.days - 1)
    # the initial load up to the day before the last, then the nightly increment
    return cmd_run(argparse.Namespace(date=[last - timedelta(days=1), last]))


def _generation_args(parser: argparse.ArgumentParser) -> None:
    """The demo data's knobs, the same for ``generate`` and ``demo``."""
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--start", type=_date, default=date(2026, 1, 1))
    parser.add_argument("--days", type=int, default=90)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crmwh", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="manage the warehouse database",
                        description="Start, stop or inspect the embedded PostgreSQL "
                                    "(or check CRM_WAREHOUSE_DSN when set).")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)

    gen = sub.add_parser("generate", help="fill the simulated source systems",
                         description="Generate deterministic demo data into the sales "
                                     "database, billing file drops and the service API store.")
    _generation_args(gen)
    gen.add_argument("--dirt-rate", type=float, default=0.005,
                     help="share of rows made dirty per kind of dirt (default 0.005)")
    gen.set_defaults(func=cmd_generate)

    run = sub.add_parser("run", help="run the nightly DAG for one or more dates",
                         description="Run crm_nightly through Airflow for each --date.")
    run.add_argument("--date", type=_date, action="append", required=True,
                     help="logical date YYYY-MM-DD (repeatable)")
    run.set_defaults(func=cmd_run)

    sql = sub.add_parser("sql", help="run SQL on the warehouse and print a table")
    sql.add_argument("query")
    sql.add_argument("--limit", type=int, default=50)
    sql.set_defaults(func=cmd_sql)

    quarantine = sub.add_parser(
        "quarantine", help="re-release quarantined rows after a fix",
        description="Re-land the quarantined rows of a batch through the normal landing checks "
                    "and its quality gate; counts are reconciled (docs/data_quality.md).")
    quarantine.add_argument("action", choices=["release"])
    quarantine.add_argument("--batch", required=True, help="the batch id the rows came from")
    quarantine.add_argument("--reason", help="only rows whose reason contains this text")
    quarantine.set_defaults(func=cmd_quarantine)

    svc = sub.add_parser("service-api", help="the service-desk API simulator")
    svc.add_argument("action", choices=["serve", "start", "stop"])
    svc.add_argument("--host", default="127.0.0.1")
    svc.add_argument("--port", type=int, default=settings.DEFAULT_SERVICE_PORT)
    svc.add_argument("--rate", type=float, default=200.0, help="requests per second")
    svc.add_argument("--fail-every", type=int, default=50, help="answer 503 every Nth request")
    svc.set_defaults(func=cmd_service_api)

    bench = sub.add_parser("bench", help="benchmark extract + land against plain COPY",
                           description="Generate sources at scale in separate databases and "
                                       "report rows/s of extract + land per source next to a "
                                       "plain COPY of the same rows.")
    bench.add_argument("--customers", type=int, default=100_000)
    bench.add_argument("--days", type=int, default=90)
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--repeat", type=int, default=1,
                       help="land the generated sources this many times; best round per side")
    bench.add_argument("--record", action="store_true",
                       help="write the result to benchmarks/extract_land.json")
    bench.set_defaults(func=cmd_bench)

    roles_p = sub.add_parser("roles", help="create the warehouse roles (bi_reader, analyst, "
                                           "crm_pipeline)",
                             description="Create or update the reading roles and their "
                                         "privileges, idempotently; needs a role-creating login.")
    roles_p.set_defaults(func=cmd_roles)

    docs_p = sub.add_parser("docs", help="generate the dbt docs site (static HTML)",
                            description="Run `dbt docs generate --static` against the warehouse "
                                        "and copy the single-file site to $CRM_HOME/docs.")
    docs_p.add_argument("--date", type=_date, default=None, help="as-of date for the catalog")
    docs_p.set_defaults(func=cmd_docs)

    rep = sub.add_parser("report", help="write the nightly HTML report",
                         description="Write the static nightly report (charts inline) for an "
                                     "as-of date to $CRM_HOME/reports.")
    rep.add_argument("--date", type=_date, default=None,
                     help="as-of date (default: the date the marts reflect)")
    rep.add_argument("--out", default=None, help="output file (default under $CRM_HOME/reports)")
    rep.set_defaults(func=cmd_report)

    bt = sub.add_parser("backtest-churn", help="evaluate the churn model against ground truth",
                        description="Score the churn model at several past dates T exactly as "
                                    "the nightly run would and compare with the generator's true "
                                    "churn in (T, T+90 days]: AUC and top-decile lift of the "
                                    "model and of a recency-only baseline.")
    bt.add_argument("--date", type=_date, action="append",
                    help="backtest date T (repeatable; default: 4 dates 30 days apart ending "
                         "90 days before the last order)")
    bt.add_argument("--run-id", default="backtest")
    bt.set_defaults(func=cmd_backtest_churn)

    demo = sub.add_parser("demo", help="the main job: generate, run two nights, show the marts",
                          description="Start the embedded warehouse, generate demo sources, run "
                                      "crm_nightly for the last two days and print the marts.")
    _generation_args(demo)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CrmwhError as exc:
        print(f"crmwh: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
