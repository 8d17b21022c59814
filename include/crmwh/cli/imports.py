"""``crmwh import transactions``: land a delimited transactions file as a minimal sales system."""

from __future__ import annotations

import argparse
from pathlib import Path

from crmwh import settings
from crmwh.cli.common import say
from crmwh.cli.printout import table
from crmwh.errors import CrmwhError
from crmwh.imports.reader import WHITESPACE, TransactionsFile


def register(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="land your own data files",
                         description="Land a file of your own in the warehouse like a source.")
    kinds = imp.add_subparsers(dest="kind", required=True)
    tx = kinds.add_parser(
        "transactions", help="a delimited file of transactions (one per line, with a header)",
        description="Land a delimited transactions file with a header as the sales source's "
                    "customers, orders, order lines and a placeholder product (cost unknown: "
                    "margin = revenue). Bad records are quarantined with reasons; importing "
                    "the same file again lands nothing twice.")
    tx.add_argument("file", type=Path, help="the file (UTF-8, header line first)")
    tx.add_argument("--customer-col", required=True, metavar="C", help="customer id column")
    tx.add_argument("--date-col", required=True, metavar="D", help="transaction date column")
    tx.add_argument("--amount-col", required=True, metavar="A",
                    help="amount column (revenue of the transaction)")
    tx.add_argument("--quantity-col", metavar="Q", help="quantity column (default: 1)")
    tx.add_argument("--order-col", metavar="O",
                    help="order id column: records sharing it are one order (default: one "
                         "order per record)")
    tx.add_argument("--product-col", metavar="P",
                    help="product column (default: one placeholder product)")
    tx.add_argument("--date-format", metavar="F",
                    help="strptime format of the dates, e.g. %%Y%%m%%d (default: ISO 8601)")
    tx.add_argument("--delimiter", default=",", metavar="X",
                    help=f"field separator (default ','; '\\t' for tabs; {WHITESPACE!r} for "
                         "runs of blanks)")
    tx.set_defaults(func=cmd_transactions)


def cmd_transactions(args: argparse.Namespace) -> int:
    from crmwh.imports.transactions import import_transactions

    columns = {field: value for field, value in (
        ("customer", args.customer_col), ("date", args.date_col), ("amount", args.amount_col),
        ("quantity", args.quantity_col), ("order", args.order_col),
        ("product", args.product_col)) if value}
    delimiter = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    if len(delimiter) != 1 and delimiter != WHITESPACE:
        raise CrmwhError(f"--delimiter {args.delimiter!r} is not one character",
                         f"give one character, 'tab' or {WHITESPACE!r}")
    spec = TransactionsFile(args.file, columns, args.date_format, delimiter)
    done = import_transactions(settings.load(), spec)
    say(f"imported {args.file.name}: {done.records:,} records (run {done.run_id})")
    print(table(["entity", "batch", "extracted", "loaded", "unchanged", "quarantined"],
                [(f"sales.{b.entity}", b.batch_id, b.rows_extracted, b.rows_loaded,
                  b.rows_unchanged, b.rows_quarantined) for b in done.batches]))
    return 0
