"""Extractors: each speaks to its source as it would to the real system.

Every extractor returns an :class:`Extraction`: the delivered rows as strings
(one column per delivered field, plus ``_source_ref``), the rows it could not
even parse (with a reason), and the watermark or files it consumed. Validation,
hashing, quarantine and landing are the loader's job (:mod:`crmwh.load`).
"""

from crmwh.extract.base import Extraction, Reject

__all__ = ["Extraction", "Reject"]
