"""Synthetic landed data for :mod:`crmwh_devkit.bench.quality` (set-based SQL, no Python loop)."""

from __future__ import annotations

SCRATCH_DB = "crm_bench_quality"
BATCH = "sales__orders_20260301_bench"


def fill(conn, rows: int) -> str:
    """Land ``rows`` orders (and the customers they reference) as one batch; return its id."""
    customers = max(rows // 10, 1)
    conn.execute(
        """insert into raw.sales__customers (customer_id, customer_type, name,
               acquisition_channel, created_at, updated_at, _batch_id, _row_hash)
           select g, 'individual', 'c' || g, 'web', timestamptz '2025-01-01',
                  timestamptz '2025-01-01', 'bench-customers', convert_to('c' || g, 'UTF8')
           from generate_series(1, %s) g""", (customers,))
    conn.execute(
        """insert into audit.load_batches (batch_id, run_id, source, entity, as_of_date,
               status, rows_extracted, rows_loaded)
           values (%s, 'bench', 'sales', 'orders', date '2026-03-01', 'loaded', %s, %s)""",
        (BATCH, rows, rows))
    conn.execute(
        """insert into raw.sales__orders (order_id, customer_id, sales_rep_id, ordered_at,
               channel, status, updated_at, _batch_id, _row_hash)
           select g, 1 + g %% %s, null,
                  timestamptz '2026-03-01 00:00+00' + (g %% 86400) * interval '1 second',
                  (array['web','phone','field_sales','partner'])[1 + g %% 4], 'placed',
                  timestamptz '2026-03-01 00:00+00' + (g %% 86400) * interval '1 second',
                  %s, convert_to('o' || g, 'UTF8')
           from generate_series(1, %s) g""", (customers, BATCH, rows))
    conn.execute("analyze raw.sales__orders")
    conn.execute("analyze raw.sales__customers")
    return BATCH
