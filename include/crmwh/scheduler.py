"""The nightly under the real scheduler: Airflow's api-server, dag-processor, triggerer and
scheduler as background processes of one home, LocalExecutor on Postgres metadata
(:mod:`crmwh.airflow_metadata`), as ``docker-compose.yml`` runs them.

Each component runs in a session of its own: its process id in
``$CRM_HOME/scheduler/<name>.pid``, its output in ``<name>.log``; stopping it ends its whole
process group (the LocalExecutor's workers and their tasks, the dag-processor's parsers, the
api-server's workers). Airflow 3's tasks report to the api-server's execution API with tokens
signed by a secret made once per home (``$CRM_HOME/airflow/jwt_secret``, owner-only). The
components, and the tasks they run, see the settings of the shell that started them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from crmwh import airflow_env, airflow_metadata, database
from crmwh.errors import CrmwhError
from crmwh.settings import Settings

# name -> the airflow command; started in this order, stopped in the reverse one
COMPONENTS: dict[str, tuple[str, ...]] = {
    "api-server": ("api-server",),
    "dag-processor": ("dag-processor",),
    "triggerer": ("triggerer", "--skip-serve-logs"),
    "scheduler": ("scheduler", "--skip-serve-logs"),
}
# Every task is a process of its own that parses the DAG file again and imports what it runs:
# the LocalExecutor's workers come from a fork server that imported these once - what the DAG
# file imports, Great Expectations (the gates; about 15 s to import) and dbt (the dbt tasks)
PRELOAD = ("airflow.sdk", "cosmos", "cosmos.operators.local", "cosmos.operators.watcher",
           "cosmos.profiles", "crmwh.pipeline", "crmwh.quality.notify", "crmwh.as_of",
           "great_expectations", "great_expectations.checkpoint", "dbt.cli.main")
START_TIMEOUT_S = 300  # the first parse of the DAG loads cosmos and the dbt manifest
STOP_GRACE_S = 20  # then the process group is killed


def folder(cfg: Settings) -> Path:
    return cfg.home / "scheduler"


def log_path(cfg: Settings, name: str) -> Path:
    return folder(cfg) / f"{name}.log"


def api_url(cfg: Settings) -> str:
    return f"http://127.0.0.1:{cfg.airflow_api_port}"


def _jwt_secret(cfg: Settings) -> str:
    """The home's token-signing secret, made on first use and readable by its owner only."""
    path = cfg.airflow_home / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def environment(cfg: Settings) -> dict[str, str]:
    """What every component (and ``airflow dags trigger``) runs with: the project's Airflow
    environment, Postgres metadata, LocalExecutor and the api-server's address."""
    return {
        **airflow_env.environment(cfg),
        **airflow_metadata.sqlalchemy_urls(cfg.airflow_db_dsn),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(cfg.airflow_parallelism),
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(PRELOAD),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url(cfg)}/execution/",
        "AIRFLOW__API__PORT": str(cfg.airflow_api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(cfg),
        # scheduled and triggered runs go as soon as the DAG is parsed (a paused DAG's
        # triggered runs would wait in the queue)
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # one DAG file, whose parse (cosmos, the dbt manifest) costs seconds of CPU
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
    }


def migrate(cfg: Settings) -> bool:
    """``airflow db migrate`` on the metadata database, once per database and Airflow
    version; whether it ran."""
    where = hashlib.sha256(database.describe(cfg.airflow_db_dsn).encode()).hexdigest()[:12]
    marker = cfg.airflow_home / f".migrated-postgres-{where}-{version('apache-airflow-core')}"
    if marker.exists() and airflow_metadata.migrated(cfg.airflow_db_dsn):
        return False
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    log = folder(cfg) / "migrate.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if airflow_env.command(cfg, "db", "migrate", log=log, env=environment(cfg)) != 0:
        raise CrmwhError("`airflow db migrate` failed on the metadata database", f"see {log}")
    marker.touch()
    return True


def _started(pid: int) -> str | None:
    """When the process started (clock ticks after boot), None when there is none or it
    has exited: with the pid it names one process (a recycled pid has another; Airflow
    renames its processes, so their command line cannot tell)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else fields[19]


def _pid(cfg: Settings, name: str) -> int | None:
    """The component's process id when it is alive and still that process."""
    try:
        pid, started = (folder(cfg) / f"{name}.pid").read_text().split()
        alive = _started(int(pid)) == started
    except (OSError, ValueError):
        return None
    return int(pid) if alive else None


def status(cfg: Settings) -> dict[str, int | None]:
    """Each component's process id, None when it is not running."""
    return {name: _pid(cfg, name) for name in COMPONENTS}


def start(cfg: Settings, progress: Callable[[str], None] = print) -> None:
    """Start every component and wait until the api-server answers, the DAG is parsed and
    the scheduler beats; a component already running is an error unless all are."""
    running = {n for n, pid in status(cfg).items() if pid}
    if running == set(COMPONENTS):
        progress(f"already running (Airflow UI and API at {api_url(cfg)})")
        return
    if running:
        raise CrmwhError(f"only some of the scheduler's processes run: {', '.join(running)}",
                         "stop them with `crmwh scheduler stop`, then start again")
    if database.port_in_use(cfg.airflow_api_port):
        raise CrmwhError(f"port {cfg.airflow_api_port} on 127.0.0.1 is in use by another program",
                         "stop it or set CRM_AIRFLOW_API_PORT to a free port")
    airflow_metadata.ensure(cfg)
    if migrate(cfg):
        progress(f"migrated Airflow's metadata in {database.describe(cfg.airflow_db_dsn)}")
    env = environment(cfg)
    for name, args in COMPONENTS.items():
        log = log_path(cfg, name)
        with log.open("ab") as out:
            proc = subprocess.Popen([str(airflow_env.executable()), *args], env=env,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        (folder(cfg) / f"{name}.pid").write_text(f"{proc.pid} {_started(proc.pid)}")
    progress(f"started {', '.join(COMPONENTS)} (logs in {folder(cfg)}); waiting for the "
             "api-server, the DAG's parse and the scheduler's heartbeat")
    try:
        _wait_ready(cfg)
    except CrmwhError:
        stop(cfg)
        raise


def _wait_ready(cfg: Settings) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = "the api-server"
    while time.monotonic() < deadline:
        for name, pid in status(cfg).items():
            if pid is None:
                raise CrmwhError(f"the {name} exited at start: {_last_line(cfg, name)}",
                                 f"see {log_path(cfg, name)}")
        if waiting == "the api-server" and _answers(f"{api_url(cfg)}/api/v2/version"):
            waiting = "the DAG's parse"
        if waiting == "the DAG's parse":
            errors = airflow_metadata.import_errors(cfg.airflow_db_dsn)
            if errors:
                raise CrmwhError(f"the DAG failed to parse: {errors[0].strip().splitlines()[-1]}",
                                 f"see {log_path(cfg, 'dag-processor')}")
            dag = airflow_metadata.dag_status(cfg.airflow_db_dsn, airflow_env.DAG_ID)
            if dag and dag["serialized"] and not dag["stale"]:
                waiting = "the scheduler's heartbeat"
        if waiting == "the scheduler's heartbeat":
            age = airflow_metadata.scheduler_heartbeat_age(cfg.airflow_db_dsn)
            if age is not None and age < 30:
                return
        time.sleep(1)
    raise CrmwhError(f"the scheduler was not ready within {START_TIMEOUT_S} s (waiting for "
                     f"{waiting})", f"see the logs in {folder(cfg)}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _last_line(cfg: Settings, name: str) -> str:
    with contextlib.suppress(OSError):
        lines = log_path(cfg, name).read_text(errors="replace").strip().splitlines()
        if lines:
            return lines[-1][:300]
    return "no output"


def stop(cfg: Settings) -> list[str]:
    """Stop the running components (latest started first), each with its process group:
    SIGTERM, then SIGKILL after :data:`STOP_GRACE_S`. Returns the names stopped."""
    stopped = []
    for name in reversed(COMPONENTS):
        pid = _pid(cfg, name)
        if pid is not None:
            _end_group(pid)
            stopped.append(name)
        (folder(cfg) / f"{name}.pid").unlink(missing_ok=True)
    return stopped


def _end_group(pgid: int) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it when it is our child
                os.waitpid(pgid, os.WNOHANG)
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
