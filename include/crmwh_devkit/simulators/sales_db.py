"""The sales system: an OLTP Postgres database of its own (not the warehouse's schemas)."""

from __future__ import annotations

import pandas as pd
import psycopg

from crmwh.pgcopy import copy_frame
from crmwh_devkit.simulators import timetext

DDL = """
drop table if exists shipments, opportunities, contacts, order_lines, orders, products,
  customers, sales_reps cascade;
create table sales_reps (
  sales_rep_id bigint not null, name text not null, email text,
  hired_on date not null, left_on date, updated_at timestamptz not null);
create table customers (
  customer_id bigint not null, customer_type text not null, name text, email text,
  phone text, tax_id text, city text, acquisition_channel text not null,
  referrer_customer_id bigint, sales_rep_id bigint,
  created_at timestamptz not null, updated_at timestamptz not null, deleted_at timestamptz);
create table products (
  product_id bigint not null, sku text not null, name text not null,
  category text not null, list_price numeric(12,2) not null, unit_cost numeric(12,2) not null,
  sole_supplier boolean not null, updated_at timestamptz not null);
create table orders (
  order_id bigint not null, customer_id bigint not null, sales_rep_id bigint,
  ordered_at timestamptz not null, channel text not null, promotion_code text,
  status text not null, updated_at timestamptz not null, deleted_at timestamptz);
create table order_lines (
  order_line_id bigint not null, order_id bigint not null,
  product_id bigint not null, quantity integer not null,
  unit_price numeric(12,2) not null, discount_pct numeric(5,4) not null,
  updated_at timestamptz not null);
create table contacts (
  contact_id bigint not null, customer_id bigint not null, name text, role text,
  email text, phone text, is_primary boolean not null, updated_at timestamptz not null,
  deleted_at timestamptz);
create table opportunities (
  opportunity_id bigint not null, customer_id bigint not null, sales_rep_id bigint,
  stage text not null, amount numeric(14,2), expected_close_date date,
  created_at timestamptz not null, updated_at timestamptz not null);
create table shipments (
  shipment_id bigint not null, order_id bigint, customer_id bigint,
  delivery_note_no text not null, contract_ref text, shipped_at timestamptz not null,
  quantity integer, ship_to_city text, updated_at timestamptz not null);
"""
# keys and references, added once every row is in (a bulk load checks them far faster
# at the end than row by row)
KEYS = """
alter table sales_reps add primary key (sales_rep_id);
alter table customers add primary key (customer_id),
  add foreign key (sales_rep_id) references sales_reps;
alter table products add primary key (product_id), add unique (sku);
alter table orders add primary key (order_id);
alter table order_lines add primary key (order_line_id),
  add foreign key (order_id) references orders, add foreign key (product_id) references products;
alter table contacts add primary key (contact_id);
alter table opportunities add primary key (opportunity_id);
alter table shipments add primary key (shipment_id);
"""
TABLES = ("sales_reps", "customers", "products", "orders", "order_lines", "contacts",
          "opportunities", "shipments")


class Writer:
    """The sales database filled chunk by chunk, in one transaction: the tables are replaced
    on entry, each :meth:`append` COPYs a chunk's rows, :meth:`finish` adds the keys and
    references, indexes and commits (an error on the way rolls everything back)."""

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn)
        self.cur = self.conn.cursor()
        self.cur.execute("set timezone = 'UTC'")
        self.cur.execute(DDL)
        self.counts = dict.fromkeys(TABLES, 0)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.conn.close()  # after finish() a no-op; otherwise nothing is committed

    def append(self, frames: dict[str, pd.DataFrame]) -> None:
        for table in TABLES:
            if table in frames:  # a chunk holds only its own rows, an entity may be absent
                self.counts[table] += copy_frame(self.cur, table, _as_text(frames[table]))

    def finish(self) -> dict[str, int]:
        """Key, index, analyse and commit; return the rows written per table."""
        self.cur.execute(KEYS)
        for table in TABLES:  # the extractor reads by updated_at
            self.cur.execute(f"create index on {table} (updated_at)")
        self.cur.execute("analyze")
        self.conn.commit()
        return dict(self.counts)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as UTC text, empty strings as NULL."""
    frame = frame.copy()
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            frame[col] = timetext.iso(frame[col], suffix="+00:00")
    return frame.replace({"": None})


def write(dsn: str, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Replace the sales database's tables with the generated rows."""
    with Writer(dsn) as writer:
        writer.append(frames)
        return writer.finish()
