"""Further service entities for the generator (see
:class:`~crmwh_devkit.simulators.population.Population`).

Built on the tickets the generator already made (``pop.frames["service.tickets"]``):

* **interactions** — 1–6 per ticket: the inbound contact that opened it (at ``created_at``),
  the first outbound reply (at ``first_response_at``), then further replies and customer
  chasers up to ``resolved_at`` (or the end of the window while the ticket is open). The
  ticket's agent handles most of them.
* **follow_ups** (回访, DOMAIN §6) — a call 1–7 days after resolution for most complaints and
  some other tickets, if the call falls inside the window. Customers close to their dropout
  (``pop.dropout_at``) more often have the ticket reopened.
* **surveys** — after a share of resolved tickets (transactional) plus monthly relationship
  survey waves. Perceived and expected quality on 1–10, recommend-intent 0–10 (DOMAIN §3).
  Satisfaction falls in the months before a customer's dropout. The respondent's e-mail and
  phone are written in other formats than the sales system's, or left out.

Dirt at ``pop.config.dirt_rate`` per kind: interactions pointing at a ticket that does not
exist, surveys without a perceived score, and exact duplicate rows in all three entities.
Everything is vectorised and drawn only from the ``rng`` handed in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crmwh_devkit.simulators.population import (
    AGENTS,
    DAY,
    SEC,
    TICKET_CHANNELS,
    Population,
    email_variants,
    phone_variants,
)

MAX_INTERACTIONS = 6
FOLLOW_UP_OUTCOMES = np.array(["reached", "no_answer", "resolved_confirmed", "reopened"])
# outcome probabilities, in FOLLOW_UP_OUTCOMES order
FOLLOW_UP_P = np.array([0.35, 0.20, 0.41, 0.04])
FOLLOW_UP_P_NEAR_DROPOUT = np.array([0.25, 0.25, 0.22, 0.28])
NEAR_DROPOUT_DAYS = 60
SURVEY_WAVE_EVERY_DAYS = 30
SURVEY_WAVE_RESPONSE = 0.15
SURVEY_HISTORY_DAYS = 365  # relationship waves also cover the year of ticket history
SATISFACTION_DECLINE_DAYS = 120  # satisfaction falls over this many days before dropout
SATISFACTION_DECLINE = 2.6  # points of perceived quality lost at dropout


def _ticket_customers(pop: Population, tickets: pd.DataFrame) -> np.ndarray:
    """Customer index per ticket, recovered from the requester e-mail (trimmed, lower-cased)."""
    wanted = tickets["requester_email"].astype(str).str.strip().str.lower()
    idx = pd.Index(pop.email.astype(str)).get_indexer(wanted)
    if (idx < 0).any():
        raise ValueError("service.tickets has requesters that are not customers")
    return idx


def _pick(rng: np.random.Generator, size: int, rate: float) -> np.ndarray:
    return np.nonzero(rng.random(size) < rate)[0]


def _duplicate(rng: np.random.Generator, frame: pd.DataFrame, rate: float) -> pd.DataFrame:
    """Exact duplicates: the API serves some rows twice."""
    if rate <= 0 or frame.empty:
        return frame
    dup = frame.iloc[_pick(rng, len(frame), rate)]
    return pd.concat([frame, dup]).sort_index(kind="stable").reset_index(drop=True)


def _scores(rng: np.random.Generator, mean: np.ndarray, integer_share: float,
            low: float, high: float) -> np.ndarray:
    """Clip to [low, high]; some respondents answer in whole numbers, others to one decimal."""
    x = np.clip(mean, low, high)
    whole = rng.random(x.size) < integer_share
    return np.where(whole, np.round(x), np.round(x, 1))


def _interactions(pop: Population, rng: np.random.Generator, t: dict) -> pd.DataFrame:
    tn = t["id"].size
    lam = 0.9 + 1.1 * (t["type"] == "complaint") + 0.6 * (t["type"] == "repair")
    k = np.minimum(1 + rng.poisson(lam), MAX_INTERACTIONS)
    ti = np.repeat(np.arange(tn), k)
    m = ti.size
    seq = np.arange(m) - np.repeat(np.cumsum(k) - k, k)
    known_fr = t["known_fr"][ti]
    # later interactions at sorted uniform offsets inside the ticket's remaining lifetime
    u = np.sort(rng.random(m) + ti)  # sorted within each ticket; floor is the ticket index
    u -= ti
    lo = np.where(known_fr, t["first_response"][ti], t["created"][ti])
    hi = t["window_end"][ti]
    span = (hi - lo) / SEC
    later = lo + (u * span).astype(np.int64) * SEC
    occurred = np.where(
        seq == 0, t["created"][ti], np.where((seq == 1) & known_fr, lo, later)
    ).astype("datetime64[s]")
    # replies go out once the agent has answered; before that only the customer chases
    outbound = np.where(
        seq == 0, False, np.where(seq == 1, known_fr, known_fr & (rng.random(m) < 0.55))
    )
    channel = np.where(
        (seq == 0) | (rng.random(m) < 0.85),
        t["channel"][ti],
        TICKET_CHANNELS[rng.integers(0, TICKET_CHANNELS.size, m)],
    )
    agent = np.where(rng.random(m) < 0.85, t["agent"][ti],
                     AGENTS[rng.integers(0, AGENTS.size, m)]).astype(object)
    # written contact nobody has picked up yet has no agent
    agent[~outbound & np.isin(channel, ["email", "web"])] = None
    frame = pd.DataFrame(
        {
            "interaction_id": pop.id_base.interactions + np.arange(1, m + 1),
            "ticket_id": t["id"][ti],
            "channel": channel,
            "direction": np.where(outbound, "outbound", "inbound"),
            "occurred_at": occurred,
            "agent": agent,
            "updated_at": occurred,
        }
    )
    # dirt: extra interactions logged against tickets that do not exist
    orphans = frame.iloc[_pick(rng, m, pop.config.dirt_rate)].copy()
    orphans["interaction_id"] = pop.id_base.interactions + np.arange(m + 1, m + 1 + len(orphans))
    top = t["id"].max(initial=pop.id_base.tickets)
    orphans["ticket_id"] = top + 1 + rng.integers(0, 1_000_000, len(orphans))
    frame = pd.concat([frame, orphans], ignore_index=True)
    return _duplicate(rng, frame, pop.config.dirt_rate)


def _follow_ups(pop: Population, rng: np.random.Generator, t: dict) -> pd.DataFrame:
    tn = t["id"].size
    p = np.where(t["type"] == "complaint", 0.85, np.where(t["type"] == "repair", 0.4, 0.25))
    chosen = t["known_res"] & (rng.random(tn) < p)
    called = t["resolved"] + (86400 + (rng.random(tn) * 6 * 86400).astype(np.int64)) * SEC
    fi = np.nonzero(chosen & (called < pop.end))[0]
    called = called[fi]
    order = np.lexsort((t["id"][fi], called))
    fi, called = fi[order], called[order]
    f = fi.size
    near = (pop.dropout_at[t["cust"][fi]] - called) < NEAR_DROPOUT_DAYS * DAY
    cum = np.where(near[:, None], np.cumsum(FOLLOW_UP_P_NEAR_DROPOUT), np.cumsum(FOLLOW_UP_P))
    outcome = np.minimum((rng.random(f)[:, None] >= cum).sum(axis=1), FOLLOW_UP_OUTCOMES.size - 1)
    agent = np.where(rng.random(f) < 0.7, t["agent"][fi], AGENTS[rng.integers(0, AGENTS.size, f)])
    frame = pd.DataFrame(
        {
            "follow_up_id": pop.id_base.follow_ups + np.arange(1, f + 1),
            "ticket_id": t["id"][fi],
            "called_at": called,
            "agent": agent,
            "outcome": FOLLOW_UP_OUTCOMES[outcome],
            "updated_at": called,
        }
    )
    return _duplicate(rng, frame, pop.config.dirt_rate)


def _surveys(pop: Population, rng: np.random.Generator, t: dict
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    n, tn = pop.ids.size, t["id"].size
    # transactional: after a share of resolved tickets
    p = np.where(t["type"] == "complaint", 0.35, 0.25)
    answered_t = t["resolved"] + rng.integers(3600, 5 * 86400, tn) * SEC
    ts = np.nonzero(t["known_res"] & (rng.random(tn) < p) & (answered_t < pop.end))[0]
    # relationship: a monthly wave invites customers alive at the time; a share answers
    first_wave = pop.start - SURVEY_HISTORY_DAYS * DAY + 15 * DAY
    waves = np.arange(first_wave, pop.end, SURVEY_WAVE_EVERY_DAYS * DAY)
    rel_cust, rel_at = [], []
    for wave in waves:
        alive = (pop.alive_from <= wave) & (wave < pop.dropout_at)
        who = np.nonzero(alive & (rng.random(n) < SURVEY_WAVE_RESPONSE))[0]
        at = wave + rng.integers(0, 10 * 86400, who.size) * SEC
        keep = at < pop.end
        rel_cust.append(who[keep])
        rel_at.append(at[keep])
    rc = np.concatenate(rel_cust) if rel_cust else np.array([], np.int64)
    ra = np.concatenate(rel_at) if rel_at else np.array([], "datetime64[s]")

    cust = np.concatenate([t["cust"][ts], rc])
    answered = np.concatenate([answered_t[ts], ra]).astype("datetime64[s]")
    ticket_id = np.concatenate([t["id"][ts], np.zeros(rc.size, np.int64)])
    has_ticket = np.concatenate([np.ones(ts.size, bool), np.zeros(rc.size, bool)])
    complaint = np.concatenate([t["type"][ts] == "complaint", np.zeros(rc.size, bool)])
    order = np.lexsort((ticket_id, cust, answered))
    cust, answered, ticket_id = cust[order], answered[order], ticket_id[order]
    has_ticket, complaint = has_ticket[order], complaint[order]
    s = cust.size

    # satisfaction: a per-customer mood, falling towards the customer's dropout
    mood = rng.normal(0.5, 0.9, n)
    days_left = (pop.dropout_at[cust] - answered) / DAY
    decline = np.clip(1 - days_left / SATISFACTION_DECLINE_DAYS, 0, 1)
    expected = _scores(rng, rng.normal(7.4, 1.1, s), 0.55, 1, 10)
    perceived_mean = (expected + mood[cust] + rng.normal(0, 0.8, s)
                      - SATISFACTION_DECLINE * decline - 0.9 * complaint)
    perceived = _scores(rng, perceived_mean, 0.55, 1, 10)
    recommend = np.clip(
        np.round(perceived + 0.6 * (perceived - expected) + rng.normal(0.6, 1.2, s)), 0, 10
    ).astype(np.int64)
    perceived[_pick(rng, s, pop.config.dirt_rate)] = np.nan  # a skipped answer

    # respondent identity as the survey tool wrote it: other formats, sometimes missing
    contact = rng.random(s)
    email = email_variants(rng, pop.email[cust]).astype(object)
    phone = phone_variants(rng, pop.phone[cust]).astype(object)
    email[contact >= 0.88] = None  # phone only
    phone[(contact >= 0.70) & (contact < 0.88)] = None  # e-mail only
    ticket_ref = pd.array(ticket_id, dtype="Int64")
    ticket_ref[~has_ticket] = pd.NA  # relationship surveys belong to no ticket
    frame = pd.DataFrame(
        {
            "survey_id": pop.id_base.surveys + np.arange(1, s + 1),
            "ticket_id": ticket_ref,
            "respondent_email": email,
            "respondent_phone": phone,
            "answered_at": answered,
            "perceived_score": perceived,
            "expected_score": expected,
            "recommend_score": recommend,
            "updated_at": answered,
        }
    )
    truth = pd.DataFrame({"survey_id": frame["survey_id"], "customer_id": pop.ids[cust]})
    return _duplicate(rng, frame, pop.config.dirt_rate), truth


def generate(pop: Population, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Return the extra service entities as DataFrames keyed by entity name."""
    tickets = pop.frames["service.tickets"]
    created = tickets["created_at"].to_numpy().astype("datetime64[s]")
    first_response = tickets["first_response_at"].to_numpy().astype("datetime64[s]")
    resolved = tickets["resolved_at"].to_numpy().astype("datetime64[s]")
    known_res = ~np.isnat(resolved)
    t = {
        "id": tickets["ticket_id"].to_numpy(dtype=np.int64),
        "cust": _ticket_customers(pop, tickets),
        "type": tickets["ticket_type"].to_numpy(dtype=str),
        "channel": tickets["channel"].to_numpy(dtype=str),
        "agent": tickets["agent"].to_numpy(dtype=str),
        "created": created,
        "first_response": first_response,
        "known_fr": ~np.isnat(first_response),
        "resolved": resolved,
        "known_res": known_res,
        "window_end": np.where(known_res, resolved, pop.end).astype("datetime64[s]"),
    }
    interactions = _interactions(pop, rng, t)
    follow_ups = _follow_ups(pop, rng, t)
    surveys, survey_truth = _surveys(pop, rng, t)
    return {
        "interactions": interactions,
        "follow_ups": follow_ups,
        "surveys": surveys,
        "truth_surveys": survey_truth,  # ground truth, taken out by the generator
    }
