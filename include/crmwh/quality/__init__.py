"""Data-quality gate for landed raw batches (Great Expectations 1.x).

Importing this package is cheap; Great Expectations is imported only when a
batch is validated. See :mod:`crmwh.quality.gate` and :mod:`crmwh.quality.suites`.
"""

from crmwh.quality.gate import (
    Failure,
    GateResult,
    enforce,
    run_gate,
    validate_batch,
)
from crmwh.quality.suites import load_suite_json, suite_path, suite_problems

__all__ = [
    "Failure",
    "GateResult",
    "enforce",
    "load_suite_json",
    "run_gate",
    "suite_path",
    "suite_problems",
    "validate_batch",
]
