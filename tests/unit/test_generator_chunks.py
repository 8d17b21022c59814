"""The generator in chunks: the sources written chunk by chunk are the ones its rows give at
once, and a chunked population holds together (ids, references, dirt, ground truth). (The
sales database written chunk by chunk: tests/integration/test_generator.py.)"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from crmwh_devkit.simulators import billing_drops, chunks, fill, ground_truth, service_api
from crmwh_devkit.simulators.generator import generate, generate_chunks
from crmwh_devkit.simulators.population import GeneratorConfig

CONFIG = GeneratorConfig(seed=13, customers=700, start=date(2026, 1, 1), days=30,
                         chunk_customers=250, dirt_rate=0.1)


@pytest.fixture(scope="module")
def parts():
    return list(generate_chunks(CONFIG))


def _billing(folder, parts) -> tuple[str, dict]:
    with billing_drops.Writer(folder, CONFIG.start, CONFIG.days, CONFIG.seed,
                              CONFIG.late_file_rate, CONFIG.redelivery_rate,
                              malformed_rate=0.01) as writer:
        for part in parts:
            writer.append(part.billing)
        counts = writer.finish()
    return fill.files_digest(folder), counts


def _service(folder, parts) -> tuple[str, dict]:
    with service_api.Writer(folder) as writer:
        for part in parts:
            writer.append(part.service)
        counts = writer.finish()
    return fill.files_digest(folder), counts


def _truth(folder, parts) -> tuple[str, None]:
    with ground_truth.Writer(folder) as writer:
        for part in parts:
            writer.append(part.truth)
        writer.finish()
    return fill.files_digest(folder), None


def test_sources_written_chunk_by_chunk_are_those_of_all_rows_at_once(tmp_path, parts):
    assert [len(p.sales["customers"]) for p in parts] == [250, 250, 200]
    whole = chunks.concat(parts)
    written = {}
    for write in (_billing, _service, _truth):
        written[write] = write(tmp_path / f"{write.__name__}_chunked", parts)
        assert written[write] == write(tmp_path / f"{write.__name__}_whole", [whole])
    # every chunk's rows are in: the drops hold every account changed in the window ...
    end = pd.Timestamp(CONFIG.start) + pd.Timedelta(days=CONFIG.days)
    assert written[_billing][1]["accounts"] == (whole.billing["accounts"]["updated_at"]
                                                < end).sum()
    # ... and the store every ticket, in the order the server pages in
    assert written[_service][1]["tickets"] == len(whole.service["tickets"])
    store = pd.read_json(tmp_path / "_service_chunked" / "tickets.jsonl", lines=True)
    assert store.set_index(["updated_at", "ticket_id"]).index.is_monotonic_increasing
    assert set(store["ticket_id"]) == set(whole.service["tickets"]["ticket_id"])


def test_one_chunk_is_the_whole_population():
    config = GeneratorConfig(seed=13, customers=300, days=30)
    (only,) = generate_chunks(config)
    again = generate(config)
    for source in ("sales", "billing", "service", "truth"):
        for name, frame in getattr(only, source).items():
            pd.testing.assert_frame_equal(frame, getattr(again, source)[name])


def test_a_chunked_population_holds_together(parts):
    data = chunks.concat(parts)
    sales, billing, service = data.sales, data.billing, data.service
    assert sales["customers"]["customer_id"].tolist() == list(range(1, CONFIG.customers + 1))
    assert len(sales["sales_reps"]) == CONFIG.customers // 60 and len(sales["products"]) == 40
    for frame, key in ((sales["orders"], "order_id"), (sales["order_lines"], "order_line_id"),
                       (sales["contacts"], "contact_id"), (sales["shipments"], "shipment_id"),
                       (sales["opportunities"], "opportunity_id"),
                       (service["tickets"], "ticket_id"),
                       (billing["credit_notes"], "credit_note_id"),
                       (service["interactions"].drop_duplicates(), "interaction_id"),
                       (service["surveys"].drop_duplicates(), "survey_id")):
        assert frame[key].is_unique, key
    # references into other chunks resolve; the dirt's made-up ones still point at nothing
    assert sales["order_lines"]["order_id"].isin(sales["orders"]["order_id"]).all()
    assert sales["orders"]["customer_id"].isin(sales["customers"]["customer_id"]).all()
    assert billing["invoices"]["account_id"].isin(billing["accounts"]["account_id"]).all()
    orphans = ~service["interactions"]["ticket_id"].isin(service["tickets"]["ticket_id"])
    assert 0 < orphans.sum() < 0.2 * len(orphans)
    unknown = ~billing["credit_notes"]["invoice_id"].isin(billing["invoices"]["invoice_id"])
    assert unknown.sum() > 0 and not billing["credit_notes"]["invoice_id"][unknown].str.slice(
        4).astype(int).isin(sales["orders"]["order_id"]).any()
    for k in range(1, len(parts)):  # later chunks number on past every id and dirt before
        earlier, part = chunks.concat(parts[:k]), parts[k]
        assert part.service["tickets"]["ticket_id"].min() > \
            earlier.service["interactions"]["ticket_id"].max()
    # the ground truth covers every chunk
    truth = data.truth
    assert set(truth["identity"]["billing_account_id"]) == set(billing["accounts"]["account_id"])
    assert truth["service_tickets"]["ticket_id"].tolist() == \
        service["tickets"]["ticket_id"].tolist()
    assert set(truth["service_surveys"]["survey_id"]) == set(service["surveys"]["survey_id"])


def test_chunks_are_drawn_afresh_and_deterministically(parts):
    again = list(generate_chunks(CONFIG))
    for a, b in zip(parts, again, strict=True):
        pd.testing.assert_frame_equal(a.sales["orders"], b.sales["orders"])
    # each chunk has streams of its own: no two chunks repeat each other's draws
    gaps = [p.sales["orders"]["ordered_at"].diff().dropna().to_numpy()[:50] for p in parts]
    assert not (gaps[0] == gaps[1]).all() and not (gaps[1] == gaps[2]).all()
