"""Running a batch's expectation suite through Great Expectations, one :class:`Check` each.

The suite's row expectations run on the batch frame, its profile expectations on the
one-row profile frame with the bounds :mod:`crmwh.quality.profile` filled in. Personal columns
are masked first (:mod:`crmwh.quality.redact`): no raw e-mail reaches a result or Data Docs. Great
Expectations is imported here only when a suite runs: the import takes seconds.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from crmwh.errors import CrmwhError
from crmwh.quality import data_docs, profile, redact
from crmwh.quality.observed import (
    expected,
    observed,
    observed_reference,
    profile_value,
    short,
)
from crmwh.quality.results import Check
from crmwh.quality.suites import columns_of
from crmwh.source_entities import Entity

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


def run_suite(
    entity: Entity,
    suite: dict[str, Any],
    df,
    profile_df,
    bounds: list[profile.Bounds],
    docs_dir: Path | None,
    run_name: str | None = None,
) -> list[Check]:
    """The checks of the suite's row expectations, then of its profile expectations. With
    ``docs_dir`` (the run's Data Docs site) each validation's page is written under the run's
    name and each check records its page."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    docs = None
    if docs_dir is not None:
        data_docs.add_site(context, docs_dir)
        docs = data_docs.Target(docs_dir, run_name or docs_dir.name)
    if len(df) == 0:
        checks = [Check(check_name="batch_row_count", object_name=entity.qualified,
                        severity="warning", status="skipped", observed="0 rows",
                        expected=f"suite {entity.table} skipped: the batch is empty")]
    else:
        checks = _row_checks(context, gx, entity, suite, redact.masked(df), docs)
    return checks + _profile_checks(context, gx, entity, suite, profile_df, bounds, docs)


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


def _validate(context: Any, gx: Any, name: str, gx_suite: Any, df,
              docs: data_docs.Target | None) -> tuple[dict[int, dict], str | None]:
    """Run one suite on one frame through a GX checkpoint (which also feeds Data Docs);
    the results by expectation index and the validation's page (relative to the Data Docs
    root), if written."""
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

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
                                                        site_names=[data_docs.SITE])],
                          result_format=RESULT_FORMAT)
        )
        run = checkpoint.run(batch_parameters={"dataframe": df},
                             run_id=RunIdentifier(run_name=docs.run_name))
        validations = list(run.run_results.values())
        page = next((docs.page(key.to_tuple()) for key in run.run_results), None)
    else:
        batch = batch_def.get_batch(batch_parameters={"dataframe": df})
        validations = [batch.validate(gx_suite, result_format=RESULT_FORMAT)]
        page = None
    by_index: dict[int, dict[str, Any]] = {}
    for validation in validations:
        for r in validation.results:
            d = r.to_json_dict()
            by_index[d["expectation_config"]["meta"]["crmwh_index"]] = d
    return by_index, page


def _names(entity: Entity, exp: dict[str, Any], spec: dict[str, str] | None) -> tuple[str, str]:
    """(check name, object name) of a row expectation; ``spec``: its derived column's."""
    cols = columns_of(exp)
    check_name = f"{exp['type']}({','.join(cols)})" if cols else exp["type"]
    object_name = f"{entity.qualified}.{','.join(cols)}" if cols else entity.qualified
    if spec is not None:
        check_name = f"references({spec['column']} -> {spec['references']})"
        if exp["kwargs"].get("mostly") is not None:
            check_name += f" mostly {exp['kwargs']['mostly']}"
        object_name = f"{entity.qualified}.{spec['column']}"
    return check_name, object_name


def _row_checks(context: Any, gx: Any, entity: Entity, suite: dict[str, Any], df,
                docs: data_docs.Target | None) -> list[Check]:
    """The row expectations on a non-empty batch frame, one check each in suite order."""
    derived = suite.get("derived_columns") or {}
    declared = suite["expectations"]
    # an expectation with meta.min_rows judges only batches that large
    small = {i for i, e in enumerate(declared) if len(df) < e["meta"].get("min_rows", 0)}
    runnable = [e for i, e in enumerate(declared) if i not in small]
    gx_suite = _gx_suite(gx, entity.table, runnable, [{} for _ in runnable])
    found, page = _validate(context, gx, entity.table, gx_suite, df, docs)
    positions = [i for i in range(len(declared)) if i not in small]
    by_index = {positions[j]: d for j, d in found.items()}
    key_values = df[entity.key] if entity.key in df.columns else None
    checks = []
    for i, exp in enumerate(declared):
        d = by_index.get(i)
        spec = derived.get(exp["kwargs"].get("column"))
        check_name, object_name = _names(entity, exp, spec)
        if i in small:
            checks.append(Check(check_name, object_name, exp["meta"]["severity"], "skipped",
                                f"{len(df)} rows",
                                f"not judged: fewer than {exp['meta']['min_rows']} rows"))
            continue
        if d is None:  # should not happen; never let a check vanish silently
            status, seen = "fail", "error: no result returned by Great Expectations"
        else:
            status = "pass" if d["success"] else "fail"
            if spec is not None:
                seen = observed_reference(d, df[spec["column"]], spec)
            else:
                seen = observed(exp, d, key_values, entity.key)
        checks.append(Check(check_name=check_name, object_name=object_name,
                            severity=exp["meta"]["severity"], status=status,
                            observed=short(seen), expected=short(expected(exp["kwargs"])),
                            docs_page=page))
    return checks


def _profile_checks(context: Any, gx: Any, entity: Entity, suite: dict[str, Any], profile_df,
                    bounds: list[profile.Bounds], docs: data_docs.Target | None) -> list[Check]:
    """The profile expectations (volume, freshness) on the profile frame, one check each."""
    declared = suite.get("profile_expectations") or []
    runnable = [i for i, b in enumerate(bounds) if b.skip_reason is None]
    by_index, page = {}, None
    if runnable:
        chosen = [declared[i] for i in runnable]
        gx_suite = _gx_suite(gx, f"{entity.table}__profile", chosen,
                             [bounds[i].kwargs for i in runnable])
        found, page = _validate(context, gx, f"{entity.table}__profile", gx_suite, profile_df,
                                docs)
        by_index = {runnable[j]: d for j, d in found.items()}
    checks = []
    for i, exp in enumerate(declared):
        meta = exp["meta"]
        kind = meta.get("check", exp["kwargs"].get("column"))
        column = exp["kwargs"]["column"]
        check_name = f"{kind}({column})"
        object_name = entity.qualified
        wanted = short(", ".join(filter(None, [expected(bounds[i].kwargs), bounds[i].basis])))
        if bounds[i].skip_reason is not None:
            checks.append(Check(check_name, object_name, meta["severity"], "skipped",
                                short(profile_value(profile_df, column)),
                                short(f"not judged: {bounds[i].skip_reason}")))
            continue
        d = by_index.get(i)
        status = "fail" if d is None or not d["success"] else "pass"
        checks.append(Check(check_name, object_name, meta["severity"], status,
                            short(profile_value(profile_df, column)), wanted, docs_page=page))
    return checks
