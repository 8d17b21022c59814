"""Passwords and tokens: generated once per home for the embedded warehouse, read from the
environment for any other.

The embedded server's superuser, each warehouse role, Airflow's metadata role and the
service-desk token get a random secret the first time a home is used, kept in
``$CRM_HOME/credentials.json`` (mode 0600; the home itself is 0700). An environment variable
(:data:`ENV`) wins over the generated value, so an operator may choose a password before the
first start. On a managed warehouse (``CRM_WAREHOUSE_DSN`` set) a role's password comes from
its variable only, and asking for a missing one is a one-line error.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import tempfile
from pathlib import Path

from crmwh.errors import CrmwhError

FILE_NAME = "credentials.json"
ADMIN, AIRFLOW, SERVICE_TOKEN = "admin", "airflow", "service_token"
# what each secret is read from when set; the embedded superuser and Airflow's embedded
# metadata role have no variable (their whole DSN is the setting elsewhere)
ENV = {
    "bi_reader": "CRM_BI_READER_PASSWORD",
    "analyst": "CRM_ANALYST_PASSWORD",
    "crm_pipeline": "CRM_PIPELINE_PASSWORD",
    SERVICE_TOKEN: "CRM_SERVICE_TOKEN",
}
NAMES = (ADMIN, AIRFLOW, *ENV)


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (and its parents) for its owner only; return it. The one exception
    kept: a group allowed to pass through (the embedded server's own group, run as root)."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        mode = stat.S_IMODE(folder.stat().st_mode)
        # read and write go; pass-through (x) stays: the embedded server, run as its own
        # account, reaches its data folder through here, and loses it if this is taken away
        if mode & 0o066:
            folder.chmod(mode & ~0o066)
    except OSError as exc:
        raise CrmwhError(f"cannot create the data folder {folder}: {exc.strerror}",
                         "set CRM_HOME to a writable folder") from None
    return folder


def private_file(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` readable by its owner only, replacing it in one rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def _new_secret() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: goes into DSNs as is


def generated(home: Path) -> dict[str, str]:
    """The home's generated secrets, created (0600) the first time; a secret added in a later
    version is added to an existing file. Concurrent first calls agree: the first file
    linked into place wins."""
    path = private_folder(home) / FILE_NAME
    if not path.exists():
        fresh = path.with_name(f".{FILE_NAME}.{os.getpid()}")
        fresh.unlink(missing_ok=True)
        private_file(fresh, json.dumps({name: _new_secret() for name in NAMES}, indent=1))
        with contextlib.suppress(FileExistsError):
            os.link(fresh, path)
        fresh.unlink()
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CrmwhError(f"cannot read the warehouse credentials {path}: {exc}",
                         f"restore {path} (it holds the embedded server's passwords)") from None
    missing = [name for name in NAMES if not kept.get(name)]
    if missing:
        kept.update({name: _new_secret() for name in missing})
        private_file(path, json.dumps(kept, indent=1))
    path.chmod(0o600)
    return {name: kept[name] for name in NAMES}


def resolve(home: Path, embedded: bool) -> dict[str, str]:
    """Every secret known for this configuration: the environment's, then the generated
    ones. On a managed warehouse the warehouse roles' passwords come from the environment
    only; the embedded server's own secrets (its superuser, Airflow's metadata role) and the
    service token (the simulator serves the generated one) are always known."""
    given = {name: os.environ[var].strip() for name, var in ENV.items()
             if os.environ.get(var, "").strip()}
    made = generated(home)
    if not embedded:
        made = {name: made[name] for name in (ADMIN, AIRFLOW, SERVICE_TOKEN)}
    return {**made, **given}


def required(known: dict[str, str], name: str) -> str:
    """The secret ``name``; missing, one clear error naming its variable."""
    if known.get(name):
        return known[name]
    var = ENV.get(name)
    raise CrmwhError(f"no password for role {name} on this warehouse"
                     + (f": {var} is not set" if var else ""),
                     f"set {var} to the role's password" if var
                     else "use the embedded warehouse or set CRM_WAREHOUSE_DSN")
