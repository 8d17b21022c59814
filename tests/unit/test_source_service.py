"""The service system's interactions, follow-ups (回访) and surveys: generated, served, landed.

Generator behaviour on a mid-size population; then every service entity through the real
HTTP server, the real extractor and loader into a scratch warehouse, the quality gate, and
the staging models (satisfaction C and NPS classes, DOMAIN §3) built by dbt on the result.
"""

from __future__ import annotations

import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crmwh import database, source_entities
from crmwh.extract import service
from crmwh.load.batches import new_batch_id
from crmwh.load.landing import land
from crmwh.quality import gate
from crmwh_devkit.simulators import service_api
from crmwh_devkit.simulators.generator import GeneratorConfig, generate
from tests import dbt_runner
from tests.conftest import DAYS, START, drop_database, fresh_database

DAY = np.timedelta64(1, "D")
ENTITIES = ("tickets", "interactions", "follow_ups", "surveys")
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


# --------------------------------------------------------------------------- through the pipes

DIRTY = GeneratorConfig(seed=7, customers=300, start=START, days=DAYS, dirt_rate=0.03)


@pytest.fixture()
def scratch(cfg, request):
    """A fresh, empty warehouse database for one test."""
    name = "t_svc_" + request.node.name.lower()[:40]
    yield fresh_database(cfg, name)
    drop_database(cfg, name)


@pytest.fixture()
def service_server(tmp_path):
    data = generate(DIRTY)
    folder = tmp_path / "svc"
    service_api.write(folder, data.service)
    server = service_api.make_server(folder, port=0, token="tok", rate=200.0, burst=20,
                                     fail_every=5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", data
    server.shutdown()


def _dbt(dsn: str, tmp: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return dbt_runner.run(dsn, command, *args, target=tmp / "target", logs=tmp / "logs")


def test_every_service_entity_through_http_extract_land_gate_and_staging(
        scratch, service_server, tmp_path):
    url, data = service_server
    until = datetime(2030, 1, 1, tzinfo=UTC)
    results = {}
    with database.connect(scratch, autocommit=True) as conn:
        for name in ENTITIES:
            entity = source_entities.BY_TABLE[f"service__{name}"]
            got = service.extract(url, "tok", entity, None, until, page_size=100)
            assert len(got.source_refs) > 1  # paged
            batch = new_batch_id(entity, START)
            result = land(conn, entity, got, batch_id=batch, run_id="svc",
                          as_of_date=START, watermark_before=None)
            assert result.reconciles
            assert result.rows_extracted == (result.rows_loaded + result.rows_unchanged
                                             + result.rows_quarantined)
            # the landed rows pass the blocking suite; the dirty ones never reached raw
            checked = gate.validate_batch(conn, entity, batch, "svc")
            assert checked.success_blocking, checked.blocking_failures
            results[name] = result

            # nothing lost: every generated key is in raw or in quarantine
            frame = data.service[name]
            raw_keys = {k for (k,) in conn.execute(
                f"select {entity.key} from {entity.qualified}")}
            q_keys = {int(k) for (k,) in conn.execute(
                f"select payload->>'{entity.key}' from quarantine.rows where batch_id = %s",
                (batch,))}
            assert raw_keys | q_keys == set(frame[entity.key])
            assert len(raw_keys) == conn.execute(
                f"select count(*) from {entity.qualified}").fetchone()[0]

        reasons = dict(conn.execute(
            """select entity, string_agg(distinct reason, ' | ') from quarantine.rows
               group by entity""").fetchall())
        orphans = conn.execute(
            "select count(*) from raw.service__interactions where ticket_id > %s",
            (int(data.service["tickets"]["ticket_id"].max()),)).fetchone()[0]

    # the generator's dirt arrives and is caught with readable reasons
    for name in ("interactions", "follow_ups", "surveys"):
        assert "duplicate of another row in the same batch" in reasons[name], reasons
        assert results[name].rows_quarantined > 0
    assert "missing perceived_score" in reasons["surveys"]
    missing = int(data.service["surveys"]["perceived_score"].isna().sum())
    assert missing > 0
    # orphan interactions are valid rows: they land, and staging's relationship test warns
    want_orphans = (~data.service["interactions"].drop_duplicates()["ticket_id"]
                    .isin(data.service["tickets"]["ticket_id"])).sum()
    assert orphans == want_orphans > 0

    # staging: dbt builds and tests the service models (unit test included) on what landed
    as_of = START + timedelta(days=DAYS)  # every landed version in scope
    done = _dbt(scratch, tmp_path, "build", "--select", "staging.service",
                "--vars", f"{{as_of_date: '{as_of}'}}")
    assert done.returncode == 0, done.stdout[-4000:]
    assert "unit_test" in done.stdout or "test_stg_service__surveys" in done.stdout
    assert "WARN" in done.stdout  # the orphan interactions are reported
    with database.connect(scratch) as conn:
        cur = conn.execute(
            """select survey_id, survey_type, satisfaction_c, satisfaction_class, nps_class,
                      nps_points, respondent_email_normalised
               from staging.stg_service__surveys""")
        got = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])
        counts = dict(conn.execute(
            """select 'interactions', count(*) from staging.stg_service__interactions
               union all select 'follow_ups', count(*) from staging.stg_service__follow_ups
               union all select 'surveys', count(*) from staging.stg_service__surveys"""
        ).fetchall())
    for name in ("interactions", "follow_ups", "surveys"):
        frame = data.service[name].drop_duplicates()
        if name == "surveys":
            frame = frame.dropna(subset=["perceived_score"])
        assert counts[name] == len(frame), name

    want = data.service["surveys"].dropna(subset=["perceived_score"]).drop_duplicates()
    want = want.set_index("survey_id")
    got = got.set_index("survey_id").loc[want.index]
    c = want["perceived_score"] / want["expected_score"]
    expected_class = np.select([c > 1, c == 1], ["exceeded", "acceptable"], "dissatisfied")
    assert (got["satisfaction_class"].to_numpy() == expected_class).all()
    assert np.allclose(got["satisfaction_c"].astype(float), c.round(4), atol=1e-4)
    r = want["recommend_score"]
    expected_nps = np.select([r >= 9, r >= 7], ["promoter", "passive"], "detractor")
    assert (got["nps_class"].to_numpy() == expected_nps).all()
    assert set(got["satisfaction_class"]) == {"exceeded", "acceptable", "dissatisfied"}
    assert set(got["nps_class"]) == {"promoter", "passive", "detractor"}
    nps = got["nps_points"].astype(float).mean()
    assert nps == pytest.approx(100 * ((r >= 9).mean() - (r <= 6).mean()))
    assert set(got["survey_type"]) == {"transactional", "relationship"}
    emails = want["respondent_email"].dropna().str.strip().str.lower()
    assert (got.loc[emails.index, "respondent_email_normalised"] == emails).all()
