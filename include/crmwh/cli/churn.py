"""``crmwh backtest-churn``: evaluate the churn model against the generator's ground truth."""

from __future__ import annotations

import argparse

from crmwh import settings
from crmwh.cli.common import iso_date, say
from crmwh.errors import CrmwhError


def register(sub: argparse._SubParsersAction) -> None:
    bt = sub.add_parser("backtest-churn", help="evaluate the churn model against ground truth",
                        description="Score the churn model at several past dates T exactly as "
                                    "the nightly run would and compare with the generator's true "
                                    "churn in (T, T+90 days]: AUC and top-decile lift of the "
                                    "model and of a recency-only baseline.")
    bt.add_argument("--date", type=iso_date, action="append",
                    help="backtest date T (repeatable; default: 4 dates 30 days apart ending "
                         "90 days before the last order)")
    bt.add_argument("--run-id", default="backtest")
    bt.set_defaults(func=cmd_backtest_churn)


def cmd_backtest_churn(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.churn import backtest
    from crmwh.cli import printout

    cfg = settings.load()
    if not (cfg.ground_truth_dir / "churn.csv").exists():
        raise CrmwhError(f"no ground truth in {cfg.ground_truth_dir}",
                         "run `crmwh generate` (the backtest needs the generator's churn.csv)")
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        result = backtest.run(conn, cfg.ground_truth_dir, args.date or None,
                              run_id=args.run_id)
    rows = [(r["as_of_date"], r["evaluated"], r["positives"], r["auc_model"], r["auc_recency"],
             r["lift10_model"], r["lift10_recency"]) for r in result["per_date"]]
    s = result["summary"]
    rows.append(("mean", "", "", s["auc_model"], s["auc_recency"], s["lift10_model"],
                 s["lift10_recency"]))
    print(printout.table(["as of T", "customers", "churned in (T, T+90]", "AUC model",
                        "AUC recency", "lift@10% model", "lift@10% recency"], rows))
    verdict = "beats" if s["beats_baseline_auc"] and s["beats_baseline_lift10"] else \
        "does NOT beat"
    say(f"the churn model {verdict} the recency-only baseline (AUC and top-decile lift); "
        f"recorded in audit.model_runs (model churn_backtest, run {args.run_id})")
    return 0
