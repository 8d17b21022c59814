"""The service system's interactions, follow-ups (回访) and surveys: generated, served, landed.

Generator behaviour on a mid-size population. Every service entity through the real HTTP
server, the real extractor and loader into a scratch warehouse, the quality gate and the
staging models: tests/integration/test_source_service.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crmwh import source_entities
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests.support.demo import DAYS, START

DAY = np.timedelta64(1, "D")
ENTITIES = tuple(e.name for e in source_entities.entities_of("service"))
BIG = GeneratorConfig(seed=5, customers=3000, start=START, days=120)


@pytest.fixture(scope="module")
def big():
    return generate(BIG)


def _end(config: GeneratorConfig) -> np.datetime64:
    return np.datetime64(config.start.isoformat(), "s") + config.days * DAY


def _customer_of_email(data, emails: pd.Series) -> pd.Series:
    truth = data.truth["identity"].set_index("email")["customer_id"]
    return pd.Series(truth.reindex(emails.str.strip().str.lower()).to_numpy(), index=emails.index)


def _survey_customers(data) -> pd.Series:
    """Identity resolution by hand: normalised e-mail, else the phone's last 11 digits."""
    surveys = data.service["surveys"]
    by_email = _customer_of_email(data, surveys["respondent_email"].fillna(""))
    phones = data.truth["identity"].set_index("phone")["customer_id"]
    digits = surveys["respondent_phone"].fillna("").str.replace(r"\D", "", regex=True).str[-11:]
    by_phone = pd.Series(phones.reindex(digits).to_numpy(), index=surveys.index)
    return by_email.fillna(by_phone)


def test_generation_is_deterministic_and_matches_the_contract():
    config = GeneratorConfig(seed=11, customers=400, start=START, days=DAYS)
    a, b = generate(config), generate(config)
    other = generate(GeneratorConfig(seed=12, customers=400, start=START, days=DAYS))
    for name in ENTITIES[1:]:
        pd.testing.assert_frame_equal(a.service[name], b.service[name])
        assert not a.service[name].equals(other.service[name])
        entity = source_entities.BY_TABLE[f"service__{name}"]
        assert list(a.service[name].columns) == entity.column_names
        for col in entity.columns:
            if col.type == "timestamptz":
                assert a.service[name][col.name].dtype == "datetime64[s]", (name, col.name)
    # adding the service entities did not change the other sources' rows
    assert a.sales["orders"].equals(b.sales["orders"])


def test_interactions_lie_inside_ticket_lifetimes(big):
    tickets = big.service["tickets"].set_index("ticket_id")
    inter = big.service["interactions"].drop_duplicates()
    assert inter["interaction_id"].is_unique  # only exact duplicates were added
    known = inter["ticket_id"].isin(tickets.index)
    orphan_share = 1 - known.mean()
    assert 0 < orphan_share < 3 * BIG.dirt_rate  # dirt: tickets that do not exist
    inter = inter[known].sort_values(["ticket_id", "occurred_at", "interaction_id"])
    t = tickets.loc[inter["ticket_id"]]
    end = _end(BIG)
    until = t["resolved_at"].fillna(pd.Timestamp(end)).to_numpy()
    occurred = inter["occurred_at"].to_numpy()
    assert (occurred >= t["created_at"].to_numpy()).all()
    assert (occurred <= until).all() and (occurred < end).all()
    assert (inter["updated_at"] == inter["occurred_at"]).all()
    per_ticket = inter.groupby("ticket_id").size()
    assert per_ticket.between(1, 6).all()
    assert set(per_ticket.index) == set(tickets.index)  # every ticket has its opening contact
    first = inter.groupby("ticket_id").head(1).set_index("ticket_id")
    assert (first["direction"] == "inbound").all()
    assert (first["occurred_at"] == tickets.loc[first.index, "created_at"]).all()
    assert (first["channel"] == tickets.loc[first.index, "channel"]).all()
    # the first outbound reply is the ticket's first response; no reply before it
    out = inter[inter["direction"] == "outbound"].groupby("ticket_id")["occurred_at"].min()
    assert (out == tickets.loc[out.index, "first_response_at"]).all()
    assert tickets.loc[tickets["first_response_at"].isna()].index.isin(out.index).sum() == 0
    with_agent = inter.dropna(subset=["agent"])
    handler = tickets.loc[with_agent["ticket_id"], "agent"].to_numpy()
    assert (with_agent["agent"].to_numpy() == handler).mean() > 0.75


def test_follow_ups_come_after_resolution_and_reopen_before_churn(big):
    tickets = big.service["tickets"].set_index("ticket_id")
    fu = big.service["follow_ups"].drop_duplicates()
    assert fu["follow_up_id"].is_unique and fu["ticket_id"].is_unique
    t = tickets.loc[fu["ticket_id"]]
    assert t["resolved_at"].notna().all()
    delay = (fu["called_at"].to_numpy() - t["resolved_at"].to_numpy()) / DAY
    assert (delay >= 1).all() and (delay <= 7).all()
    assert (fu["called_at"].to_numpy() < _end(BIG)).all()
    # most resolved complaints are followed up, fewer of the other tickets
    resolved = tickets[tickets["resolved_at"].notna()
                       & (tickets["resolved_at"] < pd.Timestamp(_end(BIG) - 8 * DAY))]
    called = resolved.index.isin(fu["ticket_id"])
    complaint = (resolved["ticket_type"] == "complaint").to_numpy()
    assert called[complaint].mean() > 0.75 > 0.5 > called[~complaint].mean()
    # reopened more often when the customer is within 60 days of churning
    cust = _customer_of_email(big, t["requester_email"].reset_index(drop=True))
    churned = big.truth["churn"].set_index("customer_id")["churned_at"].reindex(cust)
    near = ((churned.to_numpy() - fu["called_at"].to_numpy()) < 60 * DAY)
    reopened = (fu["outcome"] == "reopened").to_numpy()
    table = [[reopened[near].sum(), (~reopened[near]).sum()],
             [reopened[~near].sum(), (~reopened[~near]).sum()]]
    assert reopened[near].mean() > 2 * reopened[~near].mean()
    assert stats.chi2_contingency(table).pvalue < 1e-4
    assert set(fu["outcome"]) == {"reached", "no_answer", "resolved_confirmed", "reopened"}


def test_survey_scores_fall_in_the_60_days_before_dropout(big):
    surveys = big.service["surveys"].drop_duplicates()
    cust = _survey_customers(big).loc[surveys.index]
    assert cust.notna().all()  # every respondent can be resolved, but not by exact match
    sales_email = pd.Series(
        big.truth["identity"].set_index("customer_id")["email"].loc[cust].to_numpy(),
        index=surveys.index)
    written = surveys["respondent_email"].dropna()
    assert (written.to_numpy() != sales_email.loc[written.index].to_numpy()).mean() > 0.3
    assert surveys["respondent_phone"].dropna().str.contains(r"[- +]").mean() > 0.3

    churned = big.truth["churn"].set_index("customer_id")["churned_at"].reindex(cust)
    left = (churned.to_numpy() - surveys["answered_at"].to_numpy()) / DAY
    before_dropout = (left >= 0) & (left <= 60)
    stayer = churned.isna().to_numpy()
    scored = surveys["perceived_score"].notna().to_numpy()
    pre = surveys[before_dropout & scored]
    stay = surveys[stayer & scored]
    assert len(pre) > 100 and len(stay) > 100
    # a real difference, not noise: one-sided Mann-Whitney U on perceived quality and NPS
    for col in ("perceived_score", "recommend_score"):
        test = stats.mannwhitneyu(pre[col], stay[col], alternative="less")
        assert test.pvalue < 1e-6, (col, test)
    assert stay["perceived_score"].mean() - pre["perceived_score"].mean() > 1.0
    c_pre = (pre["perceived_score"] / pre["expected_score"] < 1).mean()
    c_stay = (stay["perceived_score"] / stay["expected_score"] < 1).mean()
    assert c_pre > c_stay + 0.2  # more dissatisfied (C < 1) before churn


def test_survey_scales_and_dirt(big):
    surveys = big.service["surveys"]
    scored = surveys["perceived_score"].dropna()
    for col in (scored, surveys["expected_score"]):
        assert col.between(1, 10).all()
        assert np.allclose(col * 10, np.round(col * 10))  # at most one decimal
    assert surveys["recommend_score"].between(0, 10).all()
    assert 0 < surveys["perceived_score"].isna().mean() < 3 * BIG.dirt_rate
    assert surveys.duplicated().sum() > 0
    transactional = surveys.dropna(subset=["ticket_id"])
    assert 0.2 < len(transactional) / len(surveys) < 0.9  # both kinds of survey
    resolved = big.service["tickets"].set_index("ticket_id")["resolved_at"]
    after = transactional["answered_at"].to_numpy() - resolved.loc[
        transactional["ticket_id"].astype(int)].to_numpy()
    assert (after > np.timedelta64(0, "s")).all()
