"""From the checked records of ``_import`` to the sales contract's rows.

A transactions file is a minimal sales system: each good record is an order line of an
order (one per record, or one per ``--order-col`` value) of a customer, for a product
(one per ``--product-col`` value, else one placeholder). What the file does not say the
contract requires is filled with fixed placeholders (channel ``web``, an ``individual``
customer acquired on the ``web``, status ``placed``, no discount) and a product's cost
is unknown, recorded as 0: its margin is its revenue.

Ids are derived from the values, so importing the same file again gives the same rows
(recognised by their row hash and not landed twice): a value of at most 15 digits is its
own id, any other value gets 10^15 plus a 60-bit hash of it (``hashtextextended``: stable
across PostgreSQL versions, hash partitioning relies on it). An order without
``--order-col`` is identified by its record's values and its occurrence among identical
records.
"""

from __future__ import annotations

import psycopg

from crmwh.pgcopy import quote_ident
from crmwh.source_entities import PG_TYPES, Entity

HASHED_FROM = 10 ** 15
LOW_60_BITS = (1 << 60) - 1
PLACEHOLDER_PRODUCT = "imported"
EPOCH = "1970-01-01 00:00:00+00"  # products: their fixed version (the file says nothing new)
NUMERIC = "numeric(18,4)"


def id_sql(value: str) -> str:
    """SQL: the bigint id of a text value (itself when it is a short whole number)."""
    return (f"case when ({value}) ~ '^[0-9]{{1,15}}$' then ({value})::bigint "
            f"else {HASHED_FROM} + (hashtextextended({value}, 0) & {LOW_60_BITS}) end")


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


def _good_records(order_id: str) -> str:
    """SQL: the good records of ``_import`` typed, with their customer, product and order ids."""
    return f"""
        select line, customer, {id_sql('customer')} as customer_id, ordered_at,
               amount::{NUMERIC} as amount, coalesce(quantity::integer, 1) as qty, product,
               {id_sql(f"coalesce(product, '{PLACEHOLDER_PRODUCT}')")} as product_id,
               {order_id} as order_id
        from _import where reason is null"""


def derive(cur: psycopg.Cursor, by_order: bool) -> None:
    """The good records as ``_lines`` (with their order and product ids), then
    ``_orders``, ``_customers`` and ``_products``, every value as the contract types it."""
    if by_order:  # lines of an order: told apart by their values and their occurrence
        cur.execute(f"""
            create temp table _lines on commit drop as
            select g.*, {id_sql("'line|' || g.order_id || '|' || coalesce(g.product, '') "
                                "|| '|' || g.amount || '|' || g.qty || '|' || g.k")}
                        as order_line_id
            from (select s.*, row_number() over (partition by s.order_id, s.product,
                                                              s.amount, s.qty order by s.line) as k
                  from ({_good_records(id_sql('order_ref'))}) s) g""")
    else:  # one order per record, its one line has the order's id
        order = id_sql("concat_ws('|', customer, ordered_at, amount, quantity, product, "
                       "row_number() over (partition by customer, ordered_at, amount, "
                       "quantity, product order by line))")
        cur.execute(f"""
            create temp table _lines on commit drop as
            select s.*, s.order_id as order_line_id from ({_good_records(order)}) s""")
    if by_order:  # an order's customer and time: its first record's
        cur.execute("""
            create temp table _orders on commit drop as
            select distinct on (order_id) order_id, customer_id, ordered_at
            from _lines order by order_id, line""")
    else:  # dropped with the session, which ends with the import
        cur.execute("create temp view _orders as select order_id, customer_id, ordered_at "
                    "from _lines")
    cur.execute("""
        create temp table _customers on commit drop as
        select customer_id, min(customer) as name, min(ordered_at) as created_at,
               max(ordered_at) as updated_at
        from _lines group by customer_id""")
    cur.execute(f"""
        create temp table _products on commit drop as
        select distinct product_id, coalesce(product, '{PLACEHOLDER_PRODUCT}') as sku
        from _lines""")


# per entity: the derived table it is read from, and each column's value (the others NULL)
VALUES: dict[str, tuple[str, dict[str, str]]] = {
    "customers": ("_customers", {
        "customer_id": "customer_id", "customer_type": "'individual'", "name": "name",
        "acquisition_channel": "'web'", "created_at": "created_at",
        "updated_at": "updated_at"}),
    "products": ("_products", {
        "product_id": "product_id", "sku": "sku",
        "name": f"case when sku = '{PLACEHOLDER_PRODUCT}' then 'Imported (product unknown)' "
                "else sku end",
        "category": "'imported'", "list_price": "0", "unit_cost": "0",
        "sole_supplier": "false", "updated_at": f"'{EPOCH}'"}),
    "orders": ("_orders", {
        "order_id": "order_id", "customer_id": "customer_id", "ordered_at": "ordered_at",
        "channel": "'web'", "status": "'placed'", "updated_at": "ordered_at"}),
    "order_lines": ("_lines", {
        "order_line_id": "order_line_id", "order_id": "order_id", "product_id": "product_id",
        "quantity": "qty", "unit_price": "round(amount / qty, 4)", "discount_pct": "0",
        "updated_at": "ordered_at"}),
}


def typed_select(entity: Entity) -> str:
    """SQL: the entity's derived rows, every column cast to its contract type."""
    table, values = VALUES[entity.name]
    cols = ", ".join(f"cast({values.get(c.name, 'null')} as {PG_TYPES[c.type]}) "
                     f"as {quote_ident(c.name)}" for c in entity.columns)
    return f"select {cols} from {table}"
