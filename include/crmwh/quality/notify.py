"""Failure alerts: one clear message naming the check, the object and the batch.

:func:`on_task_failure` alerts a failed task (``crmwh.pipeline.on_task_failure``, the DAG's
``on_failure_callback``, calls it). It builds the message with :func:`failure_message` from
what the run recorded in ``audit.dq_results`` for that task
(a gate: the first blocking check of its source's batches that failed, with its object and
batch; dbt and the publish: dbt's tests) or, when none failed or the task checks nothing (an
extraction, a dbt model error), from the task's exception; then :func:`send_alert`
appends it to ``$CRM_HOME/alerts.log``, logs it, and posts it to the webhook
(``CRM_ALERT_WEBHOOK_URL``, JSON ``{"text": ..., ...}``, Slack/Teams style) and e-mails
it (``CRM_ALERT_EMAIL_TO`` via ``CRM_SMTP_HOST``/``CRM_SMTP_PORT``) when configured.
Sending never raises: a broken alert channel must not hide the failure itself.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from crmwh import as_of, database, settings

log = logging.getLogger(__name__)
TIMEOUT_S = 10


@dataclass(frozen=True)
class Alert:
    text: str
    dag_run: str
    task: str
    as_of_date: str | None
    check: str | None = None
    object: str | None = None
    batch: str | None = None
    observed: str | None = None


def _scope(task_id: str) -> tuple[str, tuple] | None:
    """Which recorded checks can explain a failure of ``task_id``: a gate's are its source's
    batch checks, dbt's and the publish's are dbt's tests (no batch); any other task
    (an extract, a fit, the report) failed on its own exception, whatever else failed."""
    name = task_id.rsplit(".", 1)[-1]
    if name.startswith("gate_"):
        return "source = %s and batch_id is not null", (name.removeprefix("gate_"),)
    if task_id.startswith("dbt_") or task_id == "publish_marts":
        return "batch_id is null", ()
    return None


def _first_failure(conn: Any, run_id: str, task_id: str) -> tuple | None:
    scope = _scope(task_id)
    if scope is None or conn.execute(
            "select to_regclass('audit.dq_results')").fetchone()[0] is None:
        return None
    where, params = scope
    return conn.execute(
        f"""select check_name, object_name, batch_id, observed, count(*) over ()
           from audit.dq_results
           where run_id = %s and severity = 'blocking' and status in ('fail', 'error')
             and {where}
           order by checked_at, id limit 1""", (run_id, *params)).fetchone()


def _published_as_of(conn: Any) -> str | None:
    from crmwh import publish

    published = publish.published_as_of(conn)
    return published.isoformat() if published else None


def failure_message(as_of_date: str | None, run_id: str, task_id: str,
                    exception: BaseException | None, dsn: str | None = None) -> Alert:
    """The alert for a failed task of run ``run_id`` (see module doc)."""
    first, published = None, None
    try:
        with database.connect(dsn or settings.load().warehouse_dsn, autocommit=True) as conn:
            first = _first_failure(conn, run_id, task_id)
            published = _published_as_of(conn)
    except Exception as exc:  # the warehouse may be what failed
        log.warning("alert without dq details: %s", exc)
    head = f"crm_nightly run {run_id} (as of {as_of_date}) failed in task {task_id}"
    marts = (f"marts still hold as-of {published}" if published
             else "marts were not published")
    if first is not None:
        check, obj, batch, observed, total = first
        more = f" ({total - 1} more blocking failures)" if total > 1 else ""
        where = f" in batch {batch}" if batch else ""
        text = (f"{head}: blocking check {check} failed on {obj}{where}: {observed}{more}; "
                f"{marts}. Details: audit.dq_results where run_id = '{run_id}'.")
        return Alert(text, run_id, task_id, as_of_date, check, obj, batch, observed)
    reason = " ".join(str(exception).split()) if exception else "no exception recorded"
    return Alert(f"{head}: {reason[:600]}; {marts}.", run_id, task_id, as_of_date)


def _site(url: str) -> str:
    """A webhook URL without what may be its secret: scheme and host, the rest hidden."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…" if parts.scheme else "(unparsable URL)"


def send_alert(alert: Alert, cfg: settings.Settings | None = None) -> list[str]:
    """Record and deliver the alert; returns the channels it reached."""
    cfg = cfg or settings.load()
    reached = []
    log.error("ALERT %s", alert.text)
    try:
        cfg.home.mkdir(parents=True, exist_ok=True)
        with (cfg.home / "alerts.log").open("a", encoding="utf-8") as out:
            out.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {alert.text}\n")
        reached.append("log")
    except OSError as exc:
        log.warning("could not write alerts.log: %s", exc)
    url = os.environ.get("CRM_ALERT_WEBHOOK_URL", "").strip()
    if url:
        body = json.dumps(asdict(alert)).encode("utf-8")
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read()
            reached.append("webhook")
        except Exception as exc:  # the URL may be the secret (Slack-style hooks): host only
            where = _site(url)
            log.warning("alert webhook %s failed: %s", where, str(exc).replace(url, where))
    to = os.environ.get("CRM_ALERT_EMAIL_TO", "").strip()
    if to:
        msg = EmailMessage()
        msg["Subject"] = f"[crm_nightly] {alert.task} failed ({alert.dag_run})"
        msg["From"] = os.environ.get("CRM_ALERT_EMAIL_FROM", "crm-warehouse@localhost")
        msg["To"] = to
        msg.set_content(alert.text)
        host = os.environ.get("CRM_SMTP_HOST", "127.0.0.1")
        port: int | str = os.environ.get("CRM_SMTP_PORT", "25")
        try:
            port = settings.whole_setting("CRM_SMTP_PORT", 25, 1, 65535, "a TCP port number")
            with smtplib.SMTP(host, port, timeout=TIMEOUT_S) as smtp:
                smtp.send_message(msg)
            reached.append("email")
        except Exception as exc:
            log.warning("alert e-mail to %s via %s:%s failed: %s", to, host, port, exc)
    return reached


def on_task_failure(context: dict[str, Any]) -> None:
    """Airflow ``on_failure_callback``: alert once per failed task."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "unknown"
    task_id = getattr(ti, "task_id", None) or "unknown"
    as_of_date = str(as_of.of_run(dag_run)) if dag_run is not None else context.get("ds")
    send_alert(failure_message(as_of_date, run_id, task_id, context.get("exception")))
