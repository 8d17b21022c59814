"""Extractors: each speaks to its source as it would to the real system.

Every extractor returns an :class:`Extraction`: the delivered rows in the
cheapest form its source allows (a typed COPY stream, CSV bodies, JSON lines or
pages, as delivered), the records it could not even split into fields (with a
reason), and the watermark or files it consumed. Scratch tables (:mod:`.scratch`) and
typing (:mod:`.typed`) put them into the warehouse session; checks, quarantine
and landing are the loader's job (:mod:`crmwh.load`).
"""

from crmwh.extract.base import Extraction, Reject

__all__ = ["Extraction", "Reject"]
