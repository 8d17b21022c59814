"""The source contract page, ``docs/source_contract.md``, generated from the code.

What each source must deliver comes from :mod:`crmwh.source_entities` (columns, types,
required, key, references), what each column means from the dbt sources' descriptions, what
is built from each entity from the dbt lineage (a manifest from ``dbt parse``), and what the
gate checks from the entity's suite in ``expectations/``. ``crmwh contract`` writes the page;
a unit test fails when the committed page differs from :func:`render`.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmwh import airflow_env
from crmwh.extract import billing, service
from crmwh.extract.registry import EXTRACTORS
from crmwh.quality.suites import SEVERITIES, load_suite_json
from crmwh.settings import PROJECT_ROOT, Settings
from crmwh.source_entities import ENTITIES, META_COLUMNS, PG_TYPES, Column, Entity

PAGE = PROJECT_ROOT / "docs" / "source_contract.md"

# How a source hands over one entity ({name}: the entity, {updated}: its change column).
DELIVERY = {
    "sales": "table `{name}` in the sales database (`CRM_SALES_DSN`): the rows whose "
             "`{updated}` lies between the last watermark minus the look-back "
             "(`CRM_SALES_LOOKBACK_MINUTES`) and the end of the as-of date",
    "billing": "files in the dated drop folders under `CRM_BILLING_DIR` (`YYYY-MM-DD/`), each "
               "listed in its folder's `manifest.json` with `\"entity\": \"{name}\"`, its "
               "`name`, `sha256` and `format` (" + " or ".join(f"`{f}`" for f in billing.PARSERS)
               + "); every file is loaded once",
    "service": "`GET /api/v1/{name}?updated_since=…&updated_before=…&limit="
               f"{service.PAGE_SIZE}&cursor=…` on `CRM_SERVICE_URL` (bearer "
               "`CRM_SERVICE_TOKEN`), pages of `{{\"data\": [rows], \"next_cursor\": …}}`; "
               "the watermark follows `{updated}`",
}

# The dbt layers shown as an entity's downstream, in page order (a model's first folder).
LAYERS = ("staging", "snapshots", "intermediate", "core", "quality", "marts")
BUILT = ("model", "snapshot")  # the manifest nodes that are tables or views


@dataclass(frozen=True)
class Lineage:
    """The dbt nodes built from one source entity, by layer, and the core tables (else any
    model after staging) whose SQL names each contract column or what staging makes of it."""

    by_layer: dict[str, list[str]]
    column_users: dict[str, list[str]]
    unread: frozenset[str]  # contract columns the staging model does not read


# --- reading SQL ------------------------------------------------------------------------

_COMMENTS = re.compile(r"\{#.*?#\}|--[^\n]*|/\*.*?\*/", re.S)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\(|\)|,|\bselect\b|\bfrom\b", re.I)
_ALIASED = re.compile(r"(.*)\bas\s+(\w+)\s*$", re.I | re.S)


def _code(sql: str) -> str:
    return _COMMENTS.sub(" ", sql)


def _names(text: str, names: Iterable[str]) -> bool:
    """Whether ``text`` names any of ``names`` as a whole word."""
    return any(re.search(rf"\b{re.escape(n)}\b", text, re.I) for n in names)


def select_items(sql: str) -> list[tuple[str, str]]:
    """(expression, output name) of every item of every ``select ... from`` in ``sql``
    (``*`` left out), split at the commas outside parentheses and strings."""
    code = _code(sql)
    items: list[tuple[str, str]] = []
    depth, start, in_select = 0, 0, []  # in_select: the depths of the open selects
    for token in _TOKENS.finditer(code):
        word = token.group().lower()
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif word == "select":
            in_select.append(depth)
            start = token.end()
        elif in_select and in_select[-1] == depth and word in (",", "from"):
            items.append(_item(code[start:token.start()]))
            start = token.end()
            if word == "from":
                in_select.pop()
    return [i for i in items if i[1] != "*"]


def _item(text: str) -> tuple[str, str]:
    text = text.strip()
    aliased = _ALIASED.match(text)
    if aliased:
        return aliased.group(1).strip(), aliased.group(2)
    return text, text.rsplit(".", 1)[-1]


def staging_outputs(sql: str, column: str) -> set[str]:
    """The output names a staging model derives from source ``column`` (its own name when
    passed on), following the model's CTEs; empty when the model does not read it."""
    items = select_items(sql)
    names, grew = {column}, True
    while grew:
        grew = False
        for expr, alias in items:
            if alias not in names and _names(expr, names):
                names.add(alias)
                grew = True
    return {alias for expr, alias in items if alias in names and _names(expr, names)}


# --- the manifest -----------------------------------------------------------------------

def _layer(node: dict[str, Any]) -> str:
    parts = Path(node["original_file_path"]).parts
    return parts[1] if parts[0] == "models" else parts[0]


def _downstream(manifest: dict[str, Any], start: str) -> list[dict[str, Any]]:
    """Every model and snapshot built from node ``start``, breadth first."""
    seen, queue, found = {start}, [start], []
    while queue:
        for child in sorted(manifest["child_map"].get(queue.pop(0), ())):
            node = manifest["nodes"].get(child)
            if child in seen or node is None or node["resource_type"] not in BUILT:
                continue
            seen.add(child)
            queue.append(child)
            found.append(node)
    return found


def source_node(manifest: dict[str, Any], entity: Entity) -> dict[str, Any]:
    project = manifest["metadata"]["project_name"]
    return manifest["sources"][f"source.{project}.{entity.source}.{entity.name}"]


def lineage(manifest: dict[str, Any], entity: Entity) -> Lineage:
    nodes = _downstream(manifest, source_node(manifest, entity)["unique_id"])
    by_layer = {layer: sorted(n["name"] for n in nodes if _layer(n) == layer)
                for layer in LAYERS}
    staging = [n for n in nodes if _layer(n) == "staging"]
    later = [n for n in nodes if _layer(n) not in ("staging", "marts")]
    users, unread = {}, set()
    for col in entity.column_names:
        outputs = set().union(*(staging_outputs(n["raw_code"], col) for n in staging))
        if not outputs:
            unread.add(col)
        naming = [n for n in later if _names(_code(n["raw_code"]), outputs)] if outputs else []
        core = [n for n in naming if _layer(n) == "core"]
        users[col] = sorted(n["name"] for n in core or naming)
    return Lineage(by_layer, users, frozenset(unread))


# --- the gate ---------------------------------------------------------------------------

def _in_set(values: list[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def describe_check(exp: dict[str, Any], derived: dict[str, Any]) -> str:
    """One expectation in a few words."""
    kind, kw, meta = exp["type"], exp["kwargs"], exp.get("meta") or {}
    col = f"`{kw.get('column')}`"
    if meta.get("check") == "referential":
        spec = derived[kw["column"]]
        text = f"`{spec['column']}` → `{spec['references']}`"
        if meta.get("severity") == "blocking":  # the share is a setting the gate fills in
            rows = f" in batches of {meta['min_rows']}+ rows" if "min_rows" in meta else ""
            text += f" (at most `CRM_ORPHAN_REJECT_SHARE` unknown{rows}; orphans park)"
        return text
    if kind == "expect_column_values_to_not_be_null":
        return f"{col} not null"
    if kind == "expect_column_values_to_be_unique":
        return f"{col} unique"
    if kind == "expect_column_values_to_be_in_set":
        return f"{col} in {_in_set(kw['value_set'])}"
    if kind == "expect_column_values_to_match_regex":
        return f"{col} matches `{kw['regex']}`"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        return f"`{kw['column_A']}` {'≥' if kw.get('or_equal') else '>'} `{kw['column_B']}`"
    if kind == "expect_table_columns_to_match_set":
        return "every contract column present"
    if kind == "expect_column_values_to_be_between":
        return f"{col} {_bounds(kw)}"
    return f"{kind.removeprefix('expect_').replace('_', ' ')} {col}"


def _bounds(kw: dict[str, Any]) -> str:
    low, high = kw.get("min_value"), kw.get("max_value")
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}"
    if low is None and high is None:
        return "within bounds"
    return f"≥ {low:g}" if low is not None else f"≤ {high:g}"


def describe_profile(exp: dict[str, Any]) -> str:
    """A batch-level check (volume or freshness) in a few words."""
    meta = exp.get("meta") or {}
    volume = meta.get("volume")
    if volume:
        return (f"volume: rows for the as-of date between ×{volume['drop_below']:g} and "
                f"×{volume['spike_above']:g} the median of the last "
                f"{volume['history_batches']} dates")
    return f"freshness: newest change at most {meta['max_age_hours']:g} h old"


def gate_summary(suite: dict[str, Any]) -> dict[str, list[str]]:
    """The suite's checks by severity (``blocking``, ``warning``), each in a few words: the
    column set, the not-null columns together, the other checks, then volume and freshness."""
    derived = suite.get("derived_columns") or {}
    table, not_null, rest = ({s: [] for s in SEVERITIES} for _ in range(3))
    for exp in suite["expectations"]:
        severity = exp["meta"]["severity"]
        if exp["type"] == "expect_column_values_to_not_be_null":
            not_null[severity].append(f"`{exp['kwargs']['column']}`")
        elif exp["type"] == "expect_table_columns_to_match_set":
            table[severity].append(describe_check(exp, derived))
        else:
            rest[severity].append(describe_check(exp, derived))
    for exp in suite.get("profile_expectations") or []:
        rest[exp["meta"]["severity"]].append(describe_profile(exp))
    return {s: [*table[s], *([f"not null: {', '.join(not_null[s])}"] if not_null[s] else []),
                *rest[s]] for s in SEVERITIES}


# --- the page ---------------------------------------------------------------------------

def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _type_cell(entity: Entity, col: Column) -> str:
    parts = [f"`{PG_TYPES[col.type]}`"]
    if col.accepted:
        parts.append(f"one of {_in_set(col.accepted)}")
    if col.min_value is not None:
        parts.append(f"≥ {col.min_value:g}")
    if col.name in entity.references:
        parts.append(f"→ `{entity.source}__{entity.references[col.name]}`")
    return "<br>".join(parts)


def _required_cell(entity: Entity, col: Column) -> str:
    required = "**yes**" if col.required else "no"
    return f"{required} (key)" if col.name == entity.key else required


def _used_cell(entity: Entity, col: str, found: Lineage) -> str:
    if col in found.unread:
        return "**not read** by staging"
    if found.column_users[col]:
        return ", ".join(f"`{m}`" for m in found.column_users[col])
    if col in (entity.key, entity.updated_column):
        return "staging (the latest version of each key)"
    return "**not used** after staging"


def column_table(entity: Entity, descriptions: dict[str, Any], found: Lineage) -> list[str]:
    lines = ["| column | type | required | meaning | used by |", "|---|---|---|---|---|"]
    for col in entity.columns:
        meaning = (descriptions.get(col.name) or {}).get("description", "").strip()
        lines.append(f"| `{col.name}` | {_type_cell(entity, col)} | "
                     f"{_required_cell(entity, col)} | "
                     f"{_cell(meaning) if meaning else '*(no description yet)*'} | "
                     f"{_used_cell(entity, col.name, found)} |")
    return lines


def _models(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def entity_section(manifest: dict[str, Any], entity: Entity) -> list[str]:
    source = source_node(manifest, entity)
    found = lineage(manifest, entity)
    gate = gate_summary(load_suite_json(entity))
    delivery = DELIVERY[entity.source].format(name=entity.name, updated=entity.updated_column)
    layers = found.by_layer
    return [
        f"### {entity.table}", "",
        _cell(source["description"]), "",
        f"Lands in `{entity.qualified}`. Key `{entity.key}`; changes by "
        f"`{entity.updated_column}`. Delivered as {delivery}.", "",
        *column_table(entity, source["columns"], found), "",
        f"- **Staging:** {_models(layers['staging'] + layers['snapshots'])}",
        f"- **Core tables that need it:** {_models(layers['core'])}",
        f"- **Marts that need it:** {_models(layers['marts'])}",
        f"- **Also through:** intermediate {_models(layers['intermediate'])}; "
        f"quality checks {_models(layers['quality'])}",
        f"- **Gate, blocking** (stops the run): {'; '.join(gate['blocking']) or 'none'}",
        f"- **Gate, warnings** (recorded only): {'; '.join(gate['warning']) or 'none'}",
        "",
    ]


def _extraction(source: str) -> str:
    """The first paragraph of the source's extractor module docstring."""
    module = inspect.getmodule(EXTRACTORS[source].extract)
    first = (inspect.getdoc(module) or "").split("\n\n")[0]
    return f"{_cell(first).replace('``', '`')} (`{module.__name__}`)"


INTRO = """\
# Source contract

*Generated by `crmwh contract` from `include/crmwh/source_entities.py`, the column
descriptions in `dbt_project/models/staging/<source>/_<source>__sources.yml`, the dbt lineage
and the suites in `expectations/`. Do not edit it by hand: a test fails when it is out of
date.*

Point the warehouse at your own systems and each of them must deliver the entities below:
under the names below, or under its own, mapped onto them by one YAML file
([own_data_mapping.md](own_data_mapping.md); `crmwh sources check` checks it).

**What a source must provide**

- Every entity of its section, delivered the way the section says.
- In every row, a value in each **required** column; optional columns may be missing or
  empty (they land as NULL).
- Values that read as the column's type; codes from the listed values; numbers not below
  the listed minimum; references to rows of the referenced entity.
- The key unique within a delivery, and the time of the row's last change in its change
  column (`updated_at`): the latest version of a key wins, and the freshness check reads it.
- Fields the contract does not list are kept in `_extra` (jsonb), never dropped.

**When it does not**

- A delivery without a required column at all stops the load: the source's schema changed.
- A row missing a required value, or with a value that does not read as its type or is below
  its minimum, goes to `quarantine.rows` with the reason; the other rows land.
- Each landed batch then runs its Great Expectations suite: a **blocking** failure stops the
  nightly run before `core` and `marts` change; **warnings** are recorded in `audit.dq_results`.

The warehouse adds to every raw row {meta}; a source does not send them.

**How to read an entity**

- *type*: the column's type in `raw`; *one of*: the accepted values; *≥*: the minimum;
  *→*: the entity and key it references.
- *required*: **yes** = present and non-empty in every row; *(key)*: the source's own key.
- *meaning*: the column's description in the dbt sources.
- *used by*: the core tables (else the later models) whose SQL names the column or what its
  staging model turns it into. Found by name, so read it as a guide; **not used** = no model
  after staging names it (the key and the change column serve staging's choice of the
  latest version), **not read** = its staging model ignores it.
- Below each table: the dbt models built from the entity (the CLV and churn fits read core
  outside dbt; their marts show through their dbt inputs), and the gate's checks.
"""


def render(manifest: dict[str, Any], entities: Iterable[Entity] = ENTITIES) -> str:
    """The page, from a dbt manifest (``dbt parse``) and the code."""
    entities = list(entities)
    sources = list(dict.fromkeys(e.source for e in entities))
    meta = ", ".join(f"`{name}`" for name, _ in META_COLUMNS)
    lines = [INTRO.format(meta=meta), "**Contents**", ""]
    for source in sources:
        links = ", ".join(f"[{e.name}](#{e.table})" for e in entities if e.source == source)
        lines.append(f"- [{source}](#{source}): {links}")
    for source in sources:
        first = next(e for e in entities if e.source == source)
        lines += ["", f"## {source}", "",
                  _cell(source_node(manifest, first)["source_description"]), "",
                  f"**Extraction:** {_extraction(source)}", ""]
        for entity in (e for e in entities if e.source == source):
            lines += entity_section(manifest, entity)
    return "\n".join(lines).rstrip() + "\n"


def generate(cfg: Settings, out: Path = PAGE) -> Path:
    """Write the page from the project's dbt manifest (parsed when the project changed)."""
    manifest = json.loads(airflow_env.dbt_manifest(cfg).read_text(encoding="utf-8"))
    out.write_text(render(manifest), encoding="utf-8")
    return out
