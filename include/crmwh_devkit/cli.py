"""The devkit's commands in the ``crmwh`` command line (entry point ``crmwh.plugins``).

``generate`` fills the simulated source systems, ``service-api`` runs the service-desk
simulator, ``bench`` benchmarks extract + land (``bench nightly``: the whole nightly DAG),
and ``demo`` (the main job) generates and then runs the nightly. :func:`prepare_run` starts
the local service simulator before ``crmwh run`` when ``CRM_SERVICE_URL`` points at it and
the home holds its data. The heavy modules are imported by the commands that use them, so
``crmwh --help`` stays quick.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta

from crmwh import settings
from crmwh.cli import run
from crmwh.cli.common import iso_date, say
from crmwh_devkit.simulators import service_process


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("generate", help="fill the simulated source systems",
                         description="Generate deterministic demo data into the sales "
                                     "database, billing file drops and the service API store.")
    _generation_args(gen)
    gen.add_argument("--dirt-rate", type=float, default=0.005,
                     help="share of rows made dirty per kind of dirt (default 0.005)")
    gen.set_defaults(func=cmd_generate)

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
    bench_kinds = bench.add_subparsers(dest="bench_kind", metavar="{nightly}")
    nightly = bench_kinds.add_parser(
        "nightly", help="benchmark the nightly DAG against the same work in one process",
        description="Run the real crm_nightly DAG for a full first night and the next day in "
                    "a bench home of its own, beside the same work done plainly in one "
                    "process; record wall times, task times, memory and the overhead in "
                    "benchmarks/nightly_<N>.json and benchmarks/nightly.md.")
    from crmwh_devkit.bench.nightly_args import add_arguments

    add_arguments(nightly)
    nightly.set_defaults(func=cmd_bench_nightly)

    demo = sub.add_parser("demo", help="the main job: generate, run two nights, show the marts",
                          description="Start the embedded warehouse, generate demo sources, run "
                                      "crm_nightly for the last two days and print the marts.")
    _generation_args(demo)
    demo.set_defaults(func=cmd_demo)


def prepare_run(cfg: settings.Settings) -> None:
    """Before ``crmwh run``: start the service simulator if the service URL points at it and
    the home holds its data (``crmwh generate``); without data the service source is absent."""
    from crmwh.extract import presence

    if service_process.is_local_simulator(cfg) and presence.service_store_exists(cfg):
        service_process.start(cfg)


def _generation_args(parser: argparse.ArgumentParser) -> None:
    """The demo data's knobs, the same for ``generate`` and ``demo``."""
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--start", type=iso_date, default=date(2026, 1, 1))
    parser.add_argument("--days", type=int, default=90)


def cmd_generate(args: argparse.Namespace) -> int:
    from crmwh_devkit.simulators import fill
    from crmwh_devkit.simulators.population import GeneratorConfig

    cfg = settings.load()
    t = time.monotonic()
    meta = fill.fill(cfg, GeneratorConfig(
        seed=args.seed, customers=args.customers, start=args.start, days=args.days,
        dirt_rate=args.dirt_rate), progress=say)
    for name, count in meta["counts"].items():
        print(f"  {name:<22} {count:>10,}")
    last = args.start + timedelta(days=args.days - 1)
    say(f"sources ready in {time.monotonic() - t:.1f} s; data runs {args.start} .. {last}")
    return 0


def cmd_service_api(args: argparse.Namespace) -> int:
    from crmwh_devkit.simulators import service_api

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


def cmd_bench(args: argparse.Namespace) -> int:
    from crmwh.cli import printout
    from crmwh_devkit.bench import extract_land

    result = extract_land.run(customers=args.customers, days=args.days, seed=args.seed,
                              progress=say, repeat=args.repeat)
    one = {src: r.get("one_worker", r)["ratio_to_copy"] for src, r in result["sources"].items()}
    rows = [(src, r["rows"], r["rows_per_s"], r["copy_rows_per_s"], r["ratio_to_copy"], one[src])
            for src, r in result["sources"].items()]
    print(printout.table(["source", "rows", "rows/s", "COPY rows/s",
                        f"ratio ({result['load_workers']} workers)", "ratio (1 worker)"], rows))
    if args.record:
        say(f"recorded in {extract_land.record(result)}")
    return 0


def cmd_bench_nightly(args: argparse.Namespace) -> int:
    from crmwh_devkit.bench import nightly

    return nightly.main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from crmwh_devkit.simulators import fill

    cfg = settings.load()
    info = fill.generation_info(cfg)
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
    return run.cmd_run(run_args("--date", str(last - timedelta(days=1)), "--date", str(last)))


def run_args(*argv: str) -> argparse.Namespace:
    """``crmwh run``'s arguments as its own parser reads them (every option at its default)."""
    parser = argparse.ArgumentParser(prog="crmwh")
    run.register(parser.add_subparsers())
    return parser.parse_args(["run", *argv])
