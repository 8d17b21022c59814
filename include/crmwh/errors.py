"""Errors a user can act on: one line naming the problem and the fix."""

from __future__ import annotations


class CrmwhError(Exception):
    """A problem the user can fix. ``str()`` is the one line the CLI prints."""

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} — {fix}" if fix else problem)


class QualityGateFailed(CrmwhError):
    """A blocking data-quality check failed; the run must stop before dbt."""


class InsufficientData(CrmwhError):  # noqa: N818 - reads as "the data is insufficient"
    """Too little history to fit a model (too few repeat buyers, no training snapshot, too
    few churns): the nightly step records the fit as skipped instead of failing the run."""
