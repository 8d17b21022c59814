"""Timestamps as the simulated systems write them: ISO text, fast (NumPy, not strftime)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def iso(values: pd.Series | np.ndarray, unit: str = "s", suffix: str = "",
        shift_hours: int = 0, sep: str = "T") -> np.ndarray:
    """``YYYY-MM-DDTHH:MM:SS`` + ``suffix`` per value (``unit="D"``: ``YYYY-MM-DD``), moved
    by ``shift_hours``, ``sep`` between date and time; None where the value is missing."""
    times = np.asarray(values).astype("datetime64[s]")
    if shift_hours:
        times = times + np.timedelta64(shift_hours, "h")
    text = np.datetime_as_string(times, unit=unit)
    if sep != "T":
        text = np.strings.replace(text, "T", sep)
    text = text.astype(object)
    if suffix:
        text = text + suffix
    text[np.isnat(times)] = None
    return text
