"""The data-quality gate: validate one landed raw batch, record, and stop on blocking failures.

After a batch lands in ``raw.<source>__<entity>`` the DAG calls::

    result = validate_batch(conn, entity, batch_id, run_id)   # records audit.dq_results
    enforce(result, entity, batch_id)                         # raises QualityGateFailed

:func:`validate_batch` reads the batch's contract columns into pandas, runs the
suite ``expectations/<table>.json`` with an ephemeral Great Expectations
context, writes one ``audit.dq_results`` row per expectation (committed, so the
evidence survives a failing gate) and returns a :class:`GateResult`.
:func:`enforce` raises one line naming every failed *blocking* check; warnings
are recorded and never raise. An empty batch passes without running GX.

Great Expectations is imported inside the functions: the import takes seconds
and this module is imported when Airflow parses DAGs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from crmwh.contracts import Entity
from crmwh.errors import CrmwhError, QualityGateFailed
from crmwh.quality import docs_site, profile
from crmwh.quality.suites import columns_of, load_suite_json, resolve_entity, suite_path

__all__ = [
    "Failure",
    "GateResult",
    "enforce",
    "load_suite_json",
    "run_gate",
    "suite_path",
    "validate_batch",
]

log = logging.getLogger(__name__)

FIX = "fix the source or the contract, then rerun the date"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
MAX_VALUES_SHOWN = 5
MAX_FAILURES_DETAILED = 5
MAX_TEXT = 500
MAX_ROW_LEVEL_REASONS = 20

INSERT_SQL = """
insert into audit.dq_results
  (run_id, batch_id, source, entity, check_name, object_name, severity, status, observed, expected,
   as_of_date)
values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


class Failure(NamedTuple):
    """One failed expectation: ``(check, severity, observed)``."""

    check: str
    severity: str
    observed: str


@dataclass
class GateResult:
    success_blocking: bool
    failures: list[Failure] = field(default_factory=list)  # blocking and warning
    rows_checked: int = 0
    checks_evaluated: int = 0
    seconds: float = 0.0  # wall time of validate_batch

    @property
    def blocking_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.severity == "blocking"]

    @property
    def warnings(self) -> list[Failure]:
        return [f for f in self.failures if f.severity != "blocking"]


@dataclass
class _Check:
    check_name: str
    object_name: str
    severity: str
    status: str  # pass | fail | skipped
    observed: str
    expected: str


# --------------------------------------------------------------------------- public


def validate_batch(
    conn: Any,
    entity: Entity | str,
    batch_id: str,
    run_id: str,
    *,
    as_of: date | None = None,
    docs_dir: Path | None = None,
) -> GateResult:
    """Validate batch ``batch_id`` of ``entity``'s raw table and record the outcome.

    ``conn`` is an open psycopg 3 connection to the warehouse. The suite's row
    expectations run on the batch's rows (with its derived referential columns), its
    profile expectations (volume, freshness) on a one-row profile of the batch, see
    :mod:`crmwh.quality.profile`. ``as_of`` is the run's as-of date (default: the
    batch's logical date in ``audit.load_batches``); with ``docs_dir`` the GX Data Docs
    of the validation are written there. The audit rows are committed before
    returning (a transaction already open on ``conn`` is committed with them).
    Raises :class:`CrmwhError` when the raw table or the suite is missing; a failing
    check never raises here, see :func:`enforce`.
    """
    started = time.perf_counter()
    entity = resolve_entity(entity)
    suite = load_suite_json(entity)  # checked against the contract, cached per process

    with conn.transaction():
        df = _read_batch(conn, entity, batch_id, suite.get("derived_columns") or {})
        if as_of is None:
            as_of = profile.batch_logical_date(conn, batch_id)
        profile_df = profile.profile_frame(conn, entity, batch_id, len(df))
        bounds = _profile_bounds(conn, entity, batch_id, suite, as_of)

    checks = _run_suite(entity, suite, df, profile_df, bounds, batch_id, docs_dir)
    checks += _row_level(conn, entity, batch_id)
    _record(conn, entity, batch_id, run_id, checks, as_of)

    failures = [Failure(c.check_name, c.severity, c.observed) for c in checks if c.status == "fail"]
    result = GateResult(
        success_blocking=not any(f.severity == "blocking" for f in failures),
        failures=failures,
        rows_checked=len(df),
        checks_evaluated=sum(c.status != "skipped" for c in checks),
        seconds=time.perf_counter() - started,
    )
    log.info(
        "quality gate %s batch %s: %d rows, %d checks, %d blocking and %d warning failures (%.2fs)",
        entity.qualified,
        batch_id,
        result.rows_checked,
        result.checks_evaluated,
        len(result.blocking_failures),
        len(result.warnings),
        result.seconds,
    )
    for f in result.warnings:
        log.warning(
            "quality warning %s batch %s: %s %s", entity.qualified, batch_id, f.check, f.observed
        )
    return result


def _row_level(conn: Any, entity: Entity, batch_id: str) -> list[_Check]:
    """The rows landing put in quarantine for this batch, one check per reason (row-level)."""
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("select to_regclass('quarantine.rows')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            """select reason, count(*) from quarantine.rows where batch_id = %s
               group by reason order by count(*) desc, reason limit %s""",
            (batch_id, MAX_ROW_LEVEL_REASONS))
        found = cur.fetchall()
    return [_Check(f"landing: {_short(reason)[:200]}", entity.qualified, "row-level", "fail",
                   f"{n} rows quarantined", "0 rows (they wait in quarantine.rows for a fix and "
                   "`crmwh quarantine release`)") for reason, n in found]


def _profile_bounds(
    conn: Any, entity: Entity, batch_id: str, suite: dict[str, Any], as_of: date | None
) -> list[profile.Bounds]:
    out = []
    for exp in suite.get("profile_expectations") or []:
        meta = exp.get("meta") or {}
        if "volume" in meta:
            out.append(profile.volume_bounds(conn, entity, batch_id, meta["volume"]))
        elif "max_age_hours" in meta:
            out.append(profile.freshness_bounds(as_of, meta["max_age_hours"]))
        else:
            out.append(profile.Bounds({}))
    return out


def enforce(result: GateResult, entity: Entity | str, batch_id: str) -> None:
    """Raise :class:`QualityGateFailed` if any blocking check failed; warnings never raise."""
    blocking = result.blocking_failures
    if not blocking:
        return
    entity = resolve_entity(entity)
    # Every failed check is named; the observed details only for the first few.
    shown = [f"{f.check} {f.observed}" for f in blocking[:MAX_FAILURES_DETAILED]]
    rest = [f.check for f in blocking[MAX_FAILURES_DETAILED:]]
    checks = "; ".join(shown + ([f"also {', '.join(rest)}"] if rest else []))
    raise QualityGateFailed(
        f"quality gate failed for {entity.qualified} batch {batch_id}: {checks}",
        f"{FIX} (details: audit.dq_results where batch_id = '{batch_id}')",
    )


def run_gate(conn: Any, entity: Entity | str, batch_id: str, run_id: str, **kwargs: Any
             ) -> GateResult:
    """:func:`validate_batch` then :func:`enforce`: the one call a DAG task needs."""
    result = validate_batch(conn, entity, batch_id, run_id, **kwargs)
    enforce(result, entity, batch_id)
    return result


# --------------------------------------------------------------------------- reading


def _read_batch(conn: Any, entity: Entity, batch_id: str, derived: dict[str, dict[str, str]]):
    import pandas as pd

    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'raw' and table_name = %s",
            (entity.table,),
        )
        present = {r[0] for r in cur.fetchall()}
        if not present:
            raise CrmwhError(
                f"{entity.qualified} does not exist, so batch {batch_id} cannot be checked",
                "land the batch first (the loader creates the table from the contract)",
            )
        # Missing contract columns are left out here and reported by the suite's
        # blocking column-set check, rather than failing the query.
        columns = [c for c in entity.columns if c.name in present]
        # referential columns need their own column and the referenced table
        usable = {}
        for name, spec in derived.items():
            cur.execute("select to_regclass(%s)", ("raw." + spec["references"].split(".")[0],))
            if spec["column"] in present and cur.fetchone()[0] is not None:
                usable[name] = spec
        exprs = [sql.SQL("b.{}").format(sql.Identifier(c.name)) for c in columns]
        exprs += profile.derived_sql(entity, usable)
        query = sql.SQL("select {cols} from {table} b where b._batch_id = %s").format(
            cols=sql.SQL(", ").join(exprs),
            table=sql.Identifier("raw", entity.table),
        )
        cur.execute(query, (batch_id,))
        rows = cur.fetchall()

    df = pd.DataFrame.from_records(rows, columns=[c.name for c in columns] + list(usable))
    for col in columns:
        df[col.name] = _coerce(df[col.name], col.type)
    for name in usable:
        df[name] = df[name].astype("boolean")
    return df


def _coerce(series, type_: str):
    """Give a column a pandas dtype GX handles well; leave it alone if it will not convert."""
    import pandas as pd

    try:
        if type_ == "int":
            return series.astype("Int64")
        if type_ == "numeric":
            return pd.to_numeric(series).astype("float64")
        if type_ == "bool":
            return series.astype("boolean")
        if type_ == "timestamptz":
            # Naive UTC: GX's pair comparisons on tz-aware columns hit a pandas 3.1
            # deprecation (Series.values dropping the timezone).
            return pd.to_datetime(series, utc=True).dt.tz_convert(None)
    except (TypeError, ValueError, OverflowError):
        log.warning("column %s does not convert to %s; checking it as is", series.name, type_)
    return series


# --------------------------------------------------------------------------- validating


def _gx_suite(gx: Any, name: str, declared: list[dict[str, Any]], kwargs_at: list[dict]) -> Any:
    configs = []
    for i, exp in enumerate(declared):
        meta = {**(exp.get("meta") or {}), "crmwh_index": i}
        gx_severity = "critical" if meta["severity"] == "blocking" else "warning"
        configs.append(
            {
                "type": exp["type"],
                "kwargs": {**exp["kwargs"], **kwargs_at[i]},
                "meta": meta,
                "severity": gx_severity,
            }
        )
    gx_suite = gx.ExpectationSuite(name=name, expectations=configs)
    if len(gx_suite.expectations) != len(configs):  # GX drops invalid ones with a log line
        raise CrmwhError(
            f"Great Expectations rejected {len(configs) - len(gx_suite.expectations)} "
            f"expectation(s) in suite {name}",
            "check the expectation types and kwargs against the GX 1.x gallery",
        )
    return gx_suite


def _validate(context: Any, gx: Any, name: str, gx_suite: Any, df, docs: bool) -> dict[int, dict]:
    """Run one suite on one frame through a GX checkpoint (which also feeds Data Docs)."""
    from great_expectations.checkpoint import UpdateDataDocsAction

    batch_def = (
        context.data_sources.add_pandas(f"raw_{name}")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("batch")
    )
    if docs:  # a checkpoint stores the result and renders the Data Docs
        suite = context.suites.add(gx_suite)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(data=batch_def, suite=suite, name=f"{name}_batch")
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(name=f"{name}_gate", validation_definitions=[definition],
                          actions=[UpdateDataDocsAction(name="data_docs",
                                                        site_names=[docs_site.SITE])],
                          result_format=RESULT_FORMAT)
        )
        run = checkpoint.run(batch_parameters={"dataframe": df})
        validations = list(run.run_results.values())
    else:
        batch = batch_def.get_batch(batch_parameters={"dataframe": df})
        validations = [batch.validate(gx_suite, result_format=RESULT_FORMAT)]
    by_index: dict[int, dict[str, Any]] = {}
    for validation in validations:
        for r in validation.results:
            d = r.to_json_dict()
            by_index[d["expectation_config"]["meta"]["crmwh_index"]] = d
    return by_index


def _run_suite(
    entity: Entity,
    suite: dict[str, Any],
    df,
    profile_df,
    bounds: list[profile.Bounds],
    batch_id: str,
    docs_dir: Path | None,
) -> list[_Check]:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if docs_dir is not None:
        docs_site.add_site(context, docs_dir)

    derived = suite.get("derived_columns") or {}
    checks: list[_Check] = []
    declared = suite["expectations"]
    if len(df) == 0:
        checks.append(
            _Check(
                check_name="batch_row_count",
                object_name=entity.qualified,
                severity="warning",
                status="skipped",
                observed="0 rows",
                expected=f"suite {entity.table} skipped: the batch is empty",
            )
        )
    else:
        # an expectation with meta.min_rows judges only batches that large
        small = {i for i, e in enumerate(declared) if len(df) < e["meta"].get("min_rows", 0)}
        runnable = [e for i, e in enumerate(declared) if i not in small]
        gx_suite = _gx_suite(gx, entity.table, runnable, [{} for _ in runnable])
        found = _validate(context, gx, entity.table, gx_suite, df, docs_dir is not None)
        positions = [i for i in range(len(declared)) if i not in small]
        by_index = {positions[j]: d for j, d in found.items()}
        key_values = df[entity.key] if entity.key in df.columns else None
        for i, exp in enumerate(declared):
            d = by_index.get(i)
            cols = columns_of(exp)
            check_name = f"{exp['type']}({','.join(cols)})" if cols else exp["type"]
            object_name = f"{entity.qualified}.{','.join(cols)}" if cols else entity.qualified
            spec = derived.get(exp["kwargs"].get("column"))
            if spec is not None:
                check_name = f"references({spec['column']} -> {spec['references']})"
                if exp["kwargs"].get("mostly") is not None:
                    check_name += f" mostly {exp['kwargs']['mostly']}"
                object_name = f"{entity.qualified}.{spec['column']}"
            if i in small:
                checks.append(_Check(check_name, object_name, exp["meta"]["severity"], "skipped",
                                     f"{len(df)} rows",
                                     f"not judged: fewer than {exp['meta']['min_rows']} rows"))
                continue
            if d is None:  # should not happen; never let a check vanish silently
                status, observed = "fail", "error: no result returned by Great Expectations"
            else:
                status = "pass" if d["success"] else "fail"
                if spec is not None:
                    observed = _observed_reference(d, df[spec["column"]], spec)
                else:
                    observed = _observed(exp, d, key_values, entity.key)
            checks.append(
                _Check(
                    check_name=check_name,
                    object_name=object_name,
                    severity=exp["meta"]["severity"],
                    status=status,
                    observed=_short(observed),
                    expected=_short(_expected(exp["kwargs"])),
                )
            )

    declared_profile = suite.get("profile_expectations") or []
    runnable = [i for i, b in enumerate(bounds) if b.skip_reason is None]
    by_index = {}
    if runnable:
        chosen = [declared_profile[i] for i in runnable]
        gx_suite = _gx_suite(gx, f"{entity.table}__profile", chosen,
                             [bounds[i].kwargs for i in runnable])
        found = _validate(context, gx, f"{entity.table}__profile", gx_suite, profile_df,
                          docs_dir is not None)
        by_index = {runnable[j]: d for j, d in found.items()}
    for i, exp in enumerate(declared_profile):
        meta = exp["meta"]
        kind = meta.get("check", exp["kwargs"].get("column"))
        column = exp["kwargs"]["column"]
        check_name = f"{kind}({column})"
        object_name = entity.qualified
        expected = _short(", ".join(filter(None, [_expected(bounds[i].kwargs), bounds[i].basis])))
        if bounds[i].skip_reason is not None:
            checks.append(_Check(check_name, object_name, meta["severity"], "skipped",
                                 _short(_profile_value(profile_df, column)),
                                 _short(f"not judged: {bounds[i].skip_reason}")))
            continue
        d = by_index.get(i)
        status = "fail" if d is None or not d["success"] else "pass"
        checks.append(_Check(check_name, object_name, meta["severity"], status,
                             _short(_profile_value(profile_df, column)), expected))
    return checks


def _profile_value(profile_df, column: str) -> str:
    value = profile_df[column].iloc[0]
    if value is None or (hasattr(value, "__class__") and str(value) in ("NaT", "<NA>")):
        return f"{column} none (nothing landed yet)"
    return f"{column} {value}"


def _observed_reference(d: dict[str, Any], values, spec: dict[str, str]) -> str:
    error = _exception_message(d.get("exception_info"))
    if error:
        return f"error: {error}"
    res = d.get("result") or {}
    n = res.get("unexpected_count") or 0
    if not n:
        return "0 orphans"
    text = f"{n} orphans ({res.get('unexpected_percent', 0):.2f}%)"
    shown = list(dict.fromkeys(_keys_at(values, res.get("partial_unexpected_index_list") or [])))
    if shown:
        text += f" {spec['column']} {shown} not in {spec['references']}"
    return text


# --------------------------------------------------------------------------- formatting


def _observed(exp: dict[str, Any], d: dict[str, Any], key_values, key: str) -> str:
    error = _exception_message(d.get("exception_info"))
    if error:
        return f"error: {error}"
    res = d.get("result") or {}
    if "unexpected_count" in res:
        n = res["unexpected_count"]
        pct = res.get("unexpected_percent")
        text = f"{n} unexpected"
        if n and pct is not None:
            text += f" ({pct:.2f}%)"
        if not n:
            return text
        if exp["type"] != "expect_column_values_to_not_be_null":
            text += f" {_values(res)}"
        column = exp["kwargs"].get("column")
        if key_values is not None and column != key:
            keys = _keys_at(key_values, res.get("partial_unexpected_index_list") or [])
            if keys:
                text += f" at {key} {keys}"
        return text
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        return ", ".join(f"{k} {v}" for k, v in mismatched.items())
    if "observed_value" in res:
        value = res["observed_value"]
        if isinstance(value, list):
            return (
                f"{len(value)} columns"
                if exp["type"].startswith("expect_table_col")
                else str(value)
            )
        return f"observed {value}"
    return "no details" if d.get("success") else "failed without details"


def _values(res: dict[str, Any]) -> str:
    counts = res.get("partial_unexpected_counts")
    if counts:
        values = [c.get("value") for c in counts]
    else:
        seen = {repr(v): v for v in res.get("partial_unexpected_list") or []}
        values = list(seen.values())
    shown = [_clip(v) for v in values[:MAX_VALUES_SHOWN]]
    more = ", ..." if len(values) > MAX_VALUES_SHOWN else ""
    return "[" + ", ".join(shown) + more + "]"


def _clip(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_clip(v) for v in value) + ")"
    if isinstance(value, str):
        value = str(value).removesuffix(".000000")  # np.str_ -> str; whole-second timestamps
    elif hasattr(value, "item"):
        value = value.item()  # numpy scalar -> Python
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _keys_at(key_values, index_list: list[Any]) -> list[Any]:
    keys = []
    for idx in index_list[:MAX_VALUES_SHOWN]:
        try:
            value = key_values.loc[idx]
        except (KeyError, TypeError, ValueError):
            return []
        keys.append(value.item() if hasattr(value, "item") else value)
    return keys


def _exception_message(info: Any) -> str | None:
    """GX reports errors either flat or keyed by metric; return the first message."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception") and info.get("exception_message"):
        return _first_line(info["exception_message"])
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return _first_line(value["exception_message"])
    return None


def _first_line(message: Any) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _expected(kwargs: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v}" if isinstance(v, str | datetime) else f"{k}={v!r}"
        for k, v in kwargs.items()
        if k != "batch_id"
    )


def _short(text: str) -> str:
    text = " ".join(str(text).split())  # one line
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


# --------------------------------------------------------------------------- recording


def _record(
    conn: Any, entity: Entity, batch_id: str, run_id: str, checks: list[_Check],
    as_of: date | None,
) -> None:
    rows = [
        (
            run_id,
            batch_id,
            entity.source,
            entity.name,
            c.check_name,
            c.object_name,
            c.severity,
            c.status,
            c.observed,
            c.expected,
            as_of,
        )
        for c in checks
    ]
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(INSERT_SQL, rows)
    # Commit so the evidence survives the failing gate that may follow.
    if not conn.autocommit and conn.info.transaction_status != TransactionStatus.IDLE:
        conn.commit()
