"""Great Expectations results as one line of text each: what was observed, what expected."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_VALUES_SHOWN = 5
MAX_TEXT = 500


def observed(exp: dict[str, Any], d: dict[str, Any], key_values, key: str) -> str:
    """What a row expectation's result ``d`` observed, with sample values and keys."""
    error = _exception_message(d.get("exception_info"))
    if error:
        return f"error: {error}"
    res = d.get("result") or {}
    if "unexpected_count" in res:
        n = res["unexpected_count"]
        pct = res.get("unexpected_percent")
        text = f"{n} unexpected"
        if n and pct is not None:
            text += f" ({pct:.2f}%)"
        if not n:
            return text
        if exp["type"] != "expect_column_values_to_not_be_null":
            text += f" {_values(res)}"
        column = exp["kwargs"].get("column")
        if key_values is not None and column != key:
            keys = _keys_at(key_values, res.get("partial_unexpected_index_list") or [])
            if keys:
                text += f" at {key} {keys}"
        return text
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        return ", ".join(f"{k} {v}" for k, v in mismatched.items())
    if "observed_value" in res:
        value = res["observed_value"]
        if isinstance(value, list):
            return (
                f"{len(value)} columns"
                if exp["type"].startswith("expect_table_col")
                else str(value)
            )
        return f"observed {value}"
    return "no details" if d.get("success") else "failed without details"


def observed_reference(d: dict[str, Any], values, spec: dict[str, str]) -> str:
    """What a referential (derived column) expectation observed: orphans and their keys."""
    error = _exception_message(d.get("exception_info"))
    if error:
        return f"error: {error}"
    res = d.get("result") or {}
    n = res.get("unexpected_count") or 0
    if not n:
        return "0 orphans"
    text = f"{n} orphans ({res.get('unexpected_percent', 0):.2f}%)"
    shown = list(dict.fromkeys(_keys_at(values, res.get("partial_unexpected_index_list") or [])))
    if shown:
        text += f" {spec['column']} {shown} not in {spec['references']}"
    return text


def profile_value(profile_df, column: str) -> str:
    """A profile column's value, for the observed text of a profile expectation."""
    value = profile_df[column].iloc[0]
    if value is None or (hasattr(value, "__class__") and str(value) in ("NaT", "<NA>")):
        return f"{column} none (nothing landed yet)"
    return f"{column} {value}"


def expected(kwargs: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v}" if isinstance(v, str | datetime) else f"{k}={v!r}"
        for k, v in kwargs.items()
        if k != "batch_id"
    )


def short(text: str) -> str:
    text = " ".join(str(text).split())  # one line
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _values(res: dict[str, Any]) -> str:
    counts = res.get("partial_unexpected_counts")
    if counts:
        values = [c.get("value") for c in counts]
    else:
        seen = {repr(v): v for v in res.get("partial_unexpected_list") or []}
        values = list(seen.values())
    shown = [_clip(v) for v in values[:MAX_VALUES_SHOWN]]
    more = ", ..." if len(values) > MAX_VALUES_SHOWN else ""
    return "[" + ", ".join(shown) + more + "]"


def _clip(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_clip(v) for v in value) + ")"
    if isinstance(value, str):
        value = str(value).removesuffix(".000000")  # np.str_ -> str; whole-second timestamps
    elif hasattr(value, "item"):
        value = value.item()  # numpy scalar -> Python
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _keys_at(key_values, index_list: list[Any]) -> list[Any]:
    keys = []
    for idx in index_list[:MAX_VALUES_SHOWN]:
        try:
            value = key_values.loc[idx]
        except (KeyError, TypeError, ValueError):
            return []
        keys.append(value.item() if hasattr(value, "item") else value)
    return keys


def _exception_message(info: Any) -> str | None:
    """GX reports errors either flat or keyed by metric; return the first message."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception") and info.get("exception_message"):
        return _first_line(info["exception_message"])
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return _first_line(value["exception_message"])
    return None


def _first_line(message: Any) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"
