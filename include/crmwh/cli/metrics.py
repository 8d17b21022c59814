"""``crmwh metrics "churn_rate by value_tier, month"``: ask the metrics layer (MetricFlow).

The metrics are defined once, in ``dbt_project/models/marts/metrics/`` (docs/metrics.md);
this command turns a question into a MetricFlow query (what ``mf query`` runs; ``--explain``
prints both) and runs it as a read-only role (``bi_reader`` by default, which reads the marts
only). Dimensions are the marts' column names; ``day``,
``week``, ``month``, ``quarter`` and ``year`` group by the metric's own date. The churn metrics
come from a mart with one row per breakdown: grouping them by ``value_tier``, ``rfm_segment``,
``acquisition_channel`` or ``customer_segment`` picks that breakdown, no such dimension picks
``all``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from crmwh import dbt_runner, settings
from crmwh.cli.common import add_format, iso_date
from crmwh.errors import CrmwhError

GRAINS = ("day", "week", "month", "quarter", "year")
# mart_churn_monthly's breakdowns other than `all` (its accepted values)
BREAKDOWNS = ("value_tier", "rfm_segment", "acquisition_channel", "customer_segment")
READERS = ("bi_reader", "analyst")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("metrics", help="ask the metrics layer: \"churn_rate by value_tier, month\"",
                       description="Query the dbt metrics (MetricFlow) as a read-only role: "
                                   "\"<metric>[, <metric>] [by <dimension>[, <dimension>]]\". "
                                   "--list shows the metrics.")
    p.add_argument("question", nargs="*",
                   help='e.g. "churn_rate by value_tier, month" or "revenue by month"; '
                        'several questions share one MetricFlow start-up')
    p.add_argument("--list", action="store_true", help="list the metrics and what they mean")
    p.add_argument("--role", choices=READERS, default="bi_reader",
                   help="log in as this role")
    p.add_argument("--where", help="a MetricFlow filter, e.g. "
                                   "\"{{ Dimension('kpi_month__value_tier') }} = 'key'\"")
    p.add_argument("--start", type=iso_date, help="first date of metric_time (YYYY-MM-DD)")
    p.add_argument("--end", type=iso_date, help="last date of metric_time (YYYY-MM-DD)")
    add_format(p)
    p.add_argument("--explain", action="store_true", help="print the SQL instead of running it")
    p.set_defaults(func=cmd_metrics)


@dataclass
class Query:
    """An ``mf query``: metrics, qualified group-by names, filters, and the names to show."""

    metrics: list[str]
    group_by: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    shown: dict[str, str] = field(default_factory=dict)  # mf's column -> the name asked

    @property
    def order(self) -> list[str]:
        """Time first, then the other dimensions in the order asked."""
        times = [g for g in self.group_by if g.startswith("metric_time__")]
        return times + [g for g in self.group_by if g not in times]

    def args(self) -> list[str]:
        """The arguments of the same question to plain ``mf query``."""
        out = ["--metrics", ",".join(self.metrics)]
        if self.group_by:
            out += ["--group-by", ",".join(self.group_by), "--order", ",".join(self.order)]
        for w in self.where:
            out += ["--where", w]
        return out


def parse_question(text: str) -> tuple[list[str], list[str]]:
    """``"a, b by x, y"`` -> (["a", "b"], ["x", "y"])."""
    head, *tail = re.split(r"(?:^|\s)by\s", text.strip(), maxsplit=1)
    metrics = [m.strip() for m in head.split(",") if m.strip()]
    dims = [d.strip() for d in "".join(tail).split(",") if d.strip()]
    if not metrics:
        raise CrmwhError(f"no metric in {text!r}",
                         'ask like "churn_rate by value_tier, month"; `crmwh metrics --list`')
    return metrics, dims


def _models_of(manifest: dict, metric: str) -> list[dict]:
    """The semantic models whose measures ``metric`` reads."""
    measures = {m["name"] for m in next(x for x in manifest["metrics"] if x["name"] == metric)
                ["type_params"]["input_measures"]}
    return [sm for sm in manifest["semantic_models"]
            if measures & {m["name"] for m in sm["measures"]}]


def _entity(model: dict) -> str:
    return model.get("primary_entity") or next(
        e["name"] for e in model["entities"] if e["type"] == "primary")


def _dimension(manifest: dict, model: dict, name: str) -> str | None:
    """The qualified name of dimension ``name`` for a metric of ``model`` (its own, or one of a
    model its foreign entities join to), or None."""
    if name in {d["name"] for d in model["dimensions"]}:
        return f"{_entity(model)}__{name}"
    for ent in model["entities"]:
        if ent["type"] != "foreign":
            continue
        for other in manifest["semantic_models"]:
            if other is not model and _entity(other) == ent["name"] and \
                    name in {d["name"] for d in other["dimensions"]}:
                return f"{ent['name']}__{name}"
    return None


def plan(manifest: dict, metrics: list[str], dims: list[str]) -> Query:
    """The ``mf query`` that answers ``metrics by dims`` (names checked against ``manifest``,
    the semantic manifest); a user error names what is unknown."""
    known = {m["name"] for m in manifest["metrics"]}
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise CrmwhError(f"unknown metric(s): {', '.join(unknown)}",
                         "`crmwh metrics --list` shows them")
    models = {sm["name"]: sm for m in metrics for sm in _models_of(manifest, m)}
    query = Query(list(metrics))
    breakdown = None
    for dim in dims:
        if dim in GRAINS:
            query.group_by.append(f"metric_time__{dim}")
            query.shown[f"metric_time__{dim}"] = dim
            continue
        found = {_dimension(manifest, sm, dim) for sm in models.values()}
        churn = [sm for sm in models.values() if _dimension(manifest, sm, "breakdown")]
        if None not in found and len(found) == 1:
            qualified = found.pop()
        elif churn and dim in BREAKDOWNS and len(models) == 1 and breakdown is None:
            breakdown, qualified = dim, _dimension(manifest, churn[0], "segment")
        else:
            raise CrmwhError(
                f"{', '.join(metrics)} cannot be grouped by {dim!r}",
                f"dimensions of {' and '.join(sorted(models))}: "
                + ", ".join(sorted({d['name'] for sm in models.values()
                                    for d in sm['dimensions'] if d['type'] != 'time'}
                                   | set(GRAINS))))
        query.group_by.append(qualified)
        query.shown[qualified] = dim
    for sm in models.values():
        column = _dimension(manifest, sm, "breakdown")
        if column and not ({"breakdown", "segment"} & set(dims)):
            query.where.append(f"{{{{ Dimension('{column}') }}}} = '{breakdown or 'all'}'")
    return query


def describe(manifest: dict) -> list[tuple[str, str]]:
    """(metric, description) of every metric, by name."""
    return sorted((m["name"], " ".join((m.get("description") or "").split()))
                  for m in manifest["metrics"])


def semantic_manifest(dsn: str) -> Path:
    """``dbt_project/target/semantic_manifest.json`` (where ``mf`` reads it), parsed again when
    the project changed or it names another database than ``dsn``'s; replaced in one rename."""
    project = dbt_runner.PROJECT
    path = project / "target" / "semantic_manifest.json"
    sources = [p for p in project.rglob("*") if p.suffix in (".sql", ".yml", ".yaml")
               and "target" not in p.parts and "logs" not in p.parts]
    newest = max((p.stat().st_mtime for p in sources), default=0)
    database = dbt_runner.profile_env(dsn)["CRM_DBT_DBNAME"]
    if path.exists() and path.stat().st_mtime >= newest and _database(path) == database:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".parse-") as work:
        done = dbt_runner.run(dsn, "parse", "--quiet", target=Path(work),
                              logs=Path(work) / "logs")
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise CrmwhError(f"`dbt parse` failed: {' | '.join(tail)}", "fix the dbt project")
        os.replace(Path(work) / "semantic_manifest.json", path)
    return path


def _database(path: Path) -> str | None:
    models = json.loads(path.read_text(encoding="utf-8"))["semantic_models"]
    return models[0]["node_relation"]["database"] if models else None


class Engine:
    """MetricFlow on the project, logged in with ``dsn`` through the dbt profile's variables
    (set in this process's environment, never on a command line or printed); set up once, for
    any number of queries."""

    def __init__(self, dsn: str) -> None:
        os.environ.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "False", "DO_NOT_TRACK": "1",
                           **dbt_runner.profile_env(dsn)})
        try:
            from dbt_metricflow.cli.cli_configuration import CLIConfiguration
        except ImportError:
            raise CrmwhError("MetricFlow (dbt-metricflow) is not installed in this environment",
                             "install the project's dependencies (`uv sync`)") from None
        self._cli = CLIConfiguration()
        try:
            self._cli.setup(dbt_profiles_path=dbt_runner.PROJECT,
                            dbt_project_path=dbt_runner.PROJECT, configure_file_logging=False)
        except Exception as exc:
            raise CrmwhError(f"MetricFlow could not start: {_first_line(exc)}",
                             "check the warehouse is up (`crmwh db status`) and the role exists "
                             "(`crmwh roles`)") from None

    def _request(self, q: Query, start: date | None, end: date | None):
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        return MetricFlowQueryRequest.create(
            metric_names=q.metrics, group_by_names=q.group_by or None,
            where_constraints=q.where or None, order_by_names=q.order or None,
            time_constraint_start=datetime.combine(start, time()) if start else None,
            time_constraint_end=datetime.combine(end, time()) if end else None)

    def query(self, q: Query, start: date | None = None, end: date | None = None,
              ) -> tuple[list[str], list[tuple]]:
        """(columns named as asked, rows): exact values; dates for month and coarser."""
        try:
            table = self._cli.mf.query(self._request(q, start, end)).result_df
        except Exception as exc:
            raise CrmwhError(f"the metrics query failed: {_first_line(exc)}",
                             "check the names (`crmwh metrics --list`) and --where") from None
        columns = [q.shown.get(c, c) for c in table.column_names]
        rows = [tuple(v.date() if isinstance(v, datetime) and v.time() == time() else v
                      for v in row) for row in table.rows]
        return columns, whole_numbers(rows)

    def explain(self, q: Query, start: date | None = None, end: date | None = None) -> str:
        try:
            result = self._cli.mf.explain(self._request(q, start, end))
        except Exception as exc:
            raise CrmwhError(f"the metrics query failed: {_first_line(exc)}",
                             "check the names (`crmwh metrics --list`) and --where") from None
        return result.sql_statement.without_descriptions.sql


def whole_numbers(rows: list[tuple]) -> list[tuple]:
    """Columns whose every value is a whole number as integers: MetricFlow hands sums of
    counts back as floats (11.0 customers)."""
    if not rows:
        return rows
    whole = [all(v is None or isinstance(v, int) and not isinstance(v, bool)
                 or isinstance(v, float) and v.is_integer() for v in column)
             and any(isinstance(v, float) for v in column) for column in zip(*rows, strict=True)]
    return [tuple(int(v) if w and v is not None else v for v, w in zip(row, whole, strict=True))
            for row in rows]


def _first_line(exc: Exception) -> str:
    """The first line that says something (MetricFlow's messages start with a title)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    said = [ln for ln in lines if not ln.startswith(("Got error", "Error #", "Message:"))]
    return " ".join((said or lines or [type(exc).__name__])[:1])[:300]


def _print(columns: list[str], rows: list[tuple], fmt: str) -> None:
    from crmwh.cli import printout

    printout.emit(columns, rows, fmt)


def cmd_metrics(args: argparse.Namespace) -> int:
    from crmwh.cli.db import role_dsn

    if not args.question and not args.list:
        raise CrmwhError("no question given",
                         'ask like `crmwh metrics "churn_rate by value_tier, month"`')
    cfg = settings.load()
    dsn = role_dsn(cfg, args.role)
    manifest = json.loads(semantic_manifest(dsn).read_text(encoding="utf-8"))
    if args.list:
        _print(["metric", "definition"], describe(manifest), args.format)
        return 0
    queries = []
    for question in args.question:
        q = plan(manifest, *parse_question(question))
        q.where += [args.where] if args.where else []
        queries.append((question, q))
    engine = Engine(dsn)
    answers = []
    for question, q in queries:
        if args.explain:  # the same question for plain `mf`, then the SQL it runs
            print(f"-- mf query {shlex.join(q.args())}\n{engine.explain(q, args.start, args.end)}")
            continue
        columns, rows = engine.query(q, args.start, args.end)
        if args.format == "json":
            answers.append({"question": question, "columns": columns,
                            "rows": [list(r) for r in rows]})
        else:
            if len(queries) > 1:
                print(f"\n{question}")
            _print(columns, rows, args.format)
    if answers:
        print(json.dumps(answers, default=str, indent=1))
    return 0
