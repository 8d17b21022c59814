"""The mapping file: each source's own tables, files or endpoints and columns onto the contract.

Read and checked here without touching a source (:mod:`crmwh.mapping.live` checks it
against the live sources). Every mistake is one :class:`CrmwhError` naming the file,
the key path and the fix. Entities and columns the file does not list map to
themselves: a contract column is read from the source column of the same name.
"""

from __future__ import annotations

import codecs
import functools
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from crmwh.errors import CrmwhError
from crmwh.mapping import times
from crmwh.settings import Settings
from crmwh.source_entities import Column, Entity, entities_of

DEFAULT_FILE = Path(__file__).with_name("default.yml")
SOURCE_KEYS = {
    "sales": ("dsn_env", "timezone", "entities"),
    "billing": ("folder", "folder_env", "manifest", "csv", "timezone", "entities"),
    "service": ("url", "url_env", "token_env", "timezone", "entities"),
}
ENTITY_KEYS = {"sales": ("table", "timezone", "columns"),
               "billing": ("files", "csv", "timezone", "columns"),
               "service": ("endpoint", "timezone", "columns")}
WHERE = {"sales": "table", "billing": "files", "service": "endpoint"}
COLUMN_KEYS = ("column", "value", "default", "sql", "format", "timezone")
CSV_KEYS = ("delimiter", "quote", "encoding")


@dataclass(frozen=True)
class Dialect:
    """How a source's CSV files are written."""

    delimiter: str = ","
    quote: str = '"'
    encoding: str = "utf-8"

    @property
    def standard(self) -> bool:
        return self == Dialect()


@dataclass(frozen=True)
class ColumnMap:
    """Where one contract column's value comes from."""

    key: str  # its key path in the file
    column: str | None = None  # the source's column (or field)
    value: str | None = None  # a constant
    default: str | None = None  # when the source's value is missing or empty
    sql: str | None = None  # an SQL expression over the source table ``t`` (Postgres)
    format: str | None = None  # strptime format of a date or timestamp
    timezone: str | None = None  # zone of naive timestamps

    @property
    def converts(self) -> bool:
        """Whether the value is converted on its way (more than read under another name)."""
        return any(v is not None for v in (self.value, self.default, self.format, self.timezone))


@dataclass(frozen=True)
class EntityMap:
    entity: Entity
    key: str
    where: str  # sales: [schema.]table; billing: a glob of file names; service: endpoint path
    columns: dict[str, ColumnMap]  # every contract column
    dialect: Dialect = Dialect()

    @property
    def identity(self) -> bool:
        """Nothing to do on the way: same names, no conversion, standard CSV."""
        return self.dialect.standard and all(
            m.column == name and not m.converts and m.sql is None
            for name, m in self.columns.items())

    @property
    def used(self) -> set[str]:
        """The source columns a contract column is read from."""
        return {m.column for m in self.columns.values() if m.column}


@dataclass(frozen=True)
class SourceMap:
    name: str
    key: str
    file: Path
    entities: dict[str, EntityMap]
    options: dict[str, Any] = field(default_factory=dict)

    def _env(self, option: str) -> str | None:
        var = self.options.get(option)
        if var is None:
            return None
        value = os.environ.get(var, "").strip()
        if not value:
            raise CrmwhError(f"{self.file}: {self.key}.{option}: the environment variable "
                             f"{var} is not set", f"export {var} before running crmwh")
        return value

    def dsn(self, cfg: Settings) -> str:
        return self._env("dsn_env") or cfg.sales_dsn

    def folder(self, cfg: Settings) -> Path:
        named = self._env("folder_env") or self.options.get("folder")
        return (self.file.parent / Path(named).expanduser()) if named else cfg.billing_dir

    def url(self, cfg: Settings) -> str:
        return (self._env("url_env") or self.options.get("url") or cfg.service_url).rstrip("/")

    def token(self, cfg: Settings) -> str:
        return self._env("token_env") or cfg.service_token

    @property
    def manifest(self) -> bool:
        return bool(self.options.get("manifest", True))


@dataclass(frozen=True)
class Mapping:
    file: Path
    sources: tuple[str, ...]  # the sources the file lists
    by_source: dict[str, SourceMap]  # every source: the file's, else the default mapping's

    def source(self, name: str) -> SourceMap:
        return self.by_source[name]

    def entity(self, entity: Entity) -> EntityMap:
        return self.by_source[entity.source].entities[entity.name]


class _File:
    """One mapping file being read: its mistakes as errors naming it and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> CrmwhError:
        return CrmwhError(f"{self.path}: {key}: {problem}", fix)

    def table(self, value: Any, key: str, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping of keys, got {type(value).__name__}",
                            f"write {key} as keys ({', '.join(allowed)})")
        for k in value:
            if k not in allowed:
                raise self.fail(f"{key}.{k}", "unknown key", f"use one of {', '.join(allowed)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"expected a text value, got {value!r}", "give it as text")
        return str(value)


def _constant_problem(col: Column, value: str) -> str | None:
    """Why ``value`` cannot be a value of ``col`` (None: it can)."""
    readers = {"int": int, "numeric": Decimal, "date": date.fromisoformat,
               "timestamptz": datetime.fromisoformat,
               "bool": lambda v: {"true": 1, "false": 0}[v.lower()]}
    try:
        if col.type in readers:
            readers[col.type](value)
    except (ValueError, KeyError, InvalidOperation):
        return f"{value!r} is not a valid {col.type}"
    if col.accepted and value not in col.accepted:
        return f"{value!r} is not one of {', '.join(col.accepted)}"
    return None


def _column(f: _File, source: str, col: Column, spec: Any, key: str, tz: str | None,
            ) -> ColumnMap:
    if isinstance(spec, str):
        spec = {"column": spec}
    spec = dict(f.table(spec, key, COLUMN_KEYS)) if spec is not None else {}
    if isinstance(spec.get("value"), bool):
        spec["value"] = str(spec["value"]).lower()
    got = {k: f.text(v, f"{key}.{k}") for k, v in spec.items() if v is not None}
    origins = [k for k in ("column", "value", "sql") if k in got]
    if len(origins) > 1:
        raise f.fail(key, f"both {origins[0]} and {origins[1]}",
                     "give one of column, value or sql")
    if "sql" in got and source != "sales":
        raise f.fail(f"{key}.sql", f"sql expressions are for the Postgres source, not {source}",
                     "use column, value, default or format")
    if "value" in got and "default" in got:
        raise f.fail(f"{key}.default", "a constant has no default", "drop default or value")
    for k in ("value", "default"):
        problem = _constant_problem(col, got[k]) if k in got else None
        if problem:
            raise f.fail(f"{key}.{k}", problem, f"give a {col.type} value for {col.name}")
    if "format" in got:
        if col.type not in ("date", "timestamptz"):
            raise f.fail(f"{key}.format", f"{col.name} is a {col.type}, not a date or timestamp",
                         "drop format")
        if "column" not in got and "sql" not in got and origins:
            raise f.fail(f"{key}.format", "a constant has no format", "drop format")
        problem = times.format_problem(got["format"], col.type)
        if problem:
            raise f.fail(f"{key}.format", problem,
                         "write a strptime format such as %d.%m.%Y %H:%M")
        if source == "sales" and col.name == "updated_at":
            raise f.fail(f"{key}.format", "the change column is compared in the source query",
                         "convert it with sql: (e.g. to_timestamp(t.col, 'DD.MM.YYYY HH24:MI'))")
    zone_name = got.get("timezone")
    if zone_name is not None:
        if col.type != "timestamptz":
            raise f.fail(f"{key}.timezone", f"{col.name} is a {col.type}, not a timestamp",
                         "drop timezone")
        if times.zone(zone_name) is None:
            raise f.fail(f"{key}.timezone", f"unknown time zone {zone_name!r}",
                         "use an IANA name such as Europe/Berlin or UTC")
    elif tz is not None and col.type == "timestamptz" and "value" not in got:
        zone_name = tz
    if not origins:
        got["column"] = col.name
    return ColumnMap(key=key, column=got.get("column"), value=got.get("value"),
                     default=got.get("default"), sql=got.get("sql"), format=got.get("format"),
                     timezone=zone_name)


def _zone(f: _File, spec: dict, key: str, inherited: str | None) -> str | None:
    if "timezone" not in spec:
        return inherited
    name = f.text(spec["timezone"], f"{key}.timezone")
    if times.zone(name) is None:
        raise f.fail(f"{key}.timezone", f"unknown time zone {name!r}",
                     "use an IANA name such as Europe/Berlin or UTC")
    return name


def _dialect(f: _File, spec: Any, key: str, inherited: Dialect) -> Dialect:
    if spec is None:
        return inherited
    got = {k: f.text(v, f"{key}.{k}") for k, v in f.table(spec, key, CSV_KEYS).items()}
    for k in ("delimiter", "quote"):
        if k in got and len(got[k]) != 1:
            raise f.fail(f"{key}.{k}", f"{got[k]!r} is not one character",
                         f"give the {k} as one character (e.g. ';')")
    if "encoding" in got:
        try:
            codecs.lookup(got["encoding"])
        except LookupError:
            raise f.fail(f"{key}.encoding", f"unknown encoding {got['encoding']!r}",
                         "use a Python codec name such as utf-8, latin-1 or cp1252") from None
    return Dialect(**{**inherited.__dict__, **got})


def _entity(f: _File, entity: Entity, spec: Any, key: str, tz: str | None,
            dialect: Dialect) -> EntityMap:
    source = entity.source
    spec = f.table(spec, key, ENTITY_KEYS[source])
    tz = _zone(f, spec, key, tz)
    if source == "billing":
        dialect = _dialect(f, spec.get("csv"), f"{key}.csv", dialect)
    where_key = WHERE[source]
    where = f.text(spec[where_key], f"{key}.{where_key}") if spec.get(where_key) else None
    columns_spec = f.table(spec.get("columns"), f"{key}.columns", tuple(entity.column_names))
    columns = {c.name: _column(f, source, c, columns_spec.get(c.name),
                               f"{key}.columns.{c.name}", tz) for c in entity.columns}
    default_where = {"sales": entity.name, "billing": f"{entity.name}_*",
                     "service": f"api/v1/{entity.name}"}[source]
    return EntityMap(entity, key, where or default_where, columns, dialect)


SECRETS = {"dsn": "dsn_env", "token": "token_env", "password": "dsn_env"}


def _source(f: _File, name: str, spec: Any, key: str) -> SourceMap:
    for secret, named in SECRETS.items():
        if isinstance(spec, dict) and secret in spec:
            raise f.fail(f"{key}.{secret}", "a secret does not belong in the mapping file",
                         f"put it in an environment variable and name that with {named}")
    spec = f.table(spec, key, SOURCE_KEYS[name])
    options = {k: spec[k] for k in SOURCE_KEYS[name] if k not in ("entities", "timezone", "csv")
               and spec.get(k) is not None}
    for k, v in options.items():
        if k == "manifest":
            if not isinstance(v, bool):
                raise f.fail(f"{key}.manifest", f"expected true or false, got {v!r}",
                             "write manifest: true or manifest: false")
        else:
            options[k] = f.text(v, f"{key}.{k}")
    if "folder" in options and "folder_env" in options:
        raise f.fail(key, "both folder and folder_env", "give one of them")
    if "url" in options and "url_env" in options:
        raise f.fail(key, "both url and url_env", "give one of them")
    tz = _zone(f, spec, key, None)
    dialect = _dialect(f, spec.get("csv"), f"{key}.csv", Dialect())
    names = [e.name for e in entities_of(name)]
    listed = f.table(spec.get("entities"), f"{key}.entities", tuple(names))
    entities = {e.name: _entity(f, e, listed.get(e.name), f"{key}.entities.{e.name}", tz,
                                dialect) for e in entities_of(name)}
    return SourceMap(name, key, f.path, entities, options)


def parse(path: Path, text: str) -> dict[str, SourceMap]:
    """The sources a mapping file's text lists, checked (no source is touched)."""
    f = _File(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise f.fail("(file)", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                     "fix the YAML syntax") from None
    doc = f.table(doc, "(file)", ("sources",))
    sources = f.table(doc.get("sources"), "sources", tuple(SOURCE_KEYS))
    return {name: _source(f, name, spec, f"sources.{name}") for name, spec in sources.items()}


def read(path: Path) -> dict[str, SourceMap]:
    """The sources the mapping file at ``path`` lists (read again only once it changed)."""
    try:
        stat = path.stat()
        return _read(path, stat.st_mtime_ns, stat.st_size)
    except (OSError, UnicodeDecodeError) as exc:
        raise CrmwhError(f"{path}: cannot read the mapping file: {exc}",
                         "fix the file or point CRM_SOURCES_FILE at another one") from None


@functools.lru_cache(maxsize=8)
def _read(path: Path, mtime_ns: int, size: int) -> dict[str, SourceMap]:
    return parse(path, path.read_text(encoding="utf-8"))


def load(cfg: Settings) -> Mapping:
    """The mapping in force: the file ``CRM_SOURCES_FILE`` (default ``$CRM_HOME/sources.yml``)
    when it exists, with the default mapping (the simulators) for the sources it does not list."""
    default = read(DEFAULT_FILE)
    if not cfg.sources_file.exists():
        return Mapping(DEFAULT_FILE, (), default)
    own = read(cfg.sources_file)
    return Mapping(cfg.sources_file, tuple(own), {**default, **own})


def default_entity(entity: Entity) -> EntityMap:
    """How the default mapping (the simulators) reads ``entity``."""
    return read(DEFAULT_FILE)[entity.source].entities[entity.name]
