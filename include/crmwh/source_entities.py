"""The source entities: every entity a source delivers, its columns, types and key.

One place decides what a raw table looks like (its landing schema); the loader
creates and validates against it, the dbt sources and the Great Expectations
suites describe the same columns. Raw tables are named ``raw.<source>__<entity>``
and carry, besides the declared columns, load metadata:

``_batch_id`` (text), ``_extracted_at`` (timestamptz), ``_source_ref`` (file
name or API page), ``_row_hash`` (128-bit hash of the typed row, 16 bytes:
:func:`crmwh.source_entities.row_hash_sql`), ``_extra`` (jsonb:
fields the source sent that the entity does not declare yet; schema drift is
kept, never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Postgres type per column type name.
PG_TYPES = {
    "int": "bigint",
    "text": "text",
    "numeric": "numeric(18,4)",
    "bool": "boolean",
    "date": "date",
    "timestamptz": "timestamptz",
}

META_COLUMNS = (
    ("_batch_id", "text"),
    ("_extracted_at", "timestamptz"),
    ("_source_ref", "text"),
    ("_row_hash", "bytea"),
    ("_extra", "jsonb"),
)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of PG_TYPES
    required: bool = False
    accepted: tuple[str, ...] = ()  # accepted values for text columns, empty = any
    min_value: float | None = None  # lower bound for numeric columns


@dataclass(frozen=True)
class Entity:
    source: str  # sales | billing | service
    name: str  # plural entity name, e.g. "customers"
    key: str  # the source's own primary key column
    columns: tuple[Column, ...]
    updated_column: str = "updated_at"
    references: dict[str, str] = field(default_factory=dict)  # column -> "entity.key"

    @property
    def table(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def qualified(self) -> str:
        return f"raw.{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _c(name: str, type_: str, required: bool = False, **kw) -> Column:
    return Column(name, type_, required, **kw)


ENTITIES: tuple[Entity, ...] = (
    # --- sales: an OLTP Postgres database ---------------------------------
    Entity(
        "sales",
        "sales_reps",
        "sales_rep_id",
        (
            _c("sales_rep_id", "int", True),
            _c("name", "text", True),
            _c("email", "text"),
            _c("hired_on", "date", True),
            _c("left_on", "date"),
            _c("updated_at", "timestamptz", True),
        ),
    ),
    Entity(
        "sales",
        "customers",
        "customer_id",
        (
            _c("customer_id", "int", True),
            _c("customer_type", "text", True, accepted=("individual", "organisation")),
            _c("name", "text", True),
            _c("email", "text"),
            _c("phone", "text"),
            _c("tax_id", "text"),
            _c("city", "text"),
            _c("acquisition_channel", "text", True,
               accepted=("web", "referral", "field_sales", "partner", "event")),
            _c("referrer_customer_id", "int"),
            _c("sales_rep_id", "int"),
            _c("created_at", "timestamptz", True),
            _c("updated_at", "timestamptz", True),
            _c("deleted_at", "timestamptz"),
        ),
        references={"sales_rep_id": "sales_reps.sales_rep_id"},
    ),
    Entity(
        "sales",
        "products",
        "product_id",
        (
            _c("product_id", "int", True),
            _c("sku", "text", True),
            _c("name", "text", True),
            _c("category", "text", True),
            _c("list_price", "numeric", True, min_value=0),
            _c("unit_cost", "numeric", True, min_value=0),
            _c("sole_supplier", "bool", True),
            _c("updated_at", "timestamptz", True),
        ),
    ),
    Entity(
        "sales",
        "orders",
        "order_id",
        (
            _c("order_id", "int", True),
            _c("customer_id", "int", True),
            _c("sales_rep_id", "int"),
            _c("ordered_at", "timestamptz", True),
            _c("channel", "text", True, accepted=("web", "phone", "field_sales", "partner")),
            _c("promotion_code", "text"),
            _c("status", "text", True, accepted=("placed", "shipped", "cancelled")),
            _c("updated_at", "timestamptz", True),
            _c("deleted_at", "timestamptz"),
        ),
        references={"customer_id": "customers.customer_id"},
    ),
    Entity(
        "sales",
        "order_lines",
        "order_line_id",
        (
            _c("order_line_id", "int", True),
            _c("order_id", "int", True),
            _c("product_id", "int", True),
            _c("quantity", "int", True, min_value=1),
            _c("unit_price", "numeric", True, min_value=0),
            _c("discount_pct", "numeric", True, min_value=0),
            _c("updated_at", "timestamptz", True),
        ),
        references={"order_id": "orders.order_id", "product_id": "products.product_id"},
    ),
    Entity(
        "sales",
        "contacts",
        "contact_id",
        (
            _c("contact_id", "int", True),
            _c("customer_id", "int", True),
            _c("name", "text", True),
            _c("role", "text"),
            _c("email", "text"),
            _c("phone", "text"),
            _c("is_primary", "bool", True),
            _c("updated_at", "timestamptz", True),
            _c("deleted_at", "timestamptz"),
        ),
        references={"customer_id": "customers.customer_id"},
    ),
    Entity(
        "sales",
        "opportunities",
        "opportunity_id",
        (
            _c("opportunity_id", "int", True),
            _c("customer_id", "int", True),
            _c("sales_rep_id", "int"),
            _c("stage", "text", True,
               accepted=("prospecting", "qualification", "proposal", "negotiation", "won",
                         "lost")),
            _c("amount", "numeric", True, min_value=0),
            _c("expected_close_date", "date"),
            _c("created_at", "timestamptz", True),
            _c("updated_at", "timestamptz", True),
        ),
        references={"customer_id": "customers.customer_id"},
    ),
    Entity(
        "sales",
        "shipments",
        "shipment_id",
        (
            _c("shipment_id", "int", True),
            _c("order_id", "int", True),
            _c("customer_id", "int", True),
            _c("delivery_note_no", "text", True),
            _c("contract_ref", "text"),  # the billing contract the shipment is made under
            _c("shipped_at", "timestamptz", True),
            _c("quantity", "int", True, min_value=0),
            _c("ship_to_city", "text"),
            _c("updated_at", "timestamptz", True),
        ),
        references={"order_id": "orders.order_id"},
    ),
    # --- billing: daily file drops (CSV and JSON lines) -------------------
    Entity(
        "billing",
        "accounts",
        "account_id",
        (
            _c("account_id", "text", True),
            _c("account_name", "text", True),
            _c("email", "text"),
            _c("phone", "text"),
            _c("tax_id", "text"),
            _c("created_at", "timestamptz", True),
            _c("updated_at", "timestamptz", True),
        ),
    ),
    Entity(
        "billing",
        "invoices",
        "invoice_id",
        (
            _c("invoice_id", "text", True),
            _c("account_id", "text", True),
            _c("invoice_date", "date", True),
            _c("due_date", "date", True),
            _c("amount", "numeric", True, min_value=0),
            _c("currency", "text", True),
            _c("status", "text", True, accepted=("open", "paid", "void", "written_off")),
            _c("updated_at", "timestamptz", True),
        ),
        references={"account_id": "accounts.account_id"},
    ),
    Entity(
        "billing",
        "payments",
        "payment_id",
        (
            _c("payment_id", "text", True),
            _c("invoice_id", "text", True),
            _c("account_id", "text", True),
            _c("paid_at", "timestamptz", True),
            _c("amount", "numeric", True, min_value=0),
            _c("method", "text", True),
            _c("updated_at", "timestamptz", True),
        ),
        references={"invoice_id": "invoices.invoice_id"},
    ),
    Entity(
        "billing",
        "invoice_lines",
        "invoice_line_id",
        (
            _c("invoice_line_id", "text", True),
            _c("invoice_id", "text", True),
            _c("line_no", "int", True, min_value=1),
            _c("sku", "text"),
            _c("quantity", "int", True),
            _c("unit_price", "numeric", True, min_value=0),
            _c("amount", "numeric", True),
            _c("updated_at", "timestamptz", True),
        ),
        references={"invoice_id": "invoices.invoice_id"},
    ),
    Entity(
        "billing",
        "contracts",
        "contract_id",
        (
            _c("contract_id", "text", True),
            _c("account_id", "text", True),
            _c("contract_type", "text", True, accepted=("subscription", "framework", "one_off")),
            _c("start_date", "date", True),
            _c("end_date", "date"),
            _c("auto_renew", "bool", True),
            _c("status", "text", True, accepted=("active", "renewed", "cancelled", "expired")),
            _c("amount", "numeric", True, min_value=0),
            _c("contracted_quantity", "int"),
            _c("renewal_of", "text"),
            _c("cancelled_at", "timestamptz"),
            _c("updated_at", "timestamptz", True),
        ),
        references={"account_id": "accounts.account_id"},
    ),
    Entity(
        "billing",
        "credit_notes",
        "credit_note_id",
        (
            _c("credit_note_id", "text", True),
            _c("invoice_id", "text", True),
            _c("account_id", "text", True),
            _c("issued_on", "date", True),
            _c("amount", "numeric", True, min_value=0),
            _c("reason", "text", True,
               accepted=("return", "price_adjustment", "goodwill", "write_off")),
            _c("updated_at", "timestamptz", True),
        ),
        references={"invoice_id": "invoices.invoice_id"},
    ),
    Entity(
        "billing",
        "credit_lines",
        "credit_line_id",
        (
            _c("credit_line_id", "text", True),
            _c("account_id", "text", True),
            _c("line_type", "text", True, accepted=("annual", "temporary")),
            _c("credit_limit", "numeric", True, min_value=0),
            _c("term_days", "int", True, min_value=0),
            _c("valid_from", "date", True),
            _c("valid_to", "date", True),
            _c("updated_at", "timestamptz", True),
        ),
        references={"account_id": "accounts.account_id"},
    ),
    # --- service: a paginated JSON HTTP API --------------------------------
    Entity(
        "service",
        "tickets",
        "ticket_id",
        (
            _c("ticket_id", "int", True),
            _c("requester_email", "text"),
            _c("requester_phone", "text"),
            _c("requester_name", "text"),
            _c("ticket_type", "text", True,
               accepted=("complaint", "inquiry", "repair", "request")),
            _c("channel", "text", True, accepted=("phone", "email", "web", "chat")),
            _c("priority", "text", True, accepted=("low", "normal", "high", "urgent")),
            _c("created_at", "timestamptz", True),
            _c("first_response_at", "timestamptz"),
            _c("resolved_at", "timestamptz"),
            _c("root_cause", "text"),
            _c("agent", "text"),
            _c("updated_at", "timestamptz", True),
        ),
    ),
    Entity(
        "service",
        "interactions",
        "interaction_id",
        (
            _c("interaction_id", "int", True),
            _c("ticket_id", "int", True),
            _c("channel", "text", True, accepted=("phone", "email", "web", "chat")),
            _c("direction", "text", True, accepted=("inbound", "outbound")),
            _c("occurred_at", "timestamptz", True),
            _c("agent", "text"),
            _c("updated_at", "timestamptz", True),
        ),
        references={"ticket_id": "tickets.ticket_id"},
    ),
    Entity(
        "service",
        "follow_ups",
        "follow_up_id",
        (
            _c("follow_up_id", "int", True),
            _c("ticket_id", "int", True),
            _c("called_at", "timestamptz", True),
            _c("agent", "text"),
            _c("outcome", "text", True,
               accepted=("reached", "no_answer", "resolved_confirmed", "reopened")),
            _c("updated_at", "timestamptz", True),
        ),
        references={"ticket_id": "tickets.ticket_id"},
    ),
    Entity(
        "service",
        "surveys",
        "survey_id",
        (
            _c("survey_id", "int", True),
            _c("ticket_id", "int"),
            _c("respondent_email", "text"),
            _c("respondent_phone", "text"),
            _c("answered_at", "timestamptz", True),
            _c("perceived_score", "numeric", True, min_value=1),
            _c("expected_score", "numeric", True, min_value=1),
            _c("recommend_score", "int", True, min_value=0),
            _c("updated_at", "timestamptz", True),
        ),
    ),
)

BY_TABLE: dict[str, Entity] = {e.table: e for e in ENTITIES}


def entities_of(source: str) -> list[Entity]:
    return [e for e in ENTITIES if e.source == source]


def row_hash_sql(values: list[str], extra: str) -> str:
    """The row hash: 128 bits (``bytea``, 16 bytes) from two 64-bit
    ``hash_record_extended`` values (seeds 1 and 2) of a row's typed entity
    values (in column order) and its ``_extra``.

    Over typed values, so the same row in another time zone or number format hashes
    the same, and without building the row's text (the former
    ``md5(row(...)::text)`` spent most of its time there): independent of the
    session's ``TimeZone`` and ``DateStyle``. A source database computing it must
    run the same major version line of hash functions as the warehouse
    (PostgreSQL's hash functions are stable across versions: hash partitioning
    relies on them).
    """
    row = f"row({', '.join(values)}, {extra})"
    return (f"(int8send(hash_record_extended({row}, 1)) || "
            f"int8send(hash_record_extended({row}, 2)))")
