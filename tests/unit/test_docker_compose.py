"""Static checks of the docker compose stack (no Docker engine needed).

Parses docker-compose.yml, docker/Dockerfile and the Postgres init script and
checks that the pieces agree with each other and with the project settings:
the DSNs point at databases/roles the init script creates, the Airflow
connection the DAG reads mirrors the warehouse DSN, the service-desk URL points
at the simulator service, and the Airflow components are wired the way
Airflow 3 needs (db migrate first, execution API URL, shared JWT secret).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from crmwh.settings import WAREHOUSE_CONN_ID

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
AIRFLOW_DAEMONS = tuple(s for s in AIRFLOW_SERVICES if s != "airflow-init")
PROJECT_SERVICES = (*AIRFLOW_SERVICES, "service-api", "crm-generate")
ONE_SHOT_SERVICES = ("airflow-init", "crm-generate")
REQUIRED_SERVICES = ("postgres", *PROJECT_SERVICES)
CONN_VAR = f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}"

_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


# --------------------------------------------------------------------------- helpers


def resolve(value: object) -> str:
    """Apply compose interpolation as if no variable were set (defaults win); a required
    variable (``${NAME:?...}``) stays a placeholder ``${NAME}``: the value .env must give."""

    def sub(match: re.Match[str]) -> str:
        op = match.group("op") or ""
        if op.endswith("?"):
            return "${" + match.group("name") + "}"
        return match.group("default") if op.endswith("-") else ""

    text = str(value).replace("$$", "\0")
    return _INTERPOLATION.sub(sub, text).replace("\0", "$")


def env_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: resolve(value) for key, value in environment.items()}


def command_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return shlex.join(str(part) for part in value)
    return str(value)


def command_args(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(part) for part in value]
    return shlex.split(str(value or ""))


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            result.append((resolve(entry.get("source", "")), resolve(entry["target"])))
            continue
        parts = resolve(entry).split(":")
        if len(parts) == 1:  # anonymous volume
            result.append(("", parts[0]))
        else:
            result.append((parts[0], parts[1]))
    return result


def container_ports(service: dict) -> set[int]:
    ports = set()
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(resolve(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return command_text(test)


def flag_value(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def normalize_source(source: str) -> Path | None:
    """Host path of a bind mount source, None for a named volume."""
    if source.startswith((".", "/", "~")):
        return (ROOT / source).resolve()
    return None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile(services: dict) -> tuple[Path, str]:
    build = services["airflow-scheduler"]["build"]
    context = ROOT / build.get("context", ".")
    path = context / build.get("dockerfile", "Dockerfile")
    return path, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def postgres_init(services: dict) -> dict[str, dict]:
    """Roles (with password) and databases (with owner) the init scripts create."""
    scripts: list[Path] = []
    for source, target in mounts(services["postgres"]):
        if not target.startswith("/docker-entrypoint-initdb.d"):
            continue
        host = normalize_source(source)
        assert host is not None and host.exists(), f"init script mount {source} is missing"
        scripts.extend(sorted(host.glob("*")) if host.is_dir() else [host])
    assert scripts, "postgres mounts no script into /docker-entrypoint-initdb.d"
    sql = "\n".join(p.read_text(encoding="utf-8") for p in scripts)
    # psql variables set from the container's environment: -v name="$VARIABLE"
    given = {m.group(1): "${" + m.group(2) + "}"
             for m in re.finditer(r"-v\s+(\w+)=\"\$(\w+)\"", sql)}
    sql = re.sub(r"(?m)^\s*(--|#)[^\n]*", "", sql)
    roles = {
        m.group(1): m.group(2) if m.group(2) is not None else given[m.group(3)]
        for m in re.finditer(
            r"CREATE\s+(?:ROLE|USER)\s+\"?(\w+)\"?[^;]*?\bPASSWORD\s+(?:'([^']*)'|:'(\w+)')",
            sql, re.I)
    }
    databases = {
        m.group(1): m.group(2)
        for m in re.finditer(r"CREATE\s+DATABASE\s+\"?(\w+)\"?\s+OWNER\s+\"?(\w+)\"?", sql, re.I)
    }
    postgres_env = env_of(services["postgres"])
    for placeholder in given.values():  # the init script's variables reach its container
        assert placeholder[2:-1] in postgres_env, f"postgres lacks {placeholder}"
    superuser = postgres_env.get("POSTGRES_USER", "postgres")
    roles.setdefault(superuser, postgres_env.get("POSTGRES_PASSWORD", ""))
    databases.setdefault(postgres_env.get("POSTGRES_DB", superuser), superuser)
    return {"roles": roles, "databases": databases}


# --------------------------------------------------------------------------- structure


def test_required_services_exist(services: dict) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"missing services: {missing}"


def test_shared_airflow_config_is_an_anchor(compose: dict) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "x-airflow-common" in compose
    assert re.search(r"^x-airflow-common:\s*&airflow-common\b", text, re.M)
    for name in AIRFLOW_SERVICES:
        assert re.search(rf"^  {re.escape(name)}:\n    <<: \*airflow-common\b", text, re.M), name


def test_long_running_services_have_healthchecks(services: dict) -> None:
    for name, service in services.items():
        if name in ONE_SHOT_SERVICES:
            continue
        check = service.get("healthcheck") or {}
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        test = check.get("test")
        assert test, f"{name} runs continuously but has no healthcheck"
        assert command_args(test)[0] in ("CMD", "CMD-SHELL"), f"{name}: {test}"


def test_healthchecks_probe_the_right_thing(services: dict) -> None:
    assert "pg_isready" in healthcheck_text(services["postgres"])

    api = healthcheck_text(services["airflow-apiserver"])
    assert re.search(r"http://localhost:8080/api/v2/(version|monitor/health)", api), api

    scheduler = healthcheck_text(services["airflow-scheduler"])
    if "8974" in scheduler:
        # The scheduler only serves /health when the health check server is enabled.
        env = env_of(services["airflow-scheduler"])
        assert env.get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", "").lower() == "true"
    else:
        assert "jobs check" in scheduler and "SchedulerJob" in scheduler, scheduler

    for name, job in (
        ("airflow-dag-processor", "DagProcessorJob"),
        ("airflow-triggerer", "TriggererJob"),
    ):
        text = healthcheck_text(services[name])
        assert "jobs check" in text and f"--job-type {job}" in text, text
        assert "--local" in text or "--hostname" in text, text

    port = flag_value(command_args(services["service-api"]["command"]), "--port")
    service_check = healthcheck_text(services["service-api"])
    assert f"http://localhost:{port}/health" in service_check, service_check


def test_named_volumes_are_declared(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source, _target in mounts(service):
            host = normalize_source(source) if source else None
            if source and host is None:
                assert source in declared, f"{name} uses undeclared volume {source}"
            elif host is not None and host.is_relative_to(ROOT / "docker"):
                # A missing file would be bind-mounted as an empty directory.
                assert host.exists(), f"{name}: {source} does not exist"
    target = dict((t, s) for s, t in mounts(services["postgres"]))
    assert target.get("/var/lib/postgresql/data") in declared, "postgres data is not a volume"


# --------------------------------------------------------------------------- image


def test_airflow_image_is_built_from_official_3_3(services: dict, dockerfile) -> None:
    path, text = dockerfile
    for name in PROJECT_SERVICES:
        build = services[name].get("build")
        assert build, f"{name} does not build the project image"
        assert (ROOT / build.get("context", ".") / build["dockerfile"]).resolve() == path.resolve()

    froms = re.findall(r"^\s*FROM\s+(\S+)", text, re.M | re.I)
    assert froms, "no FROM line"
    match = re.fullmatch(
        r"(?:docker\.io/)?apache/airflow:(3\.3\.\d+)(?:-python(3\.\d+))?", froms[-1]
    )
    assert match, f"final stage is not apache/airflow 3.3.x: {froms[-1]}"
    image_version, image_python = match.groups()

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    pins = [d for d in project["dependencies"] if re.match(r"apache-airflow\s*==", d)]
    assert pins, "pyproject.toml does not pin apache-airflow"
    assert pins[0].split("==")[1].strip() == image_version, "image and pyproject airflow differ"
    assert image_python, "pin the Python version of the base image"
    assert image_python in project["requires-python"], "image Python outside requires-python"


def test_dockerfile_installs_the_project_editable_at_the_mounted_root(
    services: dict, dockerfile
) -> None:
    _path, text = dockerfile
    joined = re.sub(r"\\\n", " ", text)
    copy = re.search(r"^\s*COPY\b[^\n]*\bpyproject\.toml\b[^\n]*?\s(\S+)\s*$", joined, re.M)
    assert copy, "Dockerfile does not COPY pyproject.toml"
    root = copy.group(1).rstrip("/")
    assert re.search(r"^\s*COPY\b[^\n]*\buv\.lock\b", joined, re.M), "uv.lock not copied"
    assert re.search(r"\buv\b[^\n]*\bexport\b[^\n]*--frozen", joined), "deps not from uv.lock"
    # settings.PROJECT_ROOT is derived from crmwh's own file: it must be imported from
    # <root>/include, i.e. installed editable, so dags/dbt_project/expectations resolve.
    editable = re.search(rf"pip install[^\n]*(?:-e|--editable)\s+{re.escape(root)}/?(\s|$)", joined)
    assert editable or re.search(r"pip install[^\n]*(?:-e|--editable)\s+\.(\s|$)", joined)
    for folder in ("include", "dbt_project", "expectations"):
        assert re.search(rf"^\s*COPY\b[^\n]*\s{folder}/?\s+{re.escape(root)}/", joined, re.M), (
            folder
        )

    for name in AIRFLOW_SERVICES:
        targets = {normalize_source(s): t for s, t in mounts(services[name]) if s}
        for folder in ("dags", "include", "dbt_project", "expectations"):
            assert targets.get(ROOT / folder) == f"{root}/{folder}", f"{name}: ./{folder} mount"


# --------------------------------------------------------------------------- airflow wiring


def test_local_executor_everywhere(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = env_of(services[name])
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "LocalExecutor", name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
    assert "airflow-worker" not in services and "redis" not in services


def test_init_migrates_and_everything_waits_for_it(services: dict) -> None:
    init = services["airflow-init"]
    text = f"{command_text(init.get('entrypoint'))} {command_text(init.get('command'))}"
    via_entrypoint = env_of(init).get("_AIRFLOW_DB_MIGRATE", "").lower() == "true"
    assert re.search(r"\bdb\s+migrate\b", text) or via_entrypoint, text
    assert depends_on(init).get("postgres") == "service_healthy"
    for name in AIRFLOW_DAEMONS:
        deps = depends_on(services[name])
        assert deps.get("airflow-init") == "service_completed_successfully", name
        assert deps.get("postgres") == "service_healthy", name


def test_daemons_run_their_component(services: dict) -> None:
    expected = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
    }
    for name, component in expected.items():
        args = command_args(services[name].get("command"))
        assert args and args[-1] == component or args == ["airflow", component], (name, args)


def test_api_server_binds_a_port_and_is_the_execution_api(services: dict) -> None:
    api = services["airflow-apiserver"]
    ports = container_ports(api)
    api_port = int(env_of(api).get("AIRFLOW__API__PORT", 8080))
    assert api_port in ports, f"api-server port {api_port} not published: {api.get('ports')}"
    for name in AIRFLOW_SERVICES:
        env = env_of(services[name])
        url = urlsplit(env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", ""))
        assert url.hostname == "airflow-apiserver", name
        assert (url.port or 80) == api_port, name
        assert url.path.rstrip("/") == "/execution", name


def test_airflow_components_share_secrets_and_auth(services: dict) -> None:
    envs = [env_of(services[name]) for name in AIRFLOW_SERVICES]
    secrets = {env.get("AIRFLOW__API_AUTH__JWT_SECRET") for env in envs}
    assert len(secrets) == 1 and None not in secrets and "" not in secrets, secrets
    for env in envs:
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
        assert "admin:admin" in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")
        assert env.get("DO_NOT_TRACK") == "1"
        assert env.get("AIRFLOW__COSMOS__CACHE_DIR") == "/tmp/cosmos"


def test_scheduler_preloads_what_crmwh_scheduler_preloads(services: dict) -> None:
    from crmwh import scheduler

    env = env_of(services["airflow-scheduler"])
    assert env.get("AIRFLOW__SCHEDULER__MP_START_METHOD") == "forkserver"
    assert env.get("AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD", "").split(",") == list(
        scheduler.PRELOAD)


def test_dags_mount_targets_the_dags_folder(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        service = services[name]
        dags_folder = env_of(service).get("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
        targets = {normalize_source(s): t for s, t in mounts(service) if s}
        assert targets.get(ROOT / "dags") == dags_folder, f"{name}: ./dags not at {dags_folder}"


# --------------------------------------------------------------------------- project settings


def test_warehouse_connection_mirrors_the_dsn(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        env = env_of(services[name])
        assert CONN_VAR in env, f"{name}: {CONN_VAR} not set (DAG uses {WAREHOUSE_CONN_ID!r})"
        assert env.get("CRM_WAREHOUSE_DSN"), f"{name}: CRM_WAREHOUSE_DSN not set"
        assert env[CONN_VAR] == env["CRM_WAREHOUSE_DSN"], name


@pytest.mark.parametrize(
    ("variable", "services_to_check"),
    [
        ("CRM_WAREHOUSE_DSN", AIRFLOW_SERVICES),
        (CONN_VAR, AIRFLOW_SERVICES),
        ("CRM_SALES_DSN", (*AIRFLOW_SERVICES, "crm-generate")),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", AIRFLOW_SERVICES),
    ],
)
def test_dsns_match_the_postgres_init(
    services: dict, postgres_init: dict, variable: str, services_to_check: tuple[str, ...]
) -> None:
    values = {env_of(services[name]).get(variable) for name in services_to_check}
    assert len(values) == 1 and None not in values, f"{variable} differs: {values}"
    url = urlsplit(values.pop())
    assert url.scheme.startswith("postgresql"), url.scheme
    assert url.hostname in services and "postgres" in services[url.hostname].get("image", "")
    assert (url.port or 5432) == 5432
    database = url.path.lstrip("/")
    roles, databases = postgres_init["roles"], postgres_init["databases"]
    assert url.username in roles, f"{variable}: role {url.username} is not created"
    assert roles[url.username] == url.password, f"{variable}: password of {url.username}"
    assert database in databases, f"{variable}: database {database} is not created"
    assert databases[database] == url.username, f"{variable}: {database} not owned by user"


def test_init_creates_the_expected_databases(postgres_init: dict) -> None:
    assert postgres_init["databases"].get("crm") == "crm"
    assert postgres_init["databases"].get("crm_sales") == "crm"
    assert postgres_init["databases"].get("airflow") == "airflow"
    assert postgres_init["roles"].get("crm") == "${CRM_DB_PASSWORD}"
    assert postgres_init["roles"].get("airflow") == "${AIRFLOW_DB_PASSWORD}"


def test_no_password_secret_or_token_has_a_default(services: dict) -> None:
    """Every secret is a variable .env must set: compose refuses to start without it."""
    required = re.compile(r"\$\{\w+\}")
    for name, service in services.items():
        for key, value in env_of(service).items():
            if value.startswith("postgresql"):  # a DSN: its password
                value, key = urlsplit(value).password or "", f"{key} (password)"
            elif not re.search(r"PASSWORD|SECRET|TOKEN", key) or key.endswith("_FILE"):
                continue
            assert required.fullmatch(value), f"{name}: {key} is {value!r}, not required"


def test_postgres_healthcheck_waits_for_init(services: dict) -> None:
    # Over TCP: during first start the init scripts run on a socket-only server.
    args = command_args(services["postgres"]["healthcheck"]["test"])
    assert flag_value(args, "-h") in ("127.0.0.1", "localhost"), args
    assert re.fullmatch(r"postgres:1[67](\.\d+)?(-\w+)?", services["postgres"]["image"])


def test_service_url_points_at_the_service_api(services: dict) -> None:
    api = services["service-api"]
    args = command_args(api["command"])
    assert args == ["crmwh", "service-api", "serve", "--host", "0.0.0.0", "--port", "8765"], args
    # The Airflow image entrypoint would turn the command into `airflow crmwh ...`.
    assert "crmwh" not in command_args(api.get("entrypoint")) and api.get("entrypoint")
    port = int(flag_value(args, "--port"))
    exposed = {int(str(p).split("/")[0]) for p in api.get("expose") or []} | container_ports(api)
    assert port in exposed, f"service-api does not expose {port}"

    token = env_of(api).get("CRM_SERVICE_TOKEN")
    assert token, "service-api has no CRM_SERVICE_TOKEN"
    for name in (*AIRFLOW_SERVICES, "crm-generate"):
        env = env_of(services[name])
        url = urlsplit(env.get("CRM_SERVICE_URL", ""))
        assert url.hostname == "service-api", f"{name}: {env.get('CRM_SERVICE_URL')}"
        assert url.port == port, name
        assert env.get("CRM_SERVICE_TOKEN") == token, f"{name}: token differs from service-api"


def test_crm_home_is_one_shared_volume(compose: dict, services: dict) -> None:
    homes = set()
    for name in PROJECT_SERVICES:
        env = env_of(services[name])
        home = env.get("CRM_HOME")
        assert home, f"{name}: CRM_HOME not set"
        homes.add(home)
        by_target = {t: s for s, t in mounts(services[name])}
        assert by_target.get(home) == "crm-data", f"{name}: crm-data not mounted at {home}"
        billing = env.get("CRM_BILLING_DIR", "")
        assert billing.startswith(home.rstrip("/") + "/"), f"{name}: billing dir off the volume"
    assert len(homes) == 1
    assert "crm-data" in (compose.get("volumes") or {})


def test_generate_is_an_optional_one_shot(services: dict) -> None:
    generate = services["crm-generate"]
    assert "tools" in (generate.get("profiles") or [])
    assert command_args(generate["command"])[:2] == ["crmwh", "generate"]
    assert generate.get("restart", "no") == "no"
    assert depends_on(generate).get("postgres") == "service_healthy"
    for name in REQUIRED_SERVICES:
        if name != "crm-generate":
            assert not services[name].get("profiles"), f"{name} must start by default"


def test_superset_serves_the_dashboards_of_the_bundle(services: dict, postgres_init) -> None:
    """Superset 6 with the PostgreSQL driver, the bundle mounted where its start-up script
    imports it, the export's masked password replaced by bi_reader's, on the exposures' port."""
    from crmwh_devkit import superset_bundle

    superset = services["superset"]
    dockerfile = ROOT / superset["build"]["dockerfile"]
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"(?m)^FROM apache/superset:6\.\d+\.\d+$", text), "Superset 6.x"
    assert "psycopg2" in text  # the image ships no database driver
    script_path = re.search(r"(?m)^CMD \[\"([^\"]+)\"\]", text).group(1)
    copied = re.search(r"(?m)^COPY .*?(\S+) " + re.escape(script_path) + "$", text).group(1)
    script = (ROOT / copied).read_text(encoding="utf-8")
    target = dict(mounts(superset))["./bi/superset/bundle"]
    assert (ROOT / "bi/superset/bundle").resolve() == superset_bundle.BUNDLE
    assert f"cp -r {target} " in script
    fill = re.escape(f"s|{superset_bundle.PASSWORD_MASK}|") + r"\$\{?CRM_BI_READER_PASSWORD"
    assert re.search(fill, script), "the import takes bi_reader's password"
    assert "import-dashboards" in script and "exec /usr/bin/run-server.sh" in script
    env = env_of(superset)
    assert {"SUPERSET_SECRET_KEY", "SUPERSET_ADMIN_PASSWORD", "CRM_BI_READER_PASSWORD"} <= set(env)
    port = urlsplit(superset_bundle.SUPERSET_URL).port
    assert any(resolve(p).split(":")[0] == str(port) for p in superset["ports"])
    assert 8088 in container_ports(superset)
    assert depends_on(superset) == {"postgres": "service_healthy"}
    assert "/health" in healthcheck_text(superset)
    uri = urlsplit(superset_bundle.SQLALCHEMY_URI)
    assert (uri.hostname, uri.port, uri.path.lstrip("/")) == ("postgres", 5432, "crm")
    assert uri.path.lstrip("/") in postgres_init["databases"]
    assert ("superset-home", "/app/superset_home") in mounts(superset)
