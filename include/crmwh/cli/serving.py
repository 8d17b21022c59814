"""Serving commands: the warehouse roles, the dbt docs site, the nightly HTML report, the
source contract page."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import iso_date, say

COMMANDS = {  # name: (help, description)
    "roles": ("create the warehouse roles (bi_reader, analyst, crm_pipeline)",
              "Create or update the reading roles and their privileges, idempotently; needs a "
              "role-creating login."),
    "docs": ("generate the dbt docs site (static HTML)",
             "Run `dbt docs generate --static` against the warehouse and copy the single-file "
             "site to $CRM_HOME/docs."),
    "report": ("write the nightly HTML report",
               "Write the static nightly report (charts inline) for an as-of date to "
               "$CRM_HOME/reports."),
    "contract": ("write the source contract page (docs/source_contract.md)",
                 "Regenerate docs/source_contract.md from the source entities, the dbt sources "
                 "and lineage (dbt parse, no database) and the expectation suites."),
}


def register(sub: argparse._SubParsersAction) -> None:
    parsers = {name: sub.add_parser(name, help=text, description=description)
               for name, (text, description) in COMMANDS.items()}
    parsers["docs"].add_argument("--date", type=iso_date, default=None,
                                 help="as-of date for the catalog")
    parsers["report"].add_argument("--date", type=iso_date, default=None,
                                   help="as-of date (default: the date the marts reflect)")
    parsers["report"].add_argument("--out", default=None,
                                   help="output file (default under $CRM_HOME/reports)")
    for name, parser in parsers.items():
        parser.set_defaults(func=globals()[f"cmd_{name}"])


def cmd_roles(args: argparse.Namespace) -> int:
    from crmwh import database, warehouse
    from crmwh.cli import printout
    from crmwh.warehouse import roles

    cfg = settings.load()
    warehouse.ensure_warehouse(cfg)
    with database.connect(cfg.admin_dsn, autocommit=True) as conn:
        roles.ensure_roles(conn, cfg.secrets)
        print(printout.table(["role", "schema", "privileges"], roles.describe(conn)))
    say("roles bi_reader, analyst, crm_pipeline ensured (docs/serving.md)")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from crmwh import dbt_docs

    cfg = settings.load()
    path = dbt_docs.generate(cfg, as_of_date=args.date)
    say(f"dbt docs written: {path} (open it in a browser, no server needed)")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.report import html

    cfg = settings.load()
    with database.connect(cfg.warehouse_dsn) as conn:
        path, sections = html.write(conn, cfg, args.date, args.out)
    for line in html.missing_sections(sections):
        say(f"section not available: {line}")
    say(f"nightly report written: {path}")
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    from crmwh import contract_page

    path = contract_page.generate(settings.load())
    say(f"source contract page written: {path}")
    return 0
