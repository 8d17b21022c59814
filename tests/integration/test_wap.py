"""Write-audit-publish of the marts with real dbt on a private database.

Marts are built and tested in ``marts__candidate`` and swapped into ``marts`` only when every
blocking check passed. A blocked night leaves ``marts`` exactly as the last good night left
it (tables, an incremental history mart and a view); the rerun after the fix publishes the
new as-of date and keeps the history. The project is copied with two probe marts added (an
incremental history and a view over it), so the test covers every kind of mart.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from crmwh import pipeline, publish
from crmwh.settings import PROJECT_ROOT
from tests.support import dbt_runner
from tests.support.databases import drop_database, fresh_database
from tests.support.databases import frame as read
from tests.support.demo import LAST_DAY

DAY_A = LAST_DAY - timedelta(days=3)
DAY_B = DAY_A + timedelta(days=1)
CANDIDATE = publish.CANDIDATE  # the schema the marts are built in before the swap

HISTORY_PROBE = """
{{ config(materialized='incremental', incremental_strategy='delete+insert',
          unique_key='as_of_date') }}
select {{ as_of_date() }} as as_of_date, count(*) as customers,
       sum(gross_margin) as gross_margin
from {{ ref('mart_customer_value') }}
"""
VIEW_PROBE = """
{{ config(materialized='view') }}
select * from {{ ref('mart_wap_probe_history') }}
where as_of_date = (select max(as_of_date) from {{ ref('mart_wap_probe_history') }})
"""


class Warehouse:
    def __init__(self, dsn: str, project: Path) -> None:
        self.dsn, self.project = dsn, project

    def dbt(self, day: date, command: str, *args: str, run_id: str = "wap",
            staging: bool = False, check: bool = True) -> subprocess.CompletedProcess:
        variables = {"dq_run_id": run_id, **({"marts_schema": CANDIDATE} if staging else {})}
        done = dbt_runner.run(self.dsn, command, *args, as_of_date=day, dbt_vars=variables,
                              project=self.project, target=self.project / "target")
        if check:
            dbt_runner.check(done)
        return done

    def core(self, day: date) -> None:
        for source in pipeline.SOURCES:
            pipeline.quality_gate(pipeline.extract_and_land(source, day, f"wap-{day}"),
                                  f"wap-{day}", source)
        self.dbt(day, "build", "--exclude", "path:models/marts", "path:models/quality",
                 "--exclude-resource-type", "test", "unit_test")

    def models(self) -> list[publish.MartModel]:
        return publish.mart_models(self.project / "target" / "manifest.json")

    def marts(self, day: date, run_id: str, rewind: bool = False) -> subprocess.CompletedProcess:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            publish.prepare(c, self.models(), day, rewind)
        return self.dbt(day, "build", "--select", "path:models/marts", run_id=run_id,
                        staging=True, check=False)

    def publish(self, day: date, run_id: str, rewind: bool = False) -> publish.Publication:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            return publish.publish(c, day, run_id, self.models(), rewind=rewind)

    def frame(self, query: str) -> pd.DataFrame:
        return read(self.dsn, query)

    def scalar(self, query: str, params: tuple = ()):
        with psycopg.connect(self.dsn, autocommit=True) as c:
            return c.execute(query, params).fetchone()[0]

    def snapshot(self) -> dict[str, pd.DataFrame]:
        return {
            "value": self.frame("select * from marts.mart_customer_value order by customer_key"),
            "history": self.frame("select * from marts.mart_wap_probe_history order by 1"),
            "view": self.frame("select * from marts.mart_wap_probe_latest"),
            "published": self.frame("select as_of_date, run_id from marts.wap_published"),
        }


# private, not the shared served warehouse: a copied project with probe marts, other as-of
# dates, and the tests break and fix core
@pytest.fixture(scope="module")
def wh(cfg, generated, service_up, tmp_path_factory):
    project = tmp_path_factory.mktemp("wap") / "dbt_project"
    shutil.copytree(PROJECT_ROOT / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    (project / "models" / "marts" / "mart_wap_probe_history.sql").write_text(HISTORY_PROBE)
    (project / "models" / "marts" / "mart_wap_probe_latest.sql").write_text(VIEW_PROBE)
    dsn = fresh_database(cfg, "crm_wap")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_WAREHOUSE_DSN", dsn)
        yield Warehouse(dsn, project)
    drop_database(cfg, "crm_wap")


def test_blocked_night_keeps_last_good_marts_and_rerun_publishes(wh):
    # --- night A: clean, published
    wh.core(DAY_A)
    built = wh.marts(DAY_A, "run-A")
    assert built.returncode == 0, built.stdout[-2000:]
    assert {m.materialized for m in wh.models()} >= {"table", "incremental", "view"}
    done = wh.publish(DAY_A, "run-A")
    assert done.as_of_date == DAY_A
    customers_a = wh.scalar("select count(*) from core.dim_customer where is_current "
                            "and not is_deleted and created_at::date <= %s", (DAY_A,))
    assert done.row_counts["mart_customer_value"] == customers_a > 0
    good = wh.snapshot()
    assert good["published"].to_dict("records") == [{"as_of_date": DAY_A, "run_id": "run-A"}]
    assert str(DAY_A) in wh.scalar("select obj_description('marts'::regnamespace)")
    assert good["history"]["as_of_date"].tolist() == [DAY_A]

    # --- night B: a defect upstream (a customer twice in dim_customer) breaks a blocking test
    wh.core(DAY_B)
    wh.scalar("""insert into core.dim_customer
                 select (jsonb_populate_record(null::core.dim_customer, to_jsonb(d)
                         || '{"customer_version_key": "defect"}')).*
                 from core.dim_customer d where is_current and not is_deleted
                 order by customer_key limit 1 returning 1""")
    blocked = wh.marts(DAY_B, "run-B")
    assert blocked.returncode != 0  # dbt itself fails the task
    failed = wh.frame("select check_name, object_name, severity, status, observed, as_of_date "
                      "from audit.dq_results where run_id = 'run-B' and status = 'fail'")
    # the duplicate breaks the unique key of every mart keyed by customer that dbt reaches
    # (the value history, the customer directory, ...; marts downstream of a failed test are
    # skipped): each failure is recorded as blocking, against the staging schema
    row = failed[failed["check_name"].str.contains("unique_combination_of_columns_mart_customer")]
    assert len(row) >= 1, failed
    assert set(row["severity"]) == {"blocking"}, row
    assert row["object_name"].str.startswith(f"{CANDIDATE}.mart_customer").all(), row
    assert set(row["observed"]) == {"1 failing rows"}, row
    assert set(row["as_of_date"]) == {DAY_B}, row
    with pytest.raises(publish.PublishRefused, match="unique_combination_of_columns"):
        wh.publish(DAY_B, "run-B")

    # marts still hold night A, complete and consistent (staging has the broken B build)
    after = wh.snapshot()
    for name, frame in good.items():
        pd.testing.assert_frame_equal(after[name], frame, check_like=False)
    # the broken build stays aside in staging: the history holds the duplicate for night B
    # (its failed key test stopped everything downstream of it there)
    assert wh.scalar("select count(*) from (select customer_key "
                     f"from {CANDIDATE}.mart_customer_value_history where as_of_date = %s "
                     "group by customer_key having count(*) > 1) twice", (DAY_B,)) == 1

    # --- the fix (dim_customer rebuilt) and the rerun of night B publish B, A is kept
    wh.dbt(DAY_B, "run", "--select", "dim_customer")
    rerun = wh.marts(DAY_B, "run-B2")
    assert rerun.returncode == 0, rerun.stdout[-2000:]
    done = wh.publish(DAY_B, "run-B2")
    assert done.row_counts["mart_customer_value"] == wh.scalar(
        "select count(distinct customer_key) from marts.mart_customer_value_history "
        "where as_of_date = %s", (DAY_B,)) > 0
    new = wh.snapshot()
    assert new["published"].to_dict("records") == [{"as_of_date": DAY_B, "run_id": "run-B2"}]
    assert new["history"]["as_of_date"].tolist() == [DAY_A, DAY_B]  # history continued
    pd.testing.assert_frame_equal(new["history"].iloc[:1], good["history"])  # nothing lost
    assert new["view"]["as_of_date"].tolist() == [DAY_B]
    assert "marts.mart_wap_probe_history" in wh.scalar(
        "select pg_get_viewdef('marts.mart_wap_probe_latest'::regclass)")
    assert set(new["value"]["as_of_date"]) == {DAY_B}
    # dbt's descriptions (persist_docs) are published with the marts: through the swap, and on
    # the history mart copied from the published one and built incrementally on top
    documented = wh.frame(
        """select c.relname, obj_description(c.oid, 'pg_class') as comment, count(*) as columns,
                  count(*) filter (where col_description(c.oid, a.attnum) <> '') as commented
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
           where n.nspname = 'marts'
             and c.relname in ('mart_customer_value', 'mart_customer_value_history')
           group by c.oid, c.relname""")
    assert len(documented) == 2 and documented["comment"].str.len().gt(0).all(), documented
    assert (documented["commented"] == documented["columns"]).all(), documented
    assert wh.scalar("select count(*) from audit.mart_publications") == 2
    assert wh.scalar(f"select to_regnamespace('{CANDIDATE}')") is None

    # the version before stays one night, and can be swapped back
    with psycopg.connect(wh.dsn, autocommit=True) as c:
        assert publish.rollback(c) == DAY_A
        assert publish.published_as_of(c) == DAY_A


def test_broken_business_rule_is_a_reported_warning(wh):
    """DOMAIN §5: a shipment whose quantity no longer matches its order is found, per
    shipment and per customer, recorded as a warning, and nothing stops (dbt succeeds)."""
    shipment, customer = wh.frame(f"""
        select s.shipment_id, s.customer_key
        from core.fct_shipments s
        join core.fct_orders o using (order_id)
        where s.quantity = o.quantity and s.shipped_on > date '{DAY_B}' - 20
          and s.customer_key in (select customer_key from core.dim_contract where is_recurring)
        order by s.shipment_id limit 1""").iloc[0]
    wh.scalar(f"""insert into raw.sales__shipments
        select (jsonb_populate_record(null::raw.sales__shipments, to_jsonb(r)
                || jsonb_build_object('quantity', r.quantity + 5, '_batch_id', 'injected',
                                      '_row_hash', 'injected-{shipment}',
                                      'updated_at', timestamptz '{DAY_B} 12:00+00'))).*
        from raw.sales__shipments r where shipment_id = {shipment}
        order by updated_at desc limit 1 returning 1""")
    wh.dbt(DAY_B, "run", "--select", "fct_shipments")
    done = wh.dbt(DAY_B, "build", "--select", "path:models/quality", run_id="run-rules")
    assert done.returncode == 0  # a business finding never fails the run

    found = wh.frame(f"""select rule_name, severity, observed, customer_key
                         from quality.dq_business_rule_violations
                         where as_of_date = '{DAY_B}' and shipment_id = {shipment}""")
    rule = found[found["rule_name"] == "shipment_quantity_mismatch"]
    assert len(rule) == 1
    assert rule.iloc[0]["severity"] == "warning"
    assert rule.iloc[0]["customer_key"] == customer
    assert rule.iloc[0]["observed"].startswith("shipped ")
    per_customer = wh.frame(f"""select shipment_quantity_mismatch, violations_total
                                from quality.dq_business_rules_by_customer
                                where as_of_date = '{DAY_B}' and customer_key = '{customer}'""")
    assert per_customer.iloc[0]["shipment_quantity_mismatch"] >= 1
    assert per_customer.iloc[0]["violations_total"] >= 1
    result = wh.frame("""select severity, status, observed from audit.dq_results
                         where run_id = 'run-rules'
                           and check_name = 'dbt:business_rule__shipment_quantity_mismatch'""")
    violations = wh.scalar("select count(*) from quality.dq_business_rule_violations where "
                           "as_of_date = %s and rule_name = 'shipment_quantity_mismatch'",
                           (DAY_B,))
    assert result.to_dict("records") == [
        {"severity": "warning", "status": "fail", "observed": f"{violations} failing rows"}]
    with psycopg.connect(wh.dsn, autocommit=True) as c:  # warnings never block a publish
        assert publish.blocking_failures(c, "run-rules") == []


def test_an_earlier_date_is_refused_unless_rewound_and_then_every_mart_agrees(wh, cfg, tmp_path):
    """After nights A, B, then A again: the plain rerun of A is refused before anything is
    built (marts keep B); rewound, every mart, the report and the printout say A."""
    assert wh.marts(DAY_B, "run-B3").returncode == 0
    wh.publish(DAY_B, "run-B3")
    with pytest.raises(publish.PublishRefused,
                       match=f"marts hold as-of {DAY_B}, newer than this run's {DAY_A}"):
        wh.marts(DAY_A, "run-A2")
    assert wh.scalar("select as_of_date from marts.wap_published") == DAY_B
    wh.core(DAY_A)  # the rewound night, as the DAG runs it: core as of A, then the marts
    rewound = wh.marts(DAY_A, "run-A3", rewind=True)
    assert rewound.returncode == 0, rewound.stdout[-2000:]
    assert wh.publish(DAY_A, "run-A3", rewind=True).as_of_date == DAY_A
    dated = wh.frame("""select table_name, column_name from information_schema.columns
                        where table_schema = 'marts'
                          and column_name in ('as_of_date', 'period_end')""")
    assert {"mart_customer_value", "mart_customer_value_history",
            "mart_customer_churn_risk", "wap_published"} <= set(dated["table_name"])
    for table, column in dated.itertuples(index=False):
        newest = wh.scalar(f"select max({column}) from marts.{table}")
        assert newest is None or newest <= DAY_A, (table, column, newest)
        if column == "as_of_date" and newest is not None:
            assert newest == DAY_A, table
    assert set(wh.frame("select distinct as_of_date from marts.mart_customer_value")
               ["as_of_date"]) == {DAY_A}
    from crmwh.cli import printout
    from crmwh.errors import CrmwhError
    from crmwh.report import html

    with psycopg.connect(wh.dsn, autocommit=True) as c:
        path, _ = html.write(c, cfg, out=tmp_path / "report.html")
        assert f'data-as-of="{DAY_A}"' in path.read_text()
        with pytest.raises(CrmwhError, match=f"the marts hold as-of {DAY_A}, not {DAY_B}"):
            html.write(c, cfg, DAY_B, out=tmp_path / "other.html")
        printed = printout.run_report(c, DAY_A)
    assert f"Top customers by value as of {DAY_A}" in printed
    assert "The marts hold" not in printed
