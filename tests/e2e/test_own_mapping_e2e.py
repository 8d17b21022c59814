"""End to end: a sales system of one's own (other schema, tables and column names, a
timestamp kept as text in its own format, naive timestamps in its own zone, a percentage
where the contract has a fraction, a table without a change column), mapped by a YAML file,
through the real crm_nightly DAG: what lands reconciles with the source, and the value mart
equals an independent pandas computation on the simulator's own data.

The warehouse is emptied before each run and after the module, so each run is a first load
and the modules after this one find the warehouse as the suite left it.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from crmwh import database, warehouse
from tests.support import nightly_dag
from tests.support.customer_value import expected_customer_value
from tests.support.demo import LAST_DAY

DAY = LAST_DAY - timedelta(days=2)
ZONE = "Asia/Tokyo"  # the ERP's clock: naive timestamps, no daylight saving

ERP = f"""
drop schema if exists erp cascade;
create schema erp;
create table erp.vertreter as select sales_rep_id as vertreter_nr, name, email as mail,
  hired_on as eingestellt, left_on as ausgeschieden, updated_at as geaendert
  from public.sales_reps;
create table erp.kunden as select customer_id as kunden_nr, customer_type as art,
  name as firma, email as mail, phone as telefon, tax_id as steuernr, city as ort,
  acquisition_channel as kanal, referrer_customer_id as empfohlen_von,
  sales_rep_id as vertreter_nr, created_at at time zone '{ZONE}' as angelegt,
  updated_at as geaendert, deleted_at as geloescht, 'import'::text as erfasst_von
  from public.customers;
create table erp.artikel as select product_id as artikel_nr, sku, name as bezeichnung,
  category as gruppe, list_price as listenpreis, unit_cost as einstandspreis,
  sole_supplier as alleinlieferant from public.products;
create table erp.auftraege as select order_id as auftrag_nr, customer_id as kunden_nr,
  sales_rep_id as vertreter_nr,
  to_char(ordered_at at time zone '{ZONE}', 'DD.MM.YYYY HH24:MI:SS') as bestellt_am,
  channel as kanal, promotion_code as aktion, status, updated_at as geaendert,
  deleted_at as geloescht from public.orders;
create table erp.positionen as select order_line_id as position_nr, order_id as auftrag_nr,
  product_id as artikel_nr, quantity as menge, unit_price as preis,
  discount_pct * 100 as rabatt_prozent, updated_at as geaendert from public.order_lines;
create table erp.ansprechpartner as select * from public.contacts;
create table erp.chancen as select * from public.opportunities;
create table erp.lieferungen as select * from public.shipments;
alter table erp.kunden add primary key (kunden_nr);
alter table erp.auftraege add primary key (auftrag_nr);
"""

MAPPING = """
sources:
  sales:
    dsn_env: ERP_DSN
    timezone: {zone}
    entities:
      sales_reps:
        table: erp.vertreter
        columns: {{sales_rep_id: vertreter_nr, email: mail, hired_on: eingestellt,
                   left_on: ausgeschieden, updated_at: geaendert}}
      customers:
        table: erp.kunden
        columns:
          customer_id: kunden_nr
          customer_type: art
          name: firma
          email: mail
          phone: telefon
          tax_id: steuernr
          city: ort
          acquisition_channel: kanal
          referrer_customer_id: empfohlen_von
          sales_rep_id: vertreter_nr
          created_at: angelegt
          updated_at: geaendert
          deleted_at: geloescht
      products:
        table: erp.artikel
        columns:
          product_id: artikel_nr
          name: bezeichnung
          category: gruppe
          list_price: listenpreis
          unit_cost: einstandspreis
          sole_supplier: alleinlieferant
          updated_at: {{value: "{products_changed}"}}
      orders:
        table: erp.auftraege
        columns:
          order_id: auftrag_nr
          customer_id: kunden_nr
          sales_rep_id: vertreter_nr
          ordered_at: {{column: bestellt_am, format: "%d.%m.%Y %H:%M:%S"}}
          channel: kanal
          promotion_code: aktion
          updated_at: geaendert
          deleted_at: geloescht
      order_lines:
        table: erp.positionen
        columns:
          order_line_id: position_nr
          order_id: auftrag_nr
          product_id: artikel_nr
          quantity: menge
          unit_price: preis
          discount_pct: {{sql: "t.rabatt_prozent / 100"}}
          updated_at: geaendert
      contacts: {{table: erp.ansprechpartner}}
      opportunities: {{table: erp.chancen}}
      shipments: {{table: erp.lieferungen}}
"""

RUN_COLUMNS = ("clv_model_run_id",)  # names the run's own model fit


def empty_warehouse(cfg) -> None:
    """Drop every warehouse schema and create them again: the next run is a first load."""
    with database.connect(cfg.admin_dsn, autocommit=True) as conn:
        schemas = [r[0] for r in conn.execute(
            "select nspname from pg_namespace where nspname <> 'public' "
            "and nspname !~ '^(pg_|information_schema)'").fetchall()]
        for schema in schemas:
            conn.execute(f'drop schema "{schema}" cascade')
    warehouse.ensure_warehouse(cfg)


@pytest.fixture(scope="module")
def nightly(cfg, generated, service_up):
    yield nightly_dag.load(cfg)
    empty_warehouse(cfg)


@pytest.fixture(scope="module")
def erp(cfg, generated, tmp_path_factory):
    """The simulator's sales data copied into schema ``erp`` under other names, and the
    mapping file for it; the file is in force only inside ``mapped``."""
    changed = generated.sales["products"]["updated_at"].unique()
    assert len(changed) == 1  # the product master has no change column of its own
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as conn:
        conn.execute(ERP)
    path = tmp_path_factory.mktemp("own") / "sources.yml"
    stamp = pd.Timestamp(changed[0]).tz_localize(UTC).isoformat()
    path.write_text(MAPPING.format(zone=ZONE, products_changed=stamp))
    yield path
    with psycopg.connect(cfg.sales_dsn, autocommit=True) as conn:
        conn.execute("drop schema erp cascade")


def run_into_mart(cfg, dag, conn, env: dict[str, str]) -> pd.DataFrame:
    empty_warehouse(cfg)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run = dag.test(logical_date=datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC))
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "success", states
    cur = conn.execute("select * from marts.mart_customer_value")
    got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
    return got.drop(columns=list(RUN_COLUMNS)).sort_values("customer_key").reset_index(
        drop=True)


def test_an_own_sales_system_mapped_builds_the_right_marts(cfg, nightly, erp, conn, generated):
    mapped = run_into_mart(cfg, nightly, conn, {"CRM_SOURCES_FILE": str(erp),
                                                "ERP_DSN": cfg.sales_dsn})
    # the mapped run read the erp tables: their columns the contract does not know are
    # in _extra, under the source's own names
    extra = conn.execute("select count(*) from raw.sales__customers "
                         "where _extra ->> 'erfasst_von' = 'import'").fetchone()[0]
    assert extra == conn.execute("select count(*) from raw.sales__customers").fetchone()[0] > 0
    # every order the source had by the end of the day landed or went to quarantine
    orders = generated.sales["orders"]
    cutoff = np.datetime64(DAY + timedelta(days=1))
    delivered = int((orders["updated_at"] < cutoff).sum())
    landed = conn.execute("select count(distinct order_id) from raw.sales__orders").fetchone()[0]
    quarantined = conn.execute(
        "select count(*) from quarantine.rows where source = 'sales' and entity = 'orders'"
    ).fetchone()[0]
    assert landed + quarantined == delivered
    # the value mart equals an independent pandas computation on the simulator's own frames
    want = expected_customer_value(generated, DAY)
    got = mapped.dropna(subset=["sales_customer_id"])
    assert len(got) == len(want) > 0
    got = got.set_index(got["sales_customer_id"].astype(int)).sort_index()
    assert np.allclose(got["revenue"].astype(float), want.loc[got.index, "revenue"], atol=0.01)
    assert np.allclose(got["gross_margin"].astype(float), want.loc[got.index, "margin"],
                       atol=0.01)
    assert (got["orders_count"].astype(int) == want.loc[got.index, "orders"]).all()
