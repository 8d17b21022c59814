"""The service system's interactions, follow-ups (回访) and surveys: every service entity
through the real HTTP server, the real extractor and loader into a scratch warehouse, the
quality gate, and the staging models (satisfaction C and NPS classes, DOMAIN §3) built by dbt
on the result. (The generator's behaviour: tests/unit/test_source_service.py.)
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmwh import database, source_entities
from crmwh.extract import service
from crmwh.load.batches import new_batch_id
from crmwh.load.landing import land
from crmwh.quality import gate, verdict
from crmwh_devkit.simulators import service_api
from crmwh_devkit.simulators.generator import generate
from tests.support import dbt_runner
from tests.support.databases import drop_database, fresh_database
from tests.support.demo import CONFIG, DAYS, START

ENTITIES = tuple(e.name for e in source_entities.entities_of("service"))

DIRTY = replace(CONFIG, dirt_rate=0.03)  # the demo data, dirtier


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
            verdict.judge(conn, checked, entity, batch)  # passed: staging reads it
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
    as_of_date = START + timedelta(days=DAYS)  # every landed version in scope
    done = _dbt(scratch, tmp_path, "build", "--select", "staging.service",
                "--vars", f"{{as_of_date: '{as_of_date}'}}")
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
