"""From the checked records of ``_import`` to the sales contract's rows.

A transactions file is a minimal sales system: each good record is an order line of an
order (one per record, or one per ``--order-col`` value) of a customer, for a product
(one per ``--product-col`` value, else one placeholder). What the file does not say the
contract requires is filled with fixed placeholders (channel ``web``, an ``individual``
customer acquired on the ``web``, status ``placed``, no discount) and a product's cost
is unknown, recorded as 0: its margin is its revenue.

Ids are derived from the values, so importing the same file again gives the same rows
(recognised by their row hash and not landed twice): a value of at most 15 digits is its
own id, any other value gets 10^15 plus a 60-bit hash of it. An order without
``--order-col`` is identified by its record's values and its occurrence among identical
records.
"""

from __future__ import annotations

import psycopg

HASHED_FROM = 10 ** 15
PLACEHOLDER_PRODUCT = "imported"
EPOCH = "1970-01-01 00:00:00+00"  # products: their fixed version (the file says nothing new)
NUMERIC = "numeric(18,4)"


def id_sql(value: str) -> str:
    """SQL: the bigint id of a text value (itself when it is a short whole number)."""
    return (f"case when ({value}) ~ '^[0-9]{{1,15}}$' then ({value})::bigint "
            f"else {HASHED_FROM} + ('x' || left(md5({value}), 15))::bit(60)::bigint end")


# why a record of ``_import`` cannot land (NULL: it can); CASE keeps every cast guarded
REASON = f"""nullif(concat_ws('; ', problem,
    case when problem is null and customer is null then 'missing customer' end,
    case when problem is not null then null
         when date_raw is null then 'missing date'
         when ordered_at is null then format('unparseable date %L', date_raw) end,
    case when problem is not null then null
         when amount is null then 'missing amount'
         when not pg_input_is_valid(amount, '{NUMERIC}') then format('bad amount %L', amount)
         when amount::{NUMERIC} < 0 then format('amount %s below 0', amount) end,
    case when problem is not null or quantity is null then null
         when not pg_input_is_valid(quantity, 'integer')
         then format('bad quantity %L (a whole number from 1)', quantity)
         when quantity::integer < 1
         then format('bad quantity %L (a whole number from 1)', quantity) end), '')"""


def check_records(cur: psycopg.Cursor) -> None:
    """Give each record of ``_import`` its reasons not to land (``reason``, NULL when good)."""
    cur.execute("alter table _import add column reason text")
    cur.execute(f"update _import set reason = {REASON} where {REASON} is not null")


def derive(cur: psycopg.Cursor, by_order: bool) -> None:
    """The good records as ``_lines`` (with their order and product ids), then
    ``_orders``, ``_customers`` and ``_products``, every value as the contract types it."""
    occurrence = ("row_number() over (partition by customer, ordered_at, amount, quantity, "
                  "product order by line)")
    order = id_sql("order_ref") if by_order else id_sql(
        f"concat_ws('|', customer, ordered_at, amount, quantity, product, {occurrence})")
    cur.execute(f"""
        create temp table _lines on commit drop as
        select g.*, {id_sql("'line|' || g.order_id || '|' || coalesce(g.product, '') || '|' "
                            "|| g.amount || '|' || g.qty || '|' || g.k")} as order_line_id
        from (select s.*, row_number() over (partition by s.order_id, s.product, s.amount,
                                                          s.qty order by s.line) as k
              from (select line, customer, {id_sql('customer')} as customer_id, ordered_at,
                           amount::{NUMERIC} as amount, coalesce(quantity::integer, 1) as qty,
                           product, {id_sql(f"coalesce(product, '{PLACEHOLDER_PRODUCT}')")}
                               as product_id,
                           {order} as order_id
                    from _import where reason is null) s) g""")
    cur.execute("""
        create temp table _orders on commit drop as
        select distinct on (order_id) order_id, customer_id, ordered_at
        from _lines order by order_id, line""")
    cur.execute("""
        create temp table _customers on commit drop as
        select customer_id, min(customer) as name, min(ordered_at) as created_at,
               max(ordered_at) as updated_at
        from _lines group by customer_id""")
    cur.execute(f"""
        create temp table _products on commit drop as
        select distinct product_id, coalesce(product, '{PLACEHOLDER_PRODUCT}') as sku
        from _lines""")


# per entity: the select filling the loader's text scratch (its columns in contract order,
# then _extra and _source_ref), from the derived tables
SELECTS = {
    "customers": """
        select customer_id, 'individual', name, null, null, null, null, 'web', null, null,
               created_at, updated_at, null, null::jsonb, %(ref)s from _customers""",
    "products": f"""
        select product_id, sku,
               case when sku = '{PLACEHOLDER_PRODUCT}' then 'Imported (product unknown)'
                    else sku end,
               'imported', 0, 0, false, '{EPOCH}', null::jsonb, %(ref)s from _products""",
    "orders": """
        select order_id, customer_id, null, ordered_at, 'web', null, 'placed', ordered_at,
               null, null::jsonb, %(ref)s from _orders""",
    "order_lines": """
        select order_line_id, order_id, product_id, qty, round(amount / qty, 4), 0,
               ordered_at, null::jsonb, %(ref)s from _lines""",
}
