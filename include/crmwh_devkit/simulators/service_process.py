"""Run the service-desk simulator as a background process on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

from crmwh.errors import CrmwhError
from crmwh.settings import Settings

# loading its ticket store takes seconds at the demo's size and over a minute at 1,000,000
# customers on a busy machine; the wait ends early when the process exits
START_SECONDS = 600


def _pid_file(cfg: Settings):
    return cfg.home / "service-api.pid"


def health(cfg: Settings) -> dict | None:
    """The simulator's health document, asked with this home's token (``token_ok`` says
    whether the token is right, ``pid`` whose it is); None when nothing answers, ``{}`` when
    something answers 200 without one (a service API of the user's own)."""
    request = urllib.request.Request(f"{cfg.service_url}/health",
                                     headers={"Authorization": f"Bearer {cfg.service_token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as r:
            if r.status != 200:
                return None
            body = r.read()
    except OSError:
        return None
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _refuse_a_stranger(cfg: Settings, found: dict) -> None:
    """A simulator left running by another home answers on the port but refuses this home's
    token: say so before the night fails on it."""
    if found.get("token_ok") is False:
        pid = found.get("pid", "<pid>")
        raise CrmwhError(f"a service API simulator of another home answers at {cfg.service_url} "
                         f"(pid {pid}) and refuses this home's token",
                         f"stop it (kill {pid}) or point CRM_SERVICE_URL at a free port")


def is_local_simulator(cfg: Settings) -> bool:
    host = urlsplit(cfg.service_url).hostname
    return host in ("127.0.0.1", "localhost")


def start(cfg: Settings, fail_every: int = 50, rate: float = 200.0) -> str:
    """Start the simulator for ``CRM_SERVICE_URL`` unless this home's already answers."""
    found = health(cfg)
    if found is not None:
        if is_local_simulator(cfg):
            _refuse_a_stranger(cfg, found)
        return cfg.service_url
    if not is_local_simulator(cfg):
        raise CrmwhError(f"the service API at {cfg.service_url} does not answer",
                         "check CRM_SERVICE_URL, or unset it to use the local simulator")
    port = urlsplit(cfg.service_url).port or 80
    cfg.home.mkdir(parents=True, exist_ok=True)
    log = open(cfg.home / "service-api.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmwh.cli", "service-api", "serve", "--port", str(port),
         "--fail-every", str(fail_every), "--rate", str(rate)],
        stdout=log, stderr=log, start_new_session=True, env=os.environ.copy(),
    )
    _pid_file(cfg).write_text(str(proc.pid))
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CrmwhError(f"the service API simulator exited at start (port {port} in use?)",
                             f"see {cfg.home / 'service-api.log'}")
        if health(cfg) is not None:
            return cfg.service_url
        time.sleep(0.2)
    raise CrmwhError(f"the service API simulator did not answer within {START_SECONDS} s",
                     f"see {cfg.home / 'service-api.log'}")


def stop(cfg: Settings) -> bool:
    pid_file = _pid_file(cfg)
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        stopped = True
    except (ProcessLookupError, ValueError):
        stopped = False
    pid_file.unlink(missing_ok=True)
    return stopped
