"""Data-quality gate for landed raw batches (Great Expectations 1.x).

Importing this package is cheap; Great Expectations is imported only when a
batch is validated. See :mod:`crmwh.quality.gate` (validating a batch),
:mod:`crmwh.quality.verdict` (passing or rejecting it) and
:mod:`crmwh.quality.suites` (the reviewed expectation suites).
"""

from crmwh.quality.gate import validate_batch
from crmwh.quality.results import Failure, GateResult
from crmwh.quality.suites import load_suite_json, suite_path, suite_problems
from crmwh.quality.verdict import enforce

__all__ = [
    "Failure",
    "GateResult",
    "enforce",
    "load_suite_json",
    "suite_path",
    "suite_problems",
    "validate_batch",
]
