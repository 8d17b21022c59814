"""``crmwh backtest-churn``: the churn model against simple baselines on past dates."""

from __future__ import annotations

import argparse
import json

from crmwh import settings
from crmwh.cli.common import iso_date, say
from crmwh.errors import CrmwhError

SHOWN = ("model", "churn_gbm", "churn_logistic", "bgnbd_no_purchase", "recency", "rfm",
         "bgnbd_p_no_purchase", "bgnbd_expected_purchases", "past_rate", "base_rate")


def register(sub: argparse._SubParsersAction) -> None:
    bt = sub.add_parser("backtest-churn", help="evaluate the churn model against baselines",
                        description="Score the churn model at several past dates T exactly as "
                                    "the nightly run would, with simple baselines on the same "
                                    "customers (recency, RFM, BG/NBD P(no purchase) and "
                                    "expected purchases, contract end date), against the "
                                    "outcome in (T, T+90 days]: ROC AUC, PR AUC, top-decile "
                                    "lift, Brier score, calibration.")
    bt.add_argument("--date", type=iso_date, action="append",
                    help="backtest date T (repeatable; default: 4 dates 30 days apart ending "
                         "90 days before the last order)")
    bt.add_argument("--outcome", choices=("truth", "orders"), default="truth",
                    help="truth: the generator's churn.csv (default); orders: no order in "
                         "(T, T+90] read from the warehouse (a transaction log without truth)")
    bt.add_argument("--json", action="store_true", help="print every figure as JSON")
    bt.add_argument("--run-id", default="backtest")
    bt.set_defaults(func=cmd_backtest_churn)


def cmd_backtest_churn(args: argparse.Namespace) -> int:
    from crmwh import database
    from crmwh.churn import backtest
    from crmwh.cli import printout

    cfg = settings.load()
    if args.outcome == "truth" and not (cfg.ground_truth_dir / "churn.csv").exists():
        raise CrmwhError(f"no ground truth in {cfg.ground_truth_dir}",
                         "run `crmwh generate`, or use --outcome orders on a transaction log")
    with database.connect(cfg.warehouse_dsn, autocommit=True) as conn:
        result = backtest.run(conn, cfg.ground_truth_dir, args.date or None,
                              run_id=args.run_id, outcome=args.outcome)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    s = result["summary"]
    rows = [(name, s["scores"][name]["auc"], s["scores"][name]["pr_auc"],
             s["scores"][name]["lift10"], s["scores"][name].get("brier"))
            for name in SHOWN if name in s["scores"]]
    c = s["contract"]
    rows += [(f"contract customers: {k}", c[k]["auc"], c[k]["pr_auc"], c[k]["lift10"], None)
             for k in ("model", "contract_end")]
    print(printout.table(["scorer (mean over dates)", "ROC AUC", "PR AUC", "lift@10%", "Brier"],
                         rows))
    verdict = "beats" if s["beats_every_baseline_auc"] and s["beats_every_baseline_lift10"] \
        else "does NOT beat"
    say(f"the churn model ({', '.join(s['chosen'])}) {verdict} every baseline on ROC AUC and "
        f"top-decile lift; Brier {'beats' if s['beats_base_rate_brier'] else 'does NOT beat'} "
        f"the training period's base rate (past_rate); the nightly now scores with "
        f"{s['pick']} ({s['pick_reason']}); recorded in audit.model_runs (model "
        f"churn_backtest, run {args.run_id})")
    return 0
