"""The DOMAIN §4 warning signals and the model's features.

Each feature belongs to one warning signal (a *reason* shown to users) or is a control
(in the model, never shown as a reason). Signal features are oriented so that a larger value
means more risk, and their coefficients are constrained to be non-negative: a warning signal
can only raise the risk, so a customer's reasons are the signals present above the average
customer's level that push the score up.
"""

from __future__ import annotations

from typing import NamedTuple


class Feature(NamedTuple):
    name: str
    signal: str | None  # None: a control, never a reason
    description: str


SIGNALS: dict[str, str] = {
    "falling_volume": "falling transaction volume (fewer orders than before, or none lately)",
    "complaints_slow_resolution": "complaints and slow resolution (first response over the SLA)",
    "rep_left": "the assigned sales rep left the firm",
    "overdue_receivables": "overdue receivables",
    "low_satisfaction": "low satisfaction (C = perceived / expected below 1)",
    "promotion_only": "buys mostly on promotion",
    "unlikely_to_buy": "the purchase model expects no purchase in the next weeks "
                       "(BG/NBD probability of no purchase within the purchase horizon)",
    "contract_not_renewed": "the contract ends within 90 days and the renewal model expects "
                            "no renewal",
}

FEATURES: tuple[Feature, ...] = (
    Feature("volume_drop", "falling_volume",
            "ln(1 + orders in the 90 days before the previous 90) - ln(1 + orders in the last 90)"),
    Feature("log_recency", "falling_volume", "ln(1 + days since the last order)"),
    Feature("log_complaints_90d", "complaints_slow_resolution",
            "ln(1 + complaints opened in the last 90 days)"),
    Feature("log_sla_missed_90d", "complaints_slow_resolution",
            "ln(1 + tickets of the last 90 days whose first response missed the SLA)"),
    Feature("rep_left", "rep_left", "1 when the customer's sales rep left on or before the date"),
    Feature("log_overdue_amount", "overdue_receivables", "ln(1 + overdue receivables on the date)"),
    Feature("overdue_over_30", "overdue_receivables", "1 when anything is over 30 days overdue"),
    Feature("dissatisfaction", "low_satisfaction",
            "max(0, 1 - mean satisfaction C of the last 180 days' surveys); 0 without surveys"),
    Feature("promo_share", "promotion_only", "share of the last 365 days' orders on promotion"),
    Feature("p_no_purchase", "unlikely_to_buy",
            "P(no purchase in the next churn_purchase_horizon_days), BG/NBD fitted on the date; "
            "1 without orders, 0.5 when too few repeat buyers to fit"),
    Feature("p_contract_lapse", "contract_not_renewed",
            "sBG chance the contract in force, ending within 90 days, is not renewed; else 0"),
    Feature("log_orders_365d", None, "ln(1 + orders in the last 365 days)"),
    Feature("log_tenure", None, "ln(1 + days since the first activity)"),
    Feature("has_contract", None, "1 when a recurring contract is in force"),
    Feature("contract_ends_90d", None, "1 when the contract in force ends within 90 days"),
    Feature("no_orders", None, "1 when the customer never ordered (contract or billing only)"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
SIGNAL_OF: dict[str, str | None] = {f.name: f.signal for f in FEATURES}
